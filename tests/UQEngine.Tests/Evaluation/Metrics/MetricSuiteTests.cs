using System.Text.Json;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class MetricSuiteTests
{
    private static readonly MetricSuiteOptions Fast = new() { Bootstrap = new BootstrapOptions { Resamples = 200, Seed = 5 } };

    [Fact]
    public void Point_estimates_match_the_individual_metrics()
    {
        var (u, y) = Synthetic.Informative(600, 9);
        double[] c = u.Select(x => 1 / (1 + Math.Exp(x))).ToArray();
        var s = MetricSuite.Evaluate(u, y, c, options: Fast);

        Assert.Equal(600, s.Count);
        Assert.Equal(y.Count(b => b), s.CorrectCount);
        Assert.Equal(RankingMetrics.AurocErrorDetection(u, y), s.Ranking.AurocErrorDetection.Estimate);
        Assert.Equal(RankingMetrics.AuprcErrorDetection(u, y), s.Ranking.AuprcErrorDetection.Estimate);
        Assert.Equal(RankingMetrics.AurocCorrectness(c, y), s.Ranking.AurocCorrectness.Estimate);
        Assert.Equal(RankingMetrics.AuprcCorrectness(c, y), s.Ranking.AuprcCorrectness.Estimate);
        Assert.Equal("confidence", s.Ranking.CorrectnessScore);
        Assert.Equal(SelectivePrediction.Aurc(u, y), s.Selective.Aurc.Estimate);
        Assert.Equal(SelectivePrediction.ExcessAurc(u, y), s.Selective.ExcessAurc.Estimate);
        Assert.Equal(SelectivePrediction.PredictionRejectionRatio(u, y), s.Selective.Prr.Estimate);
        Assert.Equal(SelectivePrediction.SelectiveAccuracy(u, y, 0.8), s.Selective.SelectiveAccuracy[1].Estimate());
        Assert.NotNull(s.Calibration);
        Assert.Equal(CalibrationMetrics.ExpectedCalibrationError(c, y), s.Calibration.EceEqualWidth.Estimate);
        Assert.Equal(CalibrationMetrics.ExpectedCalibrationError(c, y, BinningScheme.EqualMass), s.Calibration.EceEqualMass.Estimate);
        Assert.Equal(CalibrationMetrics.MaximumCalibrationError(c, y), s.Calibration.MceEqualWidth.Estimate);
        Assert.Equal(CalibrationMetrics.BrierScore(c, y), s.Calibration.Brier.Estimate);
        Assert.Equal(CalibrationMetrics.NegativeLogLikelihood(c, y), s.Calibration.Nll.Estimate);
        Assert.Equal(s.Calibration.EceEqualWidth.Estimate.Value, s.Calibration.ReliabilityEqualWidth.ExpectedCalibrationError.Value, 1e-12);
        Assert.Equal(200, s.Ranking.AurocErrorDetection.ValidResamples);
        Assert.InRange(s.Ranking.AurocErrorDetection.Estimate.Value, s.Ranking.AurocErrorDetection.Lower.Value, s.Ranking.AurocErrorDetection.Upper.Value);
    }

    [Fact]
    public void Without_confidence_there_is_no_calibration_block_and_correctness_ranks_by_minus_u()
    {
        var (u, y) = Synthetic.Informative(300, 10);
        var s = MetricSuite.Evaluate(u, y, options: Fast);
        Assert.Null(s.Calibration);
        Assert.Equal("negated_uncertainty", s.Ranking.CorrectnessScore);
        Assert.Equal(s.Ranking.AurocErrorDetection.Estimate.Value, s.Ranking.AurocCorrectness.Estimate.Value, 1e-12);
        Assert.Equal("correctness", s.Selective.QualitySource);
    }

    [Fact]
    public void Graded_quality_drives_the_selective_metrics()
    {
        var (u, y) = Synthetic.Informative(300, 12);
        double[] q = y.Select((b, i) => b ? 0.8 + 0.2 * (i % 2) : 0.1).ToArray();
        var s = MetricSuite.Evaluate(u, y, quality: q, options: Fast);
        Assert.Equal("quality", s.Selective.QualitySource);
        Assert.Equal(SelectivePrediction.PredictionRejectionRatio(u, q), s.Selective.Prr.Estimate);
        Assert.Equal(SelectivePrediction.Aurc(u, q), s.Selective.Aurc.Estimate);
    }

    [Fact]
    public void Json_has_no_NaN_and_undefined_metrics_are_null_with_a_reason()
    {
        double[] u = [0.1, 0.5, 0.3, 0.2];
        bool[] y = [true, true, true, true];
        double[] c = [0.9, 0.6, 0.7, 0.8];
        var s = MetricSuite.Evaluate(u, y, c, options: Fast);
        string json = s.ToJson();
        Assert.DoesNotContain("NaN", json);
        Assert.DoesNotContain("Infinity", json);

        using var doc = JsonDocument.Parse(json);
        var auroc = doc.RootElement.GetProperty("ranking").GetProperty("auroc_error_detection");
        Assert.Equal(JsonValueKind.Null, auroc.GetProperty("estimate").ValueKind);
        Assert.Equal(JsonValueKind.Null, auroc.GetProperty("lower").ValueKind);
        Assert.Equal("one class only", auroc.GetProperty("reason").GetString());
        Assert.Equal(0, auroc.GetProperty("valid_resamples").GetInt32());
        Assert.Equal(200, auroc.GetProperty("skipped_resamples").GetInt32());
        // Defined metrics are numbers; the reliability diagram is plain data.
        var brier = doc.RootElement.GetProperty("calibration").GetProperty("brier");
        Assert.Equal(JsonValueKind.Number, brier.GetProperty("estimate").ValueKind);
        Assert.Equal(JsonValueKind.Null, brier.GetProperty("reason").ValueKind);
        var diagram = doc.RootElement.GetProperty("calibration").GetProperty("reliability_equal_width");
        Assert.Equal("EqualWidth", diagram.GetProperty("scheme").GetString());
        Assert.Equal(4, diagram.GetProperty("bins").EnumerateArray().Sum(b => b.GetProperty("count").GetInt32()));
        Assert.Equal(1.0, doc.RootElement.GetProperty("accuracy").GetDouble());
        Assert.Equal("undefined (one class only)", s.Selective.Prr.ToString());
    }

    [Fact]
    public void Empty_input_serializes_with_reasons()
    {
        var s = MetricSuite.Evaluate([], [], options: Fast);
        string json = s.ToJson();
        Assert.DoesNotContain("NaN", json);
        Assert.Equal("no items", s.Selective.Aurc.Reason);
        Assert.False(s.Accuracy.IsDefined);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("accuracy").ValueKind);
    }

    [Fact]
    public void Summary_is_deterministic_for_a_seed()
    {
        var (u, y) = Synthetic.Informative(400, 13);
        double[] c = u.Select(x => 1 / (1 + Math.Exp(x))).ToArray();
        Assert.Equal(MetricSuite.Evaluate(u, y, c, options: Fast).ToJson(), MetricSuite.Evaluate(u, y, c, options: Fast).ToJson());
        var other = Fast with { Bootstrap = Fast.Bootstrap with { Seed = 6 } };
        Assert.NotEqual(MetricSuite.Evaluate(u, y, c, options: Fast).ToJson(), MetricSuite.Evaluate(u, y, c, options: other).ToJson());
    }

    [Fact]
    public void Inputs_are_validated()
    {
        Assert.Throws<ArgumentException>(() => MetricSuite.Evaluate([0.1, 0.2], [true]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MetricSuite.Evaluate([0.1], [true], [1.5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MetricSuite.Evaluate([0.1], [true], options: new MetricSuiteOptions { Coverages = [0.0] }));
    }
}

internal static class CoverageAccuracyExtensions
{
    public static MetricValue Estimate(this CoverageAccuracy c) => c.Accuracy.Estimate;
}
