using UQEngine.Evaluation.Sensitivity;
using UQEngine.Methods;

namespace UQEngine.Tests.Evaluation.Sensitivity;

public sealed class SensitivityTests
{
    [Fact]
    public void Rank_correlations_match_hand_computed_values()
    {
        // a = 1 2 3 4, b = 1 3 2 4: d² = 0 + 1 + 1 + 0 = 2, ρ = 1 − 6·2 / (4·15) = 0.8.
        Assert.Equal(0.8, RankCorrelation.Spearman([1, 2, 3, 4], [1, 3, 2, 4])!.Value, 12);
        // Pairs: 6, one discordant (2,3): τ = (5 − 1)/6.
        Assert.Equal(4.0 / 6, RankCorrelation.KendallTauB([1, 2, 3, 4], [1, 3, 2, 4])!.Value, 12);
        // Ties: a = 1 1 2, b = 1 2 3. Pairs (0,1) tied in a; (0,2), (1,2) concordant. τ_b = 2 / sqrt((3 − 1)(3 − 0)).
        Assert.Equal(2 / Math.Sqrt(6), RankCorrelation.KendallTauB([1, 1, 2], [1, 2, 3])!.Value, 12);
        // ρ with ties: ranks a = 1.5 1.5 3, b = 1 2 3, deviations (−½, −½, 1) and (−1, 0, 1): 1.5 / sqrt(1.5 · 2)
        Assert.Equal(1.5 / Math.Sqrt(1.5 * 2), RankCorrelation.Spearman([1, 1, 2], [1, 2, 3])!.Value, 12);
        Assert.Null(RankCorrelation.Spearman([1, 1, 1], [1, 2, 3]));
        Assert.Equal(-1.0, RankCorrelation.Spearman([1, 2, 3], [3, 2, 1])!.Value, 12);
    }

    /// <summary>K_max = 3 samples; sample 0 and 1 have similarity s01, all else 0.05.</summary>
    private static CachedSamples Samples(double t, double s01) => new(t, ["a", "b", "c"], [Math.Log(0.5), Math.Log(0.3), Math.Log(0.2)],
        [[1, s01, 0.05], [s01, 1, 0.05], [0.05, 0.05, 1]]);

    [Fact]
    public void The_grid_reports_auroc_ranking_movement_and_confident_errors()
    {
        // Four items; correct ones have samples 0 and 1 close (0.9), wrong ones less (0.6, 0.4). At threshold 0.5
        // the 0.6 item counts as one meaning, at 0.7 it does not: the ranking moves with the threshold.
        SensitivityItem Item(string id, bool correct, double s01) => new(id, correct, "", [Samples(1.0, s01), Samples(2.0, s01 * 0.5)]);
        var items = new[] { Item("c1", true, 0.9), Item("c2", true, 0.95), Item("w1", false, 0.6), Item("w2", false, 0.4) };
        var grid = new SensitivityGrid
        {
            Thresholds = [0.5, 0.7], Temperatures = [1.0, 2.0], SampleCounts = [2, 3],
            DefaultThreshold = 0.5, DefaultTemperature = 1.0, DefaultSampleCount = 3, ConfidentQuantile = 0.5,
        };
        var report = SensitivityAnalysis.Analyze(items, grid, new SampleSettings(), ["num_sem_sets", "degmat"]);

        // num_sem_sets at the default: 2, 2, 2, 3 sets → wrong w2 is most uncertain, w1 ties with the correct ones.
        var def = report.Rows.Single(r => r.Method == "num_sem_sets" && r.IsDefault);
        // AUROC (wrong = positive): pairs (w, c): w2 beats both (2), w1 ties both (2 × 0.5) → 3/4.
        Assert.Equal(0.75, def.Auroc.Value, 12);
        Assert.Equal(1.0, def.Spearman!.Value, 12);
        // Threshold 0.7: 2, 2, 3, 3 → both wrong items above both correct ones: AUROC 1.
        var strict = report.Rows.Single(r => r.Method == "num_sem_sets" && r.Threshold == 0.7 && r.Temperature == 1.0 && r.SampleCount == 3);
        Assert.Equal(1.0, strict.Auroc.Value, 12);
        // Confident = at or below the median uncertainty (2): c1, c2, w1 at the default → one confident error.
        Assert.Equal(1, def.ConfidentErrors.Count);
        Assert.Equal(0, strict.ConfidentErrors.Count);
        // degmat does not depend on the threshold: one row per (T, K) and none with a threshold.
        Assert.Equal(4, report.Rows.Count(r => r.Method == "degmat"));
        Assert.All(report.Rows.Where(r => r.Method == "degmat"), r => Assert.Null(r.Threshold));
        // degmat at T = 2 (similarities halved) is higher for every item than at T = 1: TSU ρ = 1 on every item.
        Assert.Equal(1.0, report.TemperatureSensitivity["degmat"].MeanSpearman!.Value, 12);
        string md = SensitivityAnalysis.Markdown(report, ["x.png"]);
        Assert.Contains("## num_sem_sets", md);
        Assert.Contains("| **1** | **3** | **0.5** | **0.750** |", md);
    }

    [Fact]
    public void A_grid_without_its_default_or_with_too_few_cached_samples_is_refused()
    {
        var grid = new SensitivityGrid { Thresholds = [0.5], Temperatures = [1.0], SampleCounts = [2, 5], DefaultThreshold = 0.5, DefaultTemperature = 1.0, DefaultSampleCount = 2 };
        var items = new[] { new SensitivityItem("a", true, "", [Samples(1.0, 0.9)]) };
        Assert.Contains("needs 5", Assert.Throws<ArgumentException>(() => SensitivityAnalysis.Analyze(items, grid, new SampleSettings(), ["degmat"])).Message);
        Assert.Throws<ArgumentException>(() => (grid with { DefaultThreshold = 0.7 }).Validate());
        Assert.Throws<ArgumentException>(() => SensitivityAnalysis.Score("sar", Samples(1.0, 0.9), 2, 0.5, new SampleSettings()));
    }
}
