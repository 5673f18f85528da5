using System.Text.Json;
using System.Text.Json.Serialization;

namespace UQEngine.Evaluation.Metrics;

/// <summary>Settings of <see cref="MetricSuite.Evaluate"/>.</summary>
public sealed record MetricSuiteOptions
{
    /// <summary>The defaults.</summary>
    public static MetricSuiteOptions Default { get; } = new();

    /// <summary>Bootstrap settings shared by every interval (default: 1000 resamples, 95%).</summary>
    public BootstrapOptions Bootstrap { get; init; } = BootstrapOptions.Default;

    /// <summary>Bins for ECE, MCE and the reliability diagrams (default 15).</summary>
    public int CalibrationBins { get; init; } = CalibrationMetrics.DefaultBins;

    /// <summary>Coverages at which selective accuracy is reported, each in (0, 1].</summary>
    public IReadOnlyList<double> Coverages { get; init; } = [0.5, 0.8, 0.9, 0.95];
}

/// <summary>The bootstrap settings a summary was computed with.</summary>
public sealed record BootstrapSettings(int Resamples, int Seed, double ConfidenceLevel);

/// <summary>Ranking metrics. All higher-is-better.</summary>
/// <param name="AurocErrorDetection">AUROC, errors as positives ranked by uncertainty (0.5 = random).</param>
/// <param name="AuprcErrorDetection">Average precision, errors as positives ranked by uncertainty (baseline = error rate).</param>
/// <param name="AurocCorrectness">AUROC, correct answers as positives ranked by <paramref name="CorrectnessScore"/>.</param>
/// <param name="AuprcCorrectness">Average precision, correct answers as positives (baseline = accuracy).</param>
/// <param name="CorrectnessScore">"confidence" when confidences were given, else "negated_uncertainty".</param>
public sealed record RankingSummary(
    BootstrapInterval AurocErrorDetection,
    BootstrapInterval AuprcErrorDetection,
    BootstrapInterval AurocCorrectness,
    BootstrapInterval AuprcCorrectness,
    string CorrectnessScore);

/// <summary>Selective accuracy at one coverage (higher is better).</summary>
public sealed record CoverageAccuracy(double Coverage, BootstrapInterval Accuracy);

/// <summary>Selective-prediction metrics (see <see cref="SelectivePredictionSet"/>).</summary>
/// <param name="QualitySource">"correctness" (binary) or "quality" (the graded quality given).</param>
/// <param name="Aurc">Area under the risk–coverage curve; lower is better.</param>
/// <param name="ExcessAurc">AURC − oracle AURC; lower is better, 0 = optimal.</param>
/// <param name="OracleAurc">The best AURC possible for these labels (reference, not a score of the method).</param>
/// <param name="Prr">Prediction rejection ratio; higher is better (1 = oracle, 0 = random).</param>
/// <param name="SelectiveAccuracy">Accuracy (or mean quality) of the most certain items at each coverage; higher is better.</param>
public sealed record SelectiveSummary(
    string QualitySource,
    BootstrapInterval Aurc,
    BootstrapInterval ExcessAurc,
    BootstrapInterval OracleAurc,
    BootstrapInterval Prr,
    IReadOnlyList<CoverageAccuracy> SelectiveAccuracy);

/// <summary>Calibration metrics of the confidences; all lower-is-better.</summary>
public sealed record CalibrationSummary(
    int Bins,
    BootstrapInterval EceEqualWidth,
    BootstrapInterval EceEqualMass,
    BootstrapInterval MceEqualWidth,
    BootstrapInterval Brier,
    BootstrapInterval Nll,
    ReliabilityDiagram ReliabilityEqualWidth,
    ReliabilityDiagram ReliabilityEqualMass);

