using System.Diagnostics;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class BootstrapTests
{
    private static ResampledMetric AurocOf(double[] u, bool[] y)
    {
        var order = ScoreOrder.Ascending(u);
        return s => RankingMetrics.Auroc(order, y, false, s.Counts);
    }

    [Fact]
    public void Quantile_is_type_7_linear_interpolation()
    {
        double[] v = [1, 2, 3, 4];
        Assert.Equal(1.75, Bootstrap.Quantile(v, 0.25)); // h = 3·0.25 = 0.75 → 1 + 0.75·(2 − 1)
        Assert.Equal(2.5, Bootstrap.Quantile(v, 0.5));
        Assert.Equal(1, Bootstrap.Quantile(v, 0));
        Assert.Equal(4, Bootstrap.Quantile(v, 1));
        Assert.Equal(7, Bootstrap.Quantile([7.0], 0.975));
    }

    [Fact]
    public void Interval_contains_the_estimate_and_is_deterministic_for_a_seed()
    {
        var (u, y) = Synthetic.Informative(500, 1);
        var opts = new BootstrapOptions { Seed = 99 };
        var a = Bootstrap.Interval(u.Length, AurocOf(u, y), opts);
        var b = Bootstrap.Interval(u.Length, AurocOf(u, y), opts);
        Assert.Equal(a, b);
        Assert.Equal(RankingMetrics.AurocErrorDetection(u, y), a.Estimate);
        Assert.InRange(a.Estimate.Value, a.Lower.Value, a.Upper.Value);
        Assert.True(a.Upper.Value - a.Lower.Value > 0.01);
        Assert.Equal(1000, a.ValidResamples);
        Assert.Equal(0, a.SkippedResamples);
        Assert.Null(a.Reason);

        var c = Bootstrap.Interval(u.Length, AurocOf(u, y), opts with { Seed = 100 });
        Assert.NotEqual(a.Lower, c.Lower);
    }

    [Fact]
    public void Interval_shrinks_with_n()
    {
        var (uSmall, ySmall) = Synthetic.Informative(100, 2);
        var (uLarge, yLarge) = Synthetic.Informative(2500, 2);
        var small = Bootstrap.Interval(uSmall.Length, AurocOf(uSmall, ySmall));
        var large = Bootstrap.Interval(uLarge.Length, AurocOf(uLarge, yLarge));
        double wSmall = small.Upper.Value - small.Lower.Value, wLarge = large.Upper.Value - large.Lower.Value;
        // Width ∝ 1/√n: 25× the items → about 1/5 the width.
        Assert.InRange(wLarge / wSmall, 0.1, 0.35);
    }

    [Fact]
    public void Resamples_with_one_class_are_skipped_and_counted()
    {
        // 10 items, 1 error: a resample misses the error with probability 0.9¹⁰ ≈ 0.349.
        double[] u = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        bool[] y = [true, true, true, true, true, true, true, true, true, false];
        var r = Bootstrap.Interval(u.Length, AurocOf(u, y));
        Assert.Equal(1000, r.ValidResamples + r.SkippedResamples);
        Assert.InRange(r.SkippedResamples, 290, 410);
        Assert.Equal(1.0, r.Estimate.Value);
    }

    [Fact]
    public void Undefined_estimate_gives_undefined_bounds_with_reason()
    {
        double[] u = [0.1, 0.2, 0.3];
        bool[] y = [true, true, true];
        var r = Bootstrap.Interval(u.Length, AurocOf(u, y), new BootstrapOptions { Resamples = 200 });
        Assert.False(r.Estimate.IsDefined);
        Assert.False(r.Lower.IsDefined);
        Assert.False(r.Upper.IsDefined);
        Assert.Equal(0, r.ValidResamples);
        Assert.Equal(200, r.SkippedResamples);
        Assert.Equal(UndefinedReasons.OneClassOnly, r.Reason);
        Assert.Equal("undefined (one class only)", r.ToString());
    }

    [Fact]
    public void Zero_items_and_zero_resamples_are_handled()
    {
        var empty = Bootstrap.Interval(0, s => s.Length == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(1));
        Assert.Equal(UndefinedReasons.NoItems, empty.Reason);
        Assert.Equal(0, empty.ValidResamples + empty.SkippedResamples);
        var none = Bootstrap.Interval(5, _ => MetricValue.Defined(2), new BootstrapOptions { Resamples = 0 });
        Assert.Equal(2, none.Estimate.Value);
        Assert.Equal(UndefinedReasons.NoValidResamples, none.Reason);
    }

    [Fact]
    public void Samples_are_consistent_and_shared_across_metrics()
    {
        int n = 37;
        var seen = new List<int[]>();
        Bootstrap.Interval(n, s =>
        {
            int sum = 0;
            foreach (int c in s.Counts) sum += c;
            Assert.Equal(n, sum);
            Assert.Equal(n, s.Indices.Length);
            for (int j = 1; j < n; j++) Assert.True(s.Indices[j - 1] <= s.Indices[j]);
            for (int i = 0; i < n; i++) Assert.Equal(s.Counts[i], s.Indices.ToArray().Count(x => x == i));
            if (!s.IsOriginal) seen.Add(s.Counts.ToArray());
            return MetricValue.Defined(0);
        }, new BootstrapOptions { Resamples = 20 });
        Assert.Equal(20, seen.Count);

        // Intervals() draws the same resamples as separate Interval() calls.
        var (u, y) = Synthetic.Informative(80, 4);
        ResampledMetric mean = s => { double t = 0; foreach (int i in s.Indices) t += u[i]; return MetricValue.Defined(t / s.Length); };
        var both = Bootstrap.Intervals(u.Length, [AurocOf(u, y), mean]);
        Assert.Equal(Bootstrap.Interval(u.Length, AurocOf(u, y)), both[0]);
        Assert.Equal(Bootstrap.Interval(u.Length, mean), both[1]);
    }

    [Fact]
    public void Count_weighted_metrics_equal_the_metrics_of_the_gathered_resample()
    {
        var rng = new Random(8);
        int n = 120;
        var u = new double[n];
        var c = new double[n];
        var q = new double[n];
        var y = new bool[n];
        for (int i = 0; i < n; i++)
        {
            u[i] = Math.Round(rng.NextDouble(), 1); // ties
            c[i] = Math.Round(1 - u[i] * 0.8, 2);
            y[i] = rng.NextDouble() > u[i];
            q[i] = Math.Round(rng.NextDouble(), 1);
        }
        var byU = ScoreOrder.Ascending(u);
        var byC = ScoreOrder.Ascending(c);
        var setY = new SelectivePredictionSet(u, y);
        var setQ = new SelectivePredictionSet(u, q);
        var gu = new double[n];
        var gc = new double[n];
        var gq = new double[n];
        var gy = new bool[n];
        int checkedSamples = 0;
        Bootstrap.Interval(n, s =>
        {
            s.Gather<double>(u, gu);
            s.Gather<double>(c, gc);
            s.Gather<double>(q, gq);
            s.Gather<bool>(y, gy);
            Assert.Equal(RankingMetrics.AurocErrorDetection(gu, gy), RankingMetrics.Auroc(byU, y, false, s.Counts));
            Assert.Equal(RankingMetrics.AuprcErrorDetection(gu, gy).Value, RankingMetrics.AveragePrecision(byU, y, false, s.Counts).Value, 1e-12);
            Assert.Equal(RankingMetrics.AuprcCorrectness(gc, gy).Value, RankingMetrics.AveragePrecision(byC, y, true, s.Counts).Value, 1e-12);
            Assert.Equal(SelectivePrediction.Aurc(gu, gy).Value, setY.Aurc(s.Counts).Value, 1e-12);
            Assert.Equal(SelectivePrediction.ExcessAurc(gu, gq).Value, setQ.ExcessAurc(s.Counts).Value, 1e-12);
            Assert.Equal(SelectivePrediction.PredictionRejectionRatio(gu, gq).Value, setQ.PredictionRejectionRatio(s.Counts).Value, 1e-12);
            Assert.Equal(SelectivePrediction.SelectiveAccuracy(gu, gy, 0.7).Value, setY.SelectiveAccuracy(0.7, s.Counts).Value, 1e-12);
            foreach (var scheme in new[] { BinningScheme.EqualWidth, BinningScheme.EqualMass })
            {
                Assert.Equal(CalibrationMetrics.ExpectedCalibrationError(gc, gy, scheme).Value,
                    CalibrationMetrics.ExpectedCalibrationError(c, y, scheme, 15, byC, s.Counts).Value, 1e-12);
                Assert.Equal(CalibrationMetrics.MaximumCalibrationError(gc, gy, scheme, 7).Value,
                    CalibrationMetrics.MaximumCalibrationError(c, y, scheme, 7, byC, s.Counts).Value, 1e-12);
            }
            Assert.Equal(CalibrationMetrics.BrierScore(gc, gy).Value, CalibrationMetrics.BrierScore(c, y, s.Counts).Value, 1e-12);
            Assert.Equal(CalibrationMetrics.NegativeLogLikelihood(gc, gy).Value, CalibrationMetrics.NegativeLogLikelihood(c, y, s.Counts).Value, 1e-12);
            checkedSamples++;
            return MetricValue.Defined(0);
        }, new BootstrapOptions { Resamples = 40 });
        Assert.Equal(41, checkedSamples);
    }

    [Fact]
    public void Thousand_resamples_of_auroc_on_thousand_items_take_well_under_a_second()
    {
        var (u, y) = Synthetic.Informative(1000, 6);
        Bootstrap.Interval(u.Length, AurocOf(u, y), new BootstrapOptions { Resamples = 20 }); // warm up the JIT
        var sw = Stopwatch.StartNew();
        var r = Bootstrap.Interval(u.Length, AurocOf(u, y));
        sw.Stop();
        Assert.Equal(1000, r.ValidResamples);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"took {sw.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Bootstrap.Interval(3, _ => default, new BootstrapOptions { Resamples = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Bootstrap.Interval(3, _ => default, new BootstrapOptions { ConfidenceLevel = 1 }));
    }
}
