using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class CalibrationMetricsTests
{
    private const double Tol = 1e-12;

    // c       = 0.1 0.1 0.5 0.5 0.9 0.9 0.9 0.9
    // correct =  F   F   T   F   T   T   T   F
    private static readonly double[] C = [0.1, 0.1, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9];
    private static readonly bool[] Y = [false, false, true, false, true, true, true, false];

    [Fact]
    public void Ece_and_mce_with_15_equal_width_bins_by_hand()
    {
        // Width 1/15 ≈ 0.0667, bins right-closed (b/15, (b+1)/15].
        // 0.1 → bin 1 (0.0667, 0.1333]: n=2, conf 0.1, acc 0   → gap 0.10
        // 0.5 → bin 7 (0.4667, 0.5333]: n=2, conf 0.5, acc 0.5 → gap 0
        // 0.9 → bin 13 (0.8667, 0.9333]: n=4, conf 0.9, acc 0.75 → gap 0.15
        // ECE = 2/8·0.10 + 2/8·0 + 4/8·0.15 = 0.025 + 0.075 = 0.1; MCE = 0.15.
        Assert.Equal(0.1, CalibrationMetrics.ExpectedCalibrationError(C, Y).Value, Tol);
        Assert.Equal(0.15, CalibrationMetrics.MaximumCalibrationError(C, Y).Value, Tol);

        var diagram = ReliabilityDiagram.Create(C, Y);
        Assert.Equal([1, 7, 13], diagram.Bins.Select(b => b.Index).ToArray());
        Assert.Equal([2, 2, 4], diagram.Bins.Select(b => b.Count).ToArray());
        Assert.Equal([0.0, 0.5, 0.75], diagram.Bins.Select(b => b.Accuracy).ToArray());
        Assert.Equal(0.1, diagram.Bins[0].MeanConfidence, Tol);
        Assert.Equal(1.0 / 15, diagram.Bins[0].Lower);
        Assert.Equal(2.0 / 15, diagram.Bins[0].Upper);
        Assert.Equal(0.1, diagram.ExpectedCalibrationError.Value, Tol);
        Assert.Equal(0.15, diagram.MaximumCalibrationError.Value, Tol);
        Assert.Equal(8, diagram.TotalCount);
    }

    [Fact]
    public void Brier_and_nll_by_hand()
    {
        // Brier: 2·(0.1−0)² + (0.5−1)² + (0.5−0)² + 3·(0.9−1)² + (0.9−0)² = 0.02 + 0.25 + 0.25 + 0.03 + 0.81 = 1.36; /8 = 0.17.
        Assert.Equal(0.17, CalibrationMetrics.BrierScore(C, Y).Value, Tol);
        // NLL: −[2 ln 0.9 + ln 0.5 + ln 0.5 + 3 ln 0.9 + ln 0.1]/8 = −[5 ln 0.9 + 2 ln 0.5 + ln 0.1]/8
        //    = −[−0.526803 − 1.386294 − 2.302585]/8 = 4.215682/8 = 0.526960254…
        Assert.Equal(0.5269602540503835, CalibrationMetrics.NegativeLogLikelihood(C, Y).Value, 1e-12);
    }

    [Fact]
    public void Brier_of_a_constant_one_half_is_one_quarter_and_perfect_is_zero()
    {
        Assert.Equal(0.25, CalibrationMetrics.BrierScore([0.5, 0.5, 0.5], [true, false, true]).Value);
        Assert.Equal(0.0, CalibrationMetrics.BrierScore([1, 0, 1], [true, false, true]).Value);
    }

    [Fact]
    public void Nll_clips_probabilities_at_1e_minus_12()
    {
        // A certain mistake costs −ln(1e−12) = 27.631021… nats, not infinity; a certain hit costs −ln(1 − 1e−12) ≈ 1e−12.
        Assert.Equal(27.631021115928547, CalibrationMetrics.NegativeLogLikelihood([0.0], [true]).Value, 1e-9);
        Assert.Equal(27.631021115928547, CalibrationMetrics.NegativeLogLikelihood([1.0], [false]).Value, 1e-9);
        Assert.InRange(CalibrationMetrics.NegativeLogLikelihood([1.0], [true]).Value, 0, 2e-12);
        // ln 2 for a coin flip.
        Assert.Equal(Math.Log(2), CalibrationMetrics.NegativeLogLikelihood([0.5, 0.5], [true, false]).Value, Tol);
    }

    [Theory]
    [InlineData(0.0, 0)]            // 0 belongs to the first bin
    [InlineData(1.0 / 15, 0)]       // an edge belongs to the bin below it (right-closed)
    [InlineData(1.0 / 15 + 1e-12, 1)]
    [InlineData(0.2, 2)]            // 0.2 = 3/15 is an edge → bin 2
    [InlineData(0.5, 7)]
    [InlineData(14.0 / 15, 13)]
    [InlineData(1.0, 14)]
    public void Equal_width_bin_edges_are_right_closed(double c, int bin) =>
        Assert.Equal(bin, CalibrationMetrics.EqualWidthBin(c, 15));

    [Fact]
    public void Every_edge_b_over_B_lands_in_bin_b_minus_1()
    {
        foreach (int bins in new[] { 3, 7, 10, 15, 20, 100 })
            for (int b = 1; b <= bins; b++)
                Assert.Equal(b - 1, CalibrationMetrics.EqualWidthBin((double)b / bins, bins));
    }

    [Fact]
    public void Equal_mass_bins_keep_ties_together_by_hand()
    {
        // c sorted = 0.2 0.3 0.3 0.3 0.7 0.8, correct = F T F T T T; B = 3 → nominal boundaries before positions 2 and 4.
        // Position 2 is inside the run of 0.3 at [1, 4): nearer end is 1 (distance 1 vs 2) → boundary 1.
        // Position 4 is already a run end. Bins: {0.2} | {0.3, 0.3, 0.3} | {0.7, 0.8}.
        // Bin 0: conf 0.2, acc 0   → gap 0.2
        // Bin 1: conf 0.3, acc 2/3 → gap 0.3667
        // Bin 2: conf 0.75, acc 1  → gap 0.25
        // ECE = 1/6·0.2 + 3/6·(11/30) + 2/6·0.25 = 0.03333 + 0.18333 + 0.08333 = 0.3; MCE = 11/30.
        double[] c = [0.3, 0.8, 0.2, 0.3, 0.7, 0.3];
        bool[] y = [true, true, false, false, true, true];
        var d = ReliabilityDiagram.Create(c, y, BinningScheme.EqualMass, 3);
        Assert.Equal([1, 3, 2], d.Bins.Select(b => b.Count).ToArray());
        Assert.Equal([0, 1, 2], d.Bins.Select(b => b.Index).ToArray());
        Assert.Equal(0.7, d.Bins[2].Lower);
        Assert.Equal(0.8, d.Bins[2].Upper);
        Assert.Equal(0.3, CalibrationMetrics.ExpectedCalibrationError(c, y, BinningScheme.EqualMass, 3).Value, Tol);
        Assert.Equal(11.0 / 30, CalibrationMetrics.MaximumCalibrationError(c, y, BinningScheme.EqualMass, 3).Value, Tol);
    }

    [Fact]
    public void Equal_mass_splits_distinct_values_evenly_and_uses_at_most_n_bins()
    {
        double[] c = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        bool[] y = c.Select((_, i) => i % 2 == 0).ToArray();
        Assert.Equal([2, 2, 2, 2, 2], ReliabilityDiagram.Create(c, y, BinningScheme.EqualMass, 5).Bins.Select(b => b.Count).ToArray());
        // Boundaries before ⌊10/3⌋ = 3 and ⌊20/3⌋ = 6 → 3, 3, 4 items.
        Assert.Equal([3, 3, 4], ReliabilityDiagram.Create(c, y, BinningScheme.EqualMass, 3).Bins.Select(b => b.Count).ToArray());
        // B > n: one bin per item.
        Assert.Equal(3, ReliabilityDiagram.Create([0.1, 0.5, 0.9], [true, false, true], BinningScheme.EqualMass, 15).Bins.Count);
    }

    [Fact]
    public void Equal_mass_is_independent_of_input_order()
    {
        var rng = new Random(5);
        int n = 300;
        var c = new double[n];
        var y = new bool[n];
        for (int i = 0; i < n; i++) { c[i] = Math.Round(rng.NextDouble(), 1); y[i] = rng.NextDouble() < c[i]; }
        int[] perm = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();
        double[] c2 = perm.Select(i => c[i]).ToArray();
        bool[] y2 = perm.Select(i => y[i]).ToArray();
        Assert.Equal(CalibrationMetrics.ExpectedCalibrationError(c, y, BinningScheme.EqualMass),
            CalibrationMetrics.ExpectedCalibrationError(c2, y2, BinningScheme.EqualMass));
    }

    [Theory]
    [InlineData(BinningScheme.EqualWidth)]
    [InlineData(BinningScheme.EqualMass)]
    public void Perfectly_calibrated_synthetic_data_has_ece_near_zero(BinningScheme scheme)
    {
        var rng = new Random(3);
        int n = 200_000;
        var c = new double[n];
        var y = new bool[n];
        var yOver = new bool[n];
        for (int i = 0; i < n; i++)
        {
            c[i] = rng.NextDouble();
            double u = rng.NextDouble();
            y[i] = u < c[i];                 // P(correct | c) = c: calibrated
            yOver[i] = u < c[i] * c[i];      // P(correct | c) = c²: over-confident
        }
        // Sampling noise alone gives ECE ≈ 0.003 here; the threshold is > 3× that.
        Assert.InRange(CalibrationMetrics.ExpectedCalibrationError(c, y, scheme).Value, 0, 0.01);
        // E|c − c²| = 1/6 for uniform c: the metric does detect miscalibration.
        Assert.InRange(CalibrationMetrics.ExpectedCalibrationError(c, yOver, scheme).Value, 0.15, 0.18);
    }

    [Fact]
    public void Single_class_is_defined_and_empty_is_undefined()
    {
        Assert.Equal(0.3, CalibrationMetrics.ExpectedCalibrationError([0.7, 0.7], [true, true]).Value, Tol);
        Assert.True(CalibrationMetrics.BrierScore([0.7], [false]).IsDefined);
        Assert.Equal(UndefinedReasons.NoItems, CalibrationMetrics.ExpectedCalibrationError([], []).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, CalibrationMetrics.MaximumCalibrationError([], [], BinningScheme.EqualMass).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, CalibrationMetrics.BrierScore([], []).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, CalibrationMetrics.NegativeLogLikelihood([], []).UndefinedReason);
        Assert.Empty(ReliabilityDiagram.Create([], []).Bins);
    }

    [Fact]
    public void Confidences_outside_the_unit_interval_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CalibrationMetrics.BrierScore([1.2], [true]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CalibrationMetrics.ExpectedCalibrationError([-0.1], [true]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CalibrationMetrics.NegativeLogLikelihood([double.NaN], [true]));
    }
}
