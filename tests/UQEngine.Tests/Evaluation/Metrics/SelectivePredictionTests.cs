using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class SelectivePredictionTests
{
    private const double Tol = 1e-12;

    // u       = 0.1 0.2 0.2 0.5
    // correct =  T   F   T   F     → loss 0 1 0 1; the two items at u = 0.2 are tied.
    private static readonly double[] U = [0.1, 0.2, 0.2, 0.5];
    private static readonly bool[] Y = [true, false, true, false];

    [Fact]
    public void Risk_coverage_curve_averages_tied_groups_by_hand()
    {
        // k=1: {0.1} loss 0 → 0
        // k=2: one of the tied pair, expected loss ½ → (0 + ½)/2 = ¼
        // k=3: both tied items → (0 + 1)/3 = ⅓
        // k=4: all → 2/4 = ½
        var curve = SelectivePrediction.RiskCoverageCurve(U, Y);
        Assert.Equal([0.25, 0.5, 0.75, 1.0], curve.Coverage);
        double[] expected = [0, 0.25, 1.0 / 3, 0.5];
        for (int k = 0; k < 4; k++) Assert.Equal(expected[k], curve.Risk[k], Tol);
        // AURC = (0 + ¼ + ⅓ + ½)/4 = (13/12)/4 = 13/48. (Tie broken error-first: sum 4/3; correct-first: 5/6; mean 13/12.)
        Assert.Equal(13.0 / 48, curve.Aurc.Value, Tol);
        Assert.Equal(13.0 / 48, SelectivePrediction.Aurc(U, Y).Value, Tol);
    }

    [Fact]
    public void Oracle_excess_aurc_and_prr_by_hand()
    {
        var set = new SelectivePredictionSet(U, Y);
        // Oracle order: losses 0 0 1 1 → risks 0, 0, ⅓, ½ → AURC* = (5/6)/4 = 10/48.
        Assert.Equal(10.0 / 48, set.OracleAurc().Value, Tol);
        // E-AURC = 13/48 − 10/48 = 3/48 = 1/16.
        Assert.Equal(1.0 / 16, set.ExcessAurc().Value, Tol);
        Assert.Equal(1.0 / 16, SelectivePrediction.ExcessAurc(U, Y).Value, Tol);
        // Random AURC = mean loss = ½ = 24/48. PRR = (24 − 13)/(24 − 10) = 11/14.
        Assert.Equal(0.5, set.RandomAurc().Value, Tol);
        Assert.Equal(11.0 / 14, set.PredictionRejectionRatio().Value, Tol);
        Assert.Equal(11.0 / 14, SelectivePrediction.PredictionRejectionRatio(U, Y).Value, Tol);
    }

    [Theory]
    [InlineData(0.25, 1.0)]        // k = 1: {0.1} correct
    [InlineData(0.5, 0.75)]        // k = 2: 1 − ¼
    [InlineData(0.6, 2.0 / 3)]     // k = ⌈2.4⌉ = 3: 1 − ⅓
    [InlineData(0.75, 2.0 / 3)]    // k = 3
    [InlineData(0.76, 0.5)]        // k = ⌈3.04⌉ = 4
    [InlineData(1.0, 0.5)]         // everything: plain accuracy
    [InlineData(0.01, 1.0)]        // at least one item
    public void Selective_accuracy_at_coverage_by_hand(double coverage, double accuracy) =>
        Assert.Equal(accuracy, SelectivePrediction.SelectiveAccuracy(U, Y, coverage).Value, Tol);

    [Fact]
    public void Rounding_in_coverage_times_n_does_not_add_an_item()
    {
        // 0.07 × 100 = 7.000000000000001 in doubles; k must be 7, not 8. Items 0..6 correct, item 7 wrong.
        double[] u = Enumerable.Range(0, 100).Select(i => (double)i).ToArray();
        bool[] y = u.Select(x => x != 7).ToArray();
        Assert.Equal(1.0, SelectivePrediction.SelectiveAccuracy(u, y, 0.07).Value);
        Assert.Equal(7.0 / 8, SelectivePrediction.SelectiveAccuracy(u, y, 0.08).Value, Tol);
    }

    [Fact]
    public void Prr_with_graded_quality_by_hand()
    {
        // u = 0.1 0.2 0.3 0.4, q = 0.9 0.3 0.6 0.0.
        // Mean quality of the k least uncertain: 0.9, 0.6, 0.6, 0.45 → AUC_unc = 2.55/4 = 0.6375 (AURC = 0.3625).
        // Oracle (q descending 0.9 0.6 0.3 0): 0.9, 0.75, 0.6, 0.45 → AUC_oracle = 2.7/4 = 0.675.
        // AUC_random = mean q = 0.45. PRR = (0.6375 − 0.45)/(0.675 − 0.45) = 0.1875/0.225 = 5/6.
        double[] u = [0.1, 0.2, 0.3, 0.4];
        double[] q = [0.9, 0.3, 0.6, 0.0];
        Assert.Equal(5.0 / 6, SelectivePrediction.PredictionRejectionRatio(u, q).Value, Tol);
        Assert.Equal(0.3625, SelectivePrediction.Aurc(u, q).Value, Tol);
        Assert.Equal(0.3625 - 0.325, SelectivePrediction.ExcessAurc(u, q).Value, Tol);
        // PRR is invariant to a positive affine map of the quality (LM-Polygraph min-max normalises first).
        double[] q2 = q.Select(x => 0.1 + 0.5 * x).ToArray();
        Assert.Equal(5.0 / 6, SelectivePrediction.PredictionRejectionRatio(u, q2).Value, Tol);
    }

    [Fact]
    public void Perfect_ranking_has_zero_excess_and_prr_one_inverted_is_negative()
    {
        double[] u = [0.1, 0.2, 0.3, 0.4, 0.5];
        bool[] perfect = [true, true, true, false, false];
        bool[] inverted = [false, false, true, true, true];
        Assert.Equal(0.0, SelectivePrediction.ExcessAurc(u, perfect).Value, Tol);
        Assert.Equal(1.0, SelectivePrediction.PredictionRejectionRatio(u, perfect).Value, Tol);
        Assert.True(SelectivePrediction.PredictionRejectionRatio(u, inverted).Value < -0.5);
        Assert.True(SelectivePrediction.ExcessAurc(u, inverted).Value > 0.3);
    }

    [Fact]
    public void A_constant_uncertainty_scores_exactly_random()
    {
        double[] u = [3, 3, 3, 3, 3];
        bool[] y = [true, false, true, true, false];
        Assert.Equal(0.4, SelectivePrediction.Aurc(u, y).Value, Tol);          // = mean loss at every k
        Assert.Equal(0.0, SelectivePrediction.PredictionRejectionRatio(u, y).Value, Tol);
        Assert.Equal(0.6, SelectivePrediction.SelectiveAccuracy(u, y, 0.2).Value, Tol);
    }

    [Fact]
    public void Single_class_and_empty_inputs()
    {
        double[] u = [0.2, 0.1, 0.3];
        bool[] allCorrect = [true, true, true];
        Assert.Equal(0.0, SelectivePrediction.Aurc(u, allCorrect).Value);
        Assert.Equal(0.0, SelectivePrediction.ExcessAurc(u, allCorrect).Value);
        Assert.Equal("undefined (one class only)", SelectivePrediction.PredictionRejectionRatio(u, allCorrect).ToString());
        Assert.Equal(1.0, SelectivePrediction.Aurc(u, [false, false, false]).Value);
        Assert.Equal(UndefinedReasons.ConstantQuality, SelectivePrediction.PredictionRejectionRatio(u, [0.4, 0.4, 0.4]).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, SelectivePrediction.Aurc([], Array.Empty<bool>()).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, SelectivePrediction.SelectiveAccuracy([], [], 0.5).UndefinedReason);
        Assert.Empty(SelectivePrediction.RiskCoverageCurve([], Array.Empty<bool>()).Risk);
    }

    [Fact]
    public void Tie_averaging_equals_the_mean_over_every_tie_breaking_order()
    {
        // 7 items in 3 tied groups; enumerate all 7! orders and keep those sorted by u.
        double[] u = [0.5, 0.1, 0.5, 0.9, 0.1, 0.5, 0.9];
        double[] q = [0.2, 1.0, 0.7, 0.0, 0.4, 1.0, 0.5];
        double sumAurc = 0, sumRiskAt3 = 0;
        int orders = 0;
        foreach (var perm in Permutations(7))
        {
            bool sorted = true;
            for (int j = 1; j < 7 && sorted; j++) sorted = u[perm[j - 1]] <= u[perm[j]];
            if (!sorted) continue;
            orders++;
            double cum = 0, area = 0;
            for (int k = 1; k <= 7; k++)
            {
                cum += 1 - q[perm[k - 1]];
                area += cum / k;
                if (k == 3) sumRiskAt3 += cum / 3;
            }
            sumAurc += area / 7;
        }
        Assert.Equal(2 * 6 * 2, orders);
        var set = new SelectivePredictionSet(u, q);
        Assert.Equal(sumAurc / orders, set.Aurc().Value, 1e-12);
        Assert.Equal(sumRiskAt3 / orders, set.SelectiveRisk(3.0 / 7).Value, 1e-12);
    }

    [Fact]
    public void Binary_prr_is_one_minus_normalised_excess_aurc_and_input_order_does_not_matter()
    {
        var (u, y) = Synthetic.Informative(400, 21);
        var set = new SelectivePredictionSet(u, y);
        double expected = 1 - set.ExcessAurc().Value / (set.RandomAurc().Value - set.OracleAurc().Value);
        Assert.Equal(expected, set.PredictionRejectionRatio().Value, 1e-12);
        Assert.InRange(set.PredictionRejectionRatio().Value, 0.2, 0.9); // informative, far from oracle

        int[] perm = Enumerable.Range(0, u.Length).Reverse().ToArray();
        var reversed = new SelectivePredictionSet(perm.Select(i => u[i]).ToArray(), perm.Select(i => y[i]).ToArray());
        Assert.Equal(set.Aurc().Value, reversed.Aurc().Value, 1e-12);
    }

    [Fact]
    public void Coverage_must_be_in_zero_one()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SelectivePrediction.SelectiveAccuracy(U, Y, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SelectivePrediction.SelectiveAccuracy(U, Y, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => SelectivePrediction.Aurc(U, [0.5, 1.2, 0, 0]));
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        var a = Enumerable.Range(0, n).ToArray();
        return Recurse(0);

        IEnumerable<int[]> Recurse(int k)
        {
            if (k == n) { yield return (int[])a.Clone(); yield break; }
            for (int i = k; i < n; i++)
            {
                (a[k], a[i]) = (a[i], a[k]);
                foreach (var p in Recurse(k + 1)) yield return p;
                (a[k], a[i]) = (a[i], a[k]);
            }
        }
    }
}
