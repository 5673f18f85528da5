using UQEngine.Evaluation.Metrics;
namespace UQEngine.Evaluation.Calibration;

/// <summary>
/// A post-hoc calibrator: fitted on a calibration split (scores and whether each answer was correct), then applied to
/// the scores of a test split to give calibrated confidences P(correct | score) ∈ [0, 1]. Evaluate the result with
/// <see cref="CalibrationMetrics"/> on the test split only; fitting and evaluating on the same items overstates
/// calibration.
/// </summary>
/// <remarks>
/// What a "score" is depends on the calibrator: a logit for <see cref="TemperatureScaling"/>; any real score that
/// increases with confidence for <see cref="PlattScaling"/> (which also learns the sign), <see cref="HistogramBinning"/>
/// and <see cref="IsotonicRegression"/> (monotone non-decreasing). To calibrate an uncertainty u, pass −u.
/// Fitting again replaces the previous fit. Apply before Fit throws <see cref="InvalidOperationException"/>.
/// </remarks>
public interface ICalibrator
{
    /// <summary>A short name for reports ("temperature", "platt", "histogram", "isotonic").</summary>
    string Name { get; }

    /// <summary>True once <see cref="Fit"/> has succeeded.</summary>
    bool IsFitted { get; }

    /// <summary>Fits on the calibration split. Scores must be finite; there must be at least one item.</summary>
    void Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels);

    /// <summary>The calibrated confidence of one score.</summary>
    double Apply(double score);

    /// <summary>The calibrated confidence of each score, written to <paramref name="destination"/> (same length or longer).</summary>
    void Apply(ReadOnlySpan<double> scores, Span<double> destination);
}

/// <summary>Conveniences over <see cref="ICalibrator"/>.</summary>
public static class CalibratorExtensions
{
    /// <summary>The calibrated confidences of <paramref name="scores"/> as a new array.</summary>
    public static double[] Apply(this ICalibrator calibrator, ReadOnlySpan<double> scores)
    {
        ArgumentNullException.ThrowIfNull(calibrator);
        var result = new double[scores.Length];
        calibrator.Apply(scores, result);
        return result;
    }

    /// <summary>Fits on the calibration split and returns the calibrated confidences of the test split.</summary>
    public static double[] FitAndApply(this ICalibrator calibrator, ReadOnlySpan<double> calibrationScores,
        ReadOnlySpan<bool> calibrationLabels, ReadOnlySpan<double> testScores)
    {
        ArgumentNullException.ThrowIfNull(calibrator);
        calibrator.Fit(calibrationScores, calibrationLabels);
        return calibrator.Apply(testScores);
    }
}

/// <summary>Numerically stable logistic helpers used by the calibrators.</summary>
public static class CalibrationMath
{
    /// <summary>
    /// The log-odds ln(p / (1 − p)) of a probability, with p clipped to [1e−12, 1 − 1e−12] (as in
    /// <see cref="CalibrationMetrics.NegativeLogLikelihood(ReadOnlySpan{double}, ReadOnlySpan{bool})"/>) so 0 and 1 map
    /// to about ∓27.6 instead of infinities. The input <see cref="TemperatureScaling"/> expects from a confidence.
    /// </summary>
    public static double Logit(double probability)
    {
        if (!(probability >= 0 && probability <= 1)) throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability must lie in [0, 1].");
        double p = Math.Clamp(probability, CalibrationMetrics.ProbabilityClip, 1 - CalibrationMetrics.ProbabilityClip);
        return Math.Log(p / (1 - p));
    }

    /// <summary>ln(1 + e^x) without overflow.</summary>
    internal static double Softplus(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));

    /// <summary>Binary cross-entropy of logit z against target t ∈ [0, 1]: softplus(z) − t·z.</summary>
    internal static double LogLoss(double z, double target) => Softplus(z) - target * z;

    internal static void CheckFit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        Guard.SameLength(scores.Length, labels.Length, nameof(labels));
        if (scores.IsEmpty) throw new ArgumentException("At least one calibration item is needed.", nameof(scores));
        Guard.Finite(scores, nameof(scores));
    }

    internal static void CheckApply(double score)
    {
        if (double.IsNaN(score)) throw new ArgumentException("The score is NaN.", nameof(score));
    }

    internal static void CheckDestination(ReadOnlySpan<double> scores, Span<double> destination)
    {
        if (destination.Length < scores.Length) throw new ArgumentException("Destination is shorter than the scores.", nameof(destination));
    }
}
