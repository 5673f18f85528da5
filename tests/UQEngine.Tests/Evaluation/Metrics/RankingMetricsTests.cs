using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class RankingMetricsTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Auroc_with_a_tie_uses_midranks()
    {
        // u       = 0.1  0.4  0.4  0.8  0.9
        // correct =  T    T    F    F    T      → errors (positives) at u = 0.4, 0.8; correct (negatives) at 0.1, 0.4, 0.9.
        // Pairs (error vs correct): 0.4 beats 0.1 (1), ties 0.4 (½), loses to 0.9 (0); 0.8 beats 0.1 and 0.4 (2), loses to 0.9.
        // U = 1 + ½ + 0 + 1 + 1 + 0 = 3.5 over 2·3 = 6 pairs → 0.583333…
        // Midranks: 0.1→1, 0.4→2.5, 0.4→2.5, 0.8→4, 0.9→5; R₊ = 2.5 + 4 = 6.5; U = 6.5 − 2·3/2 = 3.5. Same.
        double[] u = [0.1, 0.4, 0.4, 0.8, 0.9];
        bool[] correct = [true, true, false, false, true];
        Assert.Equal(3.5 / 6, RankingMetrics.AurocErrorDetection(u, correct).Value, Tol);
    }

    [Fact]
    public void Both_conventions_on_a_hand_example_with_a_tie()
    {
        // u       = 0.9 0.8 0.4 0.4 0.1   (confidence c = 1 − u = 0.1 0.2 0.6 0.6 0.9)
        // correct =  F   T   F   T   T
        double[] u = [0.9, 0.8, 0.4, 0.4, 0.1];
        double[] c = [0.1, 0.2, 0.6, 0.6, 0.9];
        bool[] correct = [false, true, false, true, true];

        // Errors by u: errors at 0.9, 0.4; correct at 0.8, 0.4, 0.1.
        // 0.9 beats all three (3); 0.4 loses to 0.8, ties 0.4 (½), beats 0.1 (1) → 1.5. AUROC = 4.5/6 = 0.75.
        Assert.Equal(0.75, RankingMetrics.AurocErrorDetection(u, correct).Value, Tol);
        // AP, descending u: {0.9: error} tp=1 fp=0 P=1, recall +½ → 0.5;
        // {0.8: correct} tp=1 fp=1; {0.4: error+correct, flagged together} tp=2 fp=2 P=½, recall +½ → 0.25; {0.1}.
        // AP = 0.75 (grouped). Breaking the tie error-first would give 0.5 + ½·⅔ = 0.8333, correct-first 0.75;
        // their mean 0.7917 is NOT the grouped convention.
        Assert.Equal(0.75, RankingMetrics.AuprcErrorDetection(u, correct).Value, Tol);

        // Correct by c: correct at 0.2, 0.6, 0.9; errors at 0.1, 0.6.
        // 0.2: beats 0.1 (1); 0.6: beats 0.1, ties 0.6 (1.5); 0.9: beats both (2). AUROC = 4.5/6 = 0.75 (symmetry).
        Assert.Equal(0.75, RankingMetrics.AurocCorrectness(c, correct).Value, Tol);
        // AP, descending c: {0.9: correct} tp=1 fp=0 P=1, recall +⅓ → ⅓; {0.6: correct+error} tp=2 fp=1 P=⅔ → ⅓·⅔ = 2/9;
        // {0.2: correct} tp=3 fp=1 P=¾ → ¼; {0.1: error}. AP = 12/36 + 8/36 + 9/36 = 29/36.
        Assert.Equal(29.0 / 36, RankingMetrics.AuprcCorrectness(c, correct).Value, Tol);
    }

    [Fact]
    public void Perfect_and_inverted_rankings_give_one_and_zero()
    {
        double[] u = [0.1, 0.2, 0.3, 0.7, 0.8];
        bool[] correct = [true, true, true, false, false];
        Assert.Equal(1.0, RankingMetrics.AurocErrorDetection(u, correct).Value);
        Assert.Equal(1.0, RankingMetrics.AuprcErrorDetection(u, correct).Value);
        bool[] inverted = [false, false, true, true, true];
        Assert.Equal(0.0, RankingMetrics.AurocErrorDetection(u, inverted).Value);
        // Inverted AP: errors at the two lowest u. Descending: 3 correct first, then error at 0.2 (P = 1/4), error at 0.1 (P = 2/5).
        // AP = ½·¼ + ½·⅖ = 0.125 + 0.2 = 0.325.
        Assert.Equal(0.325, RankingMetrics.AuprcErrorDetection(u, inverted).Value, Tol);
    }

    [Fact]
    public void A_constant_score_gives_one_half_and_the_positive_rate()
    {
        double[] u = [1, 1, 1, 1, 1];
        bool[] correct = [true, false, true, true, false];
        Assert.Equal(0.5, RankingMetrics.AurocErrorDetection(u, correct).Value);
        Assert.Equal(0.4, RankingMetrics.AuprcErrorDetection(u, correct).Value, Tol); // all flagged at once: P = 2/5
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void One_class_only_is_undefined_with_a_reason(bool label)
    {
        double[] u = [0.3, 0.1, 0.2];
        bool[] correct = [label, label, label];
        foreach (var m in new[]
                 {
                     RankingMetrics.AurocErrorDetection(u, correct), RankingMetrics.AuprcErrorDetection(u, correct),
                     RankingMetrics.AurocCorrectness(u, correct), RankingMetrics.AuprcCorrectness(u, correct),
                 })
        {
            Assert.False(m.IsDefined);
            Assert.Equal("undefined (one class only)", m.ToString());
        }
    }

    [Fact]
    public void Empty_input_is_undefined_no_items()
    {
        Assert.Equal(UndefinedReasons.NoItems, RankingMetrics.Auroc([], []).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, RankingMetrics.AveragePrecision([], []).UndefinedReason);
    }

    [Fact]
    public void Random_scores_give_auroc_near_one_half()
    {
        var rng = new Random(7);
        int n = 20000;
        var u = new double[n];
        var correct = new bool[n];
        for (int i = 0; i < n; i++) { u[i] = rng.NextDouble(); correct[i] = rng.NextDouble() < 0.7; }
        // SE ≈ sqrt((n₊ + n₋ + 1) / (12 n₊ n₋)) ≈ 0.0045, so ±0.02 is > 4 SE.
        Assert.InRange(RankingMetrics.AurocErrorDetection(u, correct).Value, 0.48, 0.52);
        // AP of a random ranking ≈ the positive rate (0.3 errors).
        Assert.InRange(RankingMetrics.AuprcErrorDetection(u, correct).Value, 0.28, 0.32);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Matches_brute_force_pair_counting_and_threshold_sweep_with_many_ties(int seed)
    {
        var rng = new Random(seed);
        int n = 257;
        var s = new double[n];
        var positive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            s[i] = Math.Round(rng.NextDouble() * 10) / 10; // 11 distinct values: heavy ties
            positive[i] = rng.NextDouble() < 0.2 + 0.6 * s[i];
        }
        Assert.Equal(Synthetic.BruteForceAuroc(s, positive), RankingMetrics.Auroc(s, positive).Value, 1e-12);
        Assert.Equal(Synthetic.BruteForceAveragePrecision(s, positive), RankingMetrics.AveragePrecision(s, positive).Value, 1e-12);
    }

    [Fact]
    public void Auroc_of_errors_by_u_equals_auroc_of_correct_by_minus_u()
    {
        var (u, correct) = Synthetic.Informative(500, 11);
        double[] minusU = u.Select(x => -x).ToArray();
        Assert.Equal(RankingMetrics.AurocErrorDetection(u, correct).Value, RankingMetrics.AurocCorrectness(minusU, correct).Value, 1e-12);
        Assert.True(RankingMetrics.AurocErrorDetection(u, correct).Value > 0.6); // informative by construction
    }

    [Fact]
    public void Result_does_not_depend_on_input_order()
    {
        double[] u = [0.9, 0.8, 0.4, 0.4, 0.1, 0.4];
        bool[] correct = [false, true, false, true, true, true];
        int[] perm = [3, 5, 0, 2, 4, 1];
        double[] u2 = perm.Select(i => u[i]).ToArray();
        bool[] c2 = perm.Select(i => correct[i]).ToArray();
        Assert.Equal(RankingMetrics.AurocErrorDetection(u, correct), RankingMetrics.AurocErrorDetection(u2, c2));
        Assert.Equal(RankingMetrics.AuprcErrorDetection(u, correct), RankingMetrics.AuprcErrorDetection(u2, c2));
    }

    [Fact]
    public void Rejects_NaN_scores_and_mismatched_lengths()
    {
        Assert.Throws<ArgumentException>(() => RankingMetrics.AurocErrorDetection([0.1, double.NaN], [true, false]));
        Assert.Throws<ArgumentException>(() => RankingMetrics.AurocErrorDetection([0.1, 0.2], [true]));
    }

    [Fact]
    public void Score_order_groups_ties_and_is_canonical()
    {
        var order = ScoreOrder.Ascending([0.5, -0.0, 0.5, 0.0, 2]);
        Assert.Equal([1, 3, 0, 2, 4], order.Order.ToArray());
        Assert.Equal([2, 4, 5], order.GroupEnds.ToArray());
        Assert.Equal([0, 2], order.Group(1).ToArray());
    }
}
