using UQEngine.Methods.Samples;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Calibration;

namespace UQEngine.Tests.Evaluation.Calibration;

public class CalibratorTests
{
    /// <summary>Logits z ~ N(0, 3²), labels y ~ Bernoulli(σ(z / T0)).</summary>
    private static (double[] Z, bool[] Y) TemperatureData(int n, double t0, int seed)
    {
        var rng = new Random(seed);
        var z = new double[n];
        var y = new bool[n];
        for (int i = 0; i < n; i++)
        {
            z[i] = 3 * Synthetic.Normal(rng);
            y[i] = rng.NextDouble() < Synthetic.Sigmoid(z[i] / t0);
        }
        return (z, y);
    }

    [Theory]
    [InlineData(2.5)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void Temperature_scaling_recovers_a_known_temperature(double t0)
    {
        var (z, y) = TemperatureData(20_000, t0, 17);
        var ts = new TemperatureScaling();
        ts.Fit(z, y);
        // SE of T is ≈ 1.5% of T here; 6% is 4 SE.
        Assert.InRange(ts.Temperature, t0 * 0.94, t0 * 1.06);
        Assert.False(ts.HitBound);
        // The fit is a minimum: nudging T either way raises the NLL.
        Assert.True(TemperatureScaling.MeanNll(z, y, ts.Temperature * 1.01) > ts.FittedNll);
        Assert.True(TemperatureScaling.MeanNll(z, y, ts.Temperature / 1.01) > ts.FittedNll);
    }

    [Fact]
    public void Temperature_scaling_keeps_the_ranking()
    {
        var (z, y) = TemperatureData(2000, 2.0, 3);
        var ts = new TemperatureScaling();
        ts.Fit(z, y);
        double[] raw = z.Select(LogMath.Sigmoid).ToArray();
        double[] calibrated = ts.Apply(z);
        Assert.Equal(RankingMetrics.AurocCorrectness(raw, y).Value, RankingMetrics.AurocCorrectness(calibrated, y).Value, 1e-12);
        // Over-confident raw logits (T0 = 2): calibration lowers NLL.
        Assert.True(CalibrationMetrics.NegativeLogLikelihood(calibrated, y).Value < CalibrationMetrics.NegativeLogLikelihood(raw, y).Value);
    }

    [Fact]
    public void Temperature_scaling_on_separable_data_stops_at_the_lower_bound()
    {
        double[] z = [-2, -1, 1, 2];
        bool[] y = [false, false, true, true];
        var ts = new TemperatureScaling();
        ts.Fit(z, y);
        Assert.True(ts.HitBound);
        Assert.Equal(TemperatureScaling.MinTemperature, ts.Temperature, 1e-6);
    }

    [Fact]
    public void Logit_helper_clips_and_inverts_sigmoid()
    {
        Assert.Equal(0.8, LogMath.Sigmoid(CalibrationMath.Logit(0.8)), 1e-12);
        Assert.Equal(Math.Log(1e12), CalibrationMath.Logit(1.0), 1e-3);
        Assert.Equal(1.0, LogMath.Sigmoid(800));
        Assert.Equal(0.0, LogMath.Sigmoid(-800));
    }

    [Theory]
    [InlineData(1.7, -0.4)]
    [InlineData(-0.8, 1.2)]
    public void Platt_scaling_recovers_known_a_and_b(double a0, double b0)
    {
        var rng = new Random(23);
        int n = 20_000;
        var s = new double[n];
        var y = new bool[n];
        for (int i = 0; i < n; i++)
        {
            s[i] = -3 + 6 * rng.NextDouble();
            y[i] = rng.NextDouble() < Synthetic.Sigmoid(a0 * s[i] + b0);
        }
        var platt = new PlattScaling();
        platt.Fit(s, y);
        Assert.True(platt.Converged);
        Assert.InRange(platt.A, a0 - 0.1, a0 + 0.1);
        Assert.InRange(platt.B, b0 - 0.1, b0 + 0.1);
        Assert.Equal(Synthetic.Sigmoid(platt.A * 0.3 + platt.B), platt.Apply(0.3), 1e-12);
    }

    [Fact]
    public void Platt_scaling_stays_finite_on_separable_and_one_class_data()
    {
        double[] s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        var platt = new PlattScaling();
        platt.Fit(s, [false, false, false, true, true, true]);
        Assert.True(platt.Converged);
        Assert.True(double.IsFinite(platt.A) && double.IsFinite(platt.B));
        Assert.True(platt.A > 0);
        Assert.True(platt.Apply(0.9) > 0.99 && platt.Apply(0.1) < 0.01);
        Assert.Equal(0.5, platt.Apply(0.5), 0.05); // the cut sits between the classes

        platt.Fit(s, [true, true, true, true, true, true]);
        Assert.True(double.IsFinite(platt.A) && double.IsFinite(platt.B));
        Assert.True(platt.Apply(0.5) > 0.99);
    }

    [Fact]
    public void Platt_smoothed_targets_keep_probabilities_off_zero_and_one()
    {
        double[] s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        var platt = new PlattScaling(smoothTargets: true);
        platt.Fit(s, [false, false, false, true, true, true]);
        // Targets are 4/5 and 1/5 (n₊ = n₋ = 3), so the fit cannot go beyond them by much.
        Assert.InRange(platt.Apply(0.9), 0.7, 0.9);
        Assert.InRange(platt.Apply(0.1), 0.1, 0.3);
    }

    [Fact]
    public void Histogram_binning_by_hand()
    {
        // scores 1..6, labels F F T F T T, 3 equal-mass bins: {1,2} {3,4} {5,6} → fractions 0, ½, 1.
        // Cuts at the midpoints (2+3)/2 = 2.5 and (4+5)/2 = 4.5; a score on a cut goes to the lower bin.
        var h = new HistogramBinning(3);
        h.Fit([4, 1, 6, 3, 2, 5], [false, false, true, true, false, true]);
        Assert.Equal([2.5, 4.5], h.Cuts);
        Assert.Equal([0.0, 0.5, 1.0], h.BinValues);
        Assert.Equal(0.0, h.Apply(-10));
        Assert.Equal(0.0, h.Apply(2.5));
        Assert.Equal(0.5, h.Apply(2.6));
        Assert.Equal(0.5, h.Apply(4.5));
        Assert.Equal(1.0, h.Apply(100));
    }

    [Fact]
    public void Isotonic_pav_by_hand()
    {
        // x = 1..5, y = 1 0 1 0 1. PAV: (1, 0) violate → pool ½; next 1 ok; then 0 after 1 → pool ½; ½ ≤ ½ kept; then 1.
        // Fitted: ½ ½ ½ ½ 1. Between x = 4 and 5 the output is linear: f(4.5) = ¾. Outside: clamped.
        var iso = new IsotonicRegression();
        iso.Fit([1.0, 2, 3, 4, 5], [true, false, true, false, true]);
        Assert.Equal([0.5, 0.5, 0.5, 0.5, 1.0], iso.FittedValues);
        Assert.Equal(0.75, iso.Apply(4.5), 1e-12);
        Assert.Equal(0.5, iso.Apply(-3));
        Assert.Equal(1.0, iso.Apply(9));
    }

    [Fact]
    public void Isotonic_pools_tied_scores()
    {
        // x = 1, 2, 2, 3 with y = 0, 1, 0, 1: the tie at 2 pools to ½ first; no violations remain.
        var iso = new IsotonicRegression();
        iso.Fit([2.0, 1, 3, 2], [true, false, true, false]);
        Assert.Equal([1.0, 2, 3], iso.Scores);
        Assert.Equal([0.0, 0.5, 1.0], iso.FittedValues);
    }

    [Fact]
    public void Isotonic_fits_a_step_function_exactly()
    {
        double[] x = Enumerable.Range(0, 100).Select(i => i / 100.0).ToArray();
        bool[] y = x.Select(v => v >= 0.6).ToArray();
        var iso = new IsotonicRegression();
        iso.Fit(x, y);
        for (int i = 0; i < x.Length; i++) Assert.Equal(y[i] ? 1.0 : 0.0, iso.Apply(x[i]));
        Assert.Equal(0.0, iso.Apply(0.3));
        Assert.Equal(1.0, iso.Apply(0.8));
    }

    [Fact]
    public void Isotonic_output_is_monotone_on_noisy_data()
    {
        var rng = new Random(31);
        int n = 3000;
        var s = new double[n];
        var y = new bool[n];
        for (int i = 0; i < n; i++) { s[i] = Synthetic.Normal(rng); y[i] = rng.NextDouble() < Synthetic.Sigmoid(2 * s[i]); }
        var iso = new IsotonicRegression();
        iso.Fit(s, y);
        for (int j = 1; j < iso.FittedValues.Count; j++) Assert.True(iso.FittedValues[j - 1] <= iso.FittedValues[j]);
        double previous = double.NegativeInfinity;
        for (double t = -4; t <= 4; t += 0.01)
        {
            double v = iso.Apply(t);
            Assert.InRange(v, 0, 1);
            Assert.True(v >= previous);
            previous = v;
        }
    }

    public static TheoryData<string> CalibratorNames => ["temperature", "platt", "histogram", "isotonic"];

    [Theory]
    [MemberData(nameof(CalibratorNames))]
    public void Fitting_on_a_calibration_split_lowers_test_ece_of_overconfident_scores(string name)
    {
        ICalibrator calibrator = name switch
        {
            "temperature" => new TemperatureScaling(),
            "platt" => new PlattScaling(),
            "histogram" => new HistogramBinning(),
            _ => new IsotonicRegression(),
        };
        Assert.Equal(name, calibrator.Name);
        Assert.Throws<InvalidOperationException>(() => calibrator.Apply(0.0));

        // The model's logits are 3× too sharp (T0 = 3).
        var (zCal, yCal) = TemperatureData(5000, 3.0, 41);
        var (zTest, yTest) = TemperatureData(5000, 3.0, 42);
        double[] raw = zTest.Select(LogMath.Sigmoid).ToArray();
        double[] calibrated = calibrator.FitAndApply(zCal, yCal, zTest);
        double before = CalibrationMetrics.ExpectedCalibrationError(raw, yTest).Value;
        double after = CalibrationMetrics.ExpectedCalibrationError(calibrated, yTest).Value;
        Assert.True(before > 0.1, $"raw ECE {before}");
        // Histogram binning's 15 steps, each estimated from ~330 items, leave ~0.03 of noise; the others are smooth.
        Assert.True(after < (name == "histogram" ? 0.05 : 0.03), $"{name}: ECE {before:F3} → {after:F3}");
    }

    [Fact]
    public void Fit_validates_its_input()
    {
        Assert.Throws<ArgumentException>(() => new IsotonicRegression().Fit([], Array.Empty<bool>()));
        Assert.Throws<ArgumentException>(() => new PlattScaling().Fit([1.0, double.NaN], [true, false]));
        Assert.Throws<ArgumentException>(() => new TemperatureScaling().Fit([1.0, 2.0], [true]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HistogramBinning(0));
    }
}