/// <summary>
/// Everything <see cref="MetricSuite.Evaluate"/> computes, each metric with a bootstrap interval. Serializes to JSON
/// without NaN: undefined metrics are <c>null</c> with a <c>reason</c> beside them.
/// </summary>
/// <param name="Count">Items evaluated.</param>
/// <param name="CorrectCount">Items labelled correct.</param>
/// <param name="Accuracy">CorrectCount / Count.</param>
/// <param name="Bootstrap">The bootstrap settings.</param>
/// <param name="Ranking">AUROC / AUPRC in both conventions.</param>
/// <param name="Selective">AURC, E-AURC, PRR, selective accuracy.</param>
/// <param name="Calibration">Null when no confidences were given.</param>
public sealed record EvaluationSummary(
    int Count,
    int CorrectCount,
    MetricValue Accuracy,
    BootstrapSettings Bootstrap,
    RankingSummary Ranking,
    SelectiveSummary Selective,
    CalibrationSummary? Calibration)
{
    /// <summary>snake_case names, indented, enums as strings; MetricValue writes number or null.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>The summary as JSON (see <see cref="JsonOptions"/>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>Computes every metric of this namespace, with bootstrap intervals, from per-item arrays.</summary>
public static class MetricSuite
{
    /// <summary>
    /// Evaluates one uncertainty method.
    /// </summary>
    /// <param name="uncertainty">Per-item uncertainty (higher = less certain); NaN is rejected.</param>
    /// <param name="correct">Per-item binary correctness: used by the ranking and calibration metrics.</param>
    /// <param name="confidence">Optional per-item confidence in [0, 1]: enables calibration metrics and is the
    /// score of the "correct as positives" ranking convention (otherwise −uncertainty is used). Empty = not given
    /// (so with no items there is no calibration block).</param>
    /// <param name="quality">Optional graded quality in [0, 1]: when given, the selective metrics (AURC, E-AURC,
    /// PRR, selective accuracy) use it instead of <paramref name="correct"/>.</param>
    /// <param name="options">Settings; <see cref="MetricSuiteOptions.Default"/> when null.</param>
    /// <remarks>All intervals use the same resamples (one draw per resample), so they are paired.</remarks>
    public static EvaluationSummary Evaluate(
        ReadOnlySpan<double> uncertainty,
        ReadOnlySpan<bool> correct,
        ReadOnlySpan<double> confidence = default,
        ReadOnlySpan<double> quality = default,
        MetricSuiteOptions? options = null) =>
        EvaluateCore(uncertainty, correct, confidence, hasConfidence: !confidence.IsEmpty, quality, options);

    private static EvaluationSummary EvaluateCore(
        ReadOnlySpan<double> uncertainty,
        ReadOnlySpan<bool> correct,
        ReadOnlySpan<double> confidence,
        bool hasConfidence,
        ReadOnlySpan<double> quality = default,
        MetricSuiteOptions? options = null)
    {
        options ??= MetricSuiteOptions.Default;
        options.Bootstrap.Validate();
        Guard.Bins(options.CalibrationBins);
        foreach (double c in options.Coverages)
            if (!(c > 0 && c <= 1)) throw new ArgumentOutOfRangeException(nameof(options), c, "Every coverage must lie in (0, 1].");

        int n = uncertainty.Length;
        Guard.SameLength(n, correct.Length, nameof(correct));
        if (hasConfidence)
        {
            Guard.SameLength(n, confidence.Length, nameof(confidence));
            Guard.UnitInterval(confidence, nameof(confidence));
        }
        bool hasQuality = !quality.IsEmpty;
        if (hasQuality) Guard.SameLength(n, quality.Length, nameof(quality));

        bool[] labels = correct.ToArray();
        int correctCount = 0;
        foreach (bool c in labels) if (c) correctCount++;

        // Sort once; every resample is then O(n) per metric.
        var byUncertainty = ScoreOrder.Ascending(uncertainty);
        double[] correctnessScore;
        if (hasConfidence) correctnessScore = confidence.ToArray();
        else
        {
            correctnessScore = new double[n];
            for (int i = 0; i < n; i++) correctnessScore[i] = -uncertainty[i];
        }
        var byCorrectnessScore = ScoreOrder.Ascending(correctnessScore);
        var selective = hasQuality ? new SelectivePredictionSet(uncertainty, quality) : new SelectivePredictionSet(uncertainty, labels);

        const int FirstCoverage = 8;
        var metrics = new List<ResampledMetric>
        {
            s => RankingMetrics.Auroc(byUncertainty, labels, false, s.Counts),
            s => RankingMetrics.AveragePrecision(byUncertainty, labels, false, s.Counts),
            s => RankingMetrics.Auroc(byCorrectnessScore, labels, true, s.Counts),
            s => RankingMetrics.AveragePrecision(byCorrectnessScore, labels, true, s.Counts),
            s => selective.Aurc(s.Counts),
            s => selective.ExcessAurc(s.Counts),
            s => selective.OracleAurc(s.Counts),
            s => selective.PredictionRejectionRatio(s.Counts),
        };
        foreach (double c in options.Coverages) metrics.Add(s => selective.SelectiveAccuracy(c, s.Counts));
        int calibrationStart = metrics.Count;
        int bins = options.CalibrationBins;
        if (hasConfidence)
        {
            double[] conf = correctnessScore;
            metrics.Add(s => CalibrationMetrics.ExpectedCalibrationError(conf, labels, BinningScheme.EqualWidth, bins, null, s.Counts));
            metrics.Add(s => CalibrationMetrics.ExpectedCalibrationError(conf, labels, BinningScheme.EqualMass, bins, byCorrectnessScore, s.Counts));
            metrics.Add(s => CalibrationMetrics.MaximumCalibrationError(conf, labels, BinningScheme.EqualWidth, bins, null, s.Counts));
            metrics.Add(s => CalibrationMetrics.BrierScore(conf, labels, s.Counts));
            metrics.Add(s => CalibrationMetrics.NegativeLogLikelihood(conf, labels, s.Counts));
        }

        var r = Bootstrap.Intervals(n, metrics.ToArray(), options.Bootstrap);

        var coverages = new List<CoverageAccuracy>(options.Coverages.Count);
        for (int k = 0; k < options.Coverages.Count; k++) coverages.Add(new CoverageAccuracy(options.Coverages[k], r[FirstCoverage + k]));

        CalibrationSummary? calibration = null;
        if (hasConfidence)
        {
            int b = calibrationStart;
            calibration = new CalibrationSummary(bins, r[b], r[b + 1], r[b + 2], r[b + 3], r[b + 4],
                ReliabilityDiagram.Create(correctnessScore, labels, BinningScheme.EqualWidth, bins),
                ReliabilityDiagram.Create(correctnessScore, labels, BinningScheme.EqualMass, bins, byCorrectnessScore, default));
        }

        return new EvaluationSummary(
            n,
            correctCount,
            n == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined((double)correctCount / n),
            new BootstrapSettings(options.Bootstrap.Resamples, options.Bootstrap.Seed, options.Bootstrap.ConfidenceLevel),
            new RankingSummary(r[0], r[1], r[2], r[3], hasConfidence ? "confidence" : "negated_uncertainty"),
            new SelectiveSummary(hasQuality ? "quality" : "correctness", r[4], r[5], r[6], r[7], coverages),
            calibration);
    }
}
