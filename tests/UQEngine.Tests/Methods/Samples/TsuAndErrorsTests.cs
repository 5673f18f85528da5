using UQEngine.Methods.Samples;

namespace UQEngine.Tests.Methods.Samples;

public class TsuAndErrorsTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Tsu_mean_spearman_and_monotone_share()
    {
        // τ = (0.5, 1, 1.5), temperature ranks (1, 2, 3).
        // item 1: u = (1, 2, 3) → ρ = 1, rising.
        // item 2: u = (3, 2, 1) → ρ = −1.
        // item 3: u = (1, 3, 2) → ranks (1, 3, 2), Σd² = 0 + 1 + 1 = 2 → ρ = 1 − 6·2/(3·(9 − 1)) = ½; not rising.
        // item 4: constant → ρ undefined (excluded from the mean), not rising.
        // mean ρ = (1 − 1 + ½)/3 = 1/6; monotone share = 1/4.
        double[] t = [0.5, 1, 1.5];
        double[][] u = [[1, 2, 3], [3, 2, 1], [1, 3, 2], [2, 2, 2]];
        var r = TemperatureSensitivity.Compute(t, u);
        Assert.Equal(1.0 / 6, r.MeanSpearman!.Value, Tol);
        Assert.Equal(0.25, r.FractionMonotone, Tol);
        Assert.Equal(3, r.ItemsWithCorrelation);
        Assert.Equal(4, r.Items);
    }

    [Fact]
    public void Tsu_ties_use_average_ranks_and_tolerance_guards_monotone()
    {
        // u = (1, 1, 2): ranks (1.5, 1.5, 3), mean 2. dx = (−1, 0, 1), dy = (−.5, −.5, 1).
        // Σdxdy = .5 + 0 + 1 = 1.5; Σdx² = 2; Σdy² = .25 + .25 + 1 = 1.5 → ρ = 1.5/√3 = √3/2.
        var r = TemperatureSensitivity.Compute([0.2, 0.7, 1.0], [[1, 1, 2]]);
        Assert.Equal(Math.Sqrt(3) / 2, r.MeanSpearman!.Value, Tol);
        Assert.Equal(0, r.FractionMonotone);
        // Steps of 0.1 rise, but not by more than 0.5.
        Assert.Equal(1, TemperatureSensitivity.Compute([1, 2], [[0, 0.1]]).FractionMonotone);
        Assert.Equal(0, TemperatureSensitivity.Compute([1, 2], [[0, 0.1]], tolerance: 0.5).FractionMonotone);
        // Only constant items: no correlation, reported as null rather than NaN.
        Assert.Null(TemperatureSensitivity.Compute([1, 2], [[3, 3]]).MeanSpearman);
        var byMethod = TemperatureSensitivity.Compute([1, 2], new Dictionary<string, IReadOnlyList<double[]>> { ["se"] = [[0, 1]], ["msp"] = [[1, 0]] });
        Assert.Equal(1, byMethod["se"].MeanSpearman);
        Assert.Equal(-1, byMethod["msp"].MeanSpearman);
        Assert.Throws<ArgumentException>(() => TemperatureSensitivity.Compute([1, 1], [[0, 1]]));
    }

    [Fact]
    public void Confident_errors_at_threshold_and_quantile()
    {
        // u = (.1, .2, .3, .4, .5), correct = (T, F, T, F, F). Threshold .25 → confident {0 (T), 1 (F)} → 1 confident error.
        double[] u = [0.1, 0.2, 0.3, 0.4, 0.5];
        bool[] ok = [true, false, true, false, false];
        var c = ConfidentErrors.Count(u, ok, 0.25);
        Assert.Equal(new ConfidentErrorCount(1, 2, 3, 5, 0.25), c);
        Assert.Equal(1.0 / 3, c.RateOfErrors, Tol);
        Assert.Equal(0.5, c.RateOfConfident, Tol);
        // q = .4: h = 4·.4 = 1.6 → .2 + .6·(.3 − .2) = .26 → same confident set.
        var q = ConfidentErrors.CountAtQuantile(u, ok, 0.4);
        Assert.Equal(0.26, q.Threshold, Tol);
        Assert.Equal(1, q.Count);
        Assert.Equal(0, ConfidentErrors.CountAtQuantile([], [], 0.5).Count);
    }
}
