using UQEngine.Evaluation.Comparison;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Runner;

namespace UQEngine.Tests.Evaluation.Comparison;

/// <summary>The paired bootstrap between rungs, the confident-error share and the generated headline.</summary>
public sealed class QuantizationEffectsTests
{
    private static readonly BootstrapOptions Options = new() { Resamples = 2000, Seed = 5 };

    private static double Est(BootstrapInterval i) => i.Estimate.TryGetValue(out double v) ? v : double.NaN;
    private static double Lo(BootstrapInterval i) => i.Lower.TryGetValue(out double v) ? v : double.NaN;
    private static double Hi(BootstrapInterval i) => i.Upper.TryGetValue(out double v) ? v : double.NaN;

    [Fact]
    public void Confident_errors_count_wrong_answers_at_or_above_the_threshold_among_all_items()
    {
        double[] confidence = [0.95, 0.9, 0.89, 0.99, 0.5, 0.92];
        bool[] correct = [false, false, false, true, false, true];
        // Wrong with confidence >= 0.9: items 0 and 1 (0.9 itself counts); 0.89 does not; right answers never do.
        Assert.Equal(2.0 / 6, PairedComparison.ConfidentErrorShare(confidence, correct), 12);
        Assert.Equal(1.0 / 6, PairedComparison.ConfidentErrorShare(confidence, correct, threshold: 0.93), 12);
        var interval = PairedComparison.ConfidentErrors(confidence, correct, Options);
        Assert.Equal(2.0 / 6, Est(interval), 12);
        Assert.True(Lo(interval) < 2.0 / 6 && Hi(interval) > 2.0 / 6);
        Assert.Throws<ArgumentException>(() => PairedComparison.ConfidentErrorShare([0.9], [true, false]));
    }

    [Fact]
    public void Paired_differences_are_variant_minus_baseline_and_a_consistent_drop_excludes_zero()
    {
        // 200 items: the baseline gets all right; the variant loses 40 of them (every fifth), each with confidence 0.95.
        int n = 200;
        var baseCorrect = Enumerable.Repeat(true, n).ToArray();
        var varCorrect = Enumerable.Range(0, n).Select(i => i % 5 != 0).ToArray();
        var baseConf = Enumerable.Repeat(0.95, n).ToArray();
        var varConf = Enumerable.Repeat(0.95, n).ToArray();
        var uncertainty = Enumerable.Range(0, n).Select(i => i / (double)n).ToArray();
        // The baseline has no errors, so its AUROC is undefined: give it two wrong answers to define it.
        baseCorrect[1] = false; baseCorrect[2] = false;
        var baseline = new PairedScores(baseCorrect, uncertainty, baseConf);
        var variant = new PairedScores(varCorrect, uncertainty, varConf);

        var d = PairedComparison.Compare(baseline, variant, Options);

        Assert.Equal(n, d.Pairs);
        double expectedAccuracy = varCorrect.Count(c => c) / (double)n - baseCorrect.Count(c => c) / (double)n;
        Assert.Equal(expectedAccuracy, Est(d.Accuracy), 12); // -0.19: the sign says the variant is worse
        Assert.True(Hi(d.Accuracy) < 0, $"a drop of {expectedAccuracy} on 200 paired items must exclude 0: {d.Accuracy}");
        Assert.True(QuantizationEffects.ExcludesZero(d.Accuracy));
        // Every confidence is 0.95, so ECE = |0.95 - accuracy| in the one bin, and confident errors = the error share.
        Assert.Equal(Math.Abs(0.95 - varCorrect.Count(c => c) / (double)n) - Math.Abs(0.95 - baseCorrect.Count(c => c) / (double)n), Est(d.Ece!), 12);
        Assert.Equal(varCorrect.Count(c => !c) / (double)n - baseCorrect.Count(c => !c) / (double)n, Est(d.ConfidentErrors!), 12);
        Assert.True(Lo(d.ConfidentErrors!) > 0);
    }

    [Fact]
    public void Pairing_makes_the_interval_of_a_difference_narrower_than_resampling_each_variant_alone()
    {
        // Two variants that differ on 6 of 300 items, all in the same direction; unpaired, the items' own spread
        // (accuracy ~0.5) would swamp a difference of 0.02, paired it cannot.
        var rng = new Random(11);
        int n = 300;
        var a = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.5).ToArray();
        var b = (bool[])a.Clone();
        int flipped = 0;
        for (int i = 0; i < n && flipped < 6; i++) if (a[i]) { b[i] = false; flipped++; }
        var u = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var d = PairedComparison.Compare(new PairedScores(a, u, null), new PairedScores(b, u, null), Options);
        Assert.Equal(-6.0 / n, Est(d.Accuracy), 12);
        Assert.True(Hi(d.Accuracy) < 0, d.Accuracy.ToString());
        var alone = Bootstrap.Interval(n, s => { int h = 0; foreach (int i in s.Indices) h += a[i] ? 1 : 0; return MetricValue.Defined((double)h / n); }, Options);
        Assert.True(Hi(d.Accuracy) - Lo(d.Accuracy) < (Hi(alone) - Lo(alone)) / 2);
        Assert.Null(d.Ece); // no confidences, no calibration
        Assert.Null(d.ConfidentErrors);
    }

    [Fact]
    public void A_change_below_the_reports_precision_is_not_called_one_even_when_every_resample_agrees()
    {
        var tiny = new BootstrapInterval(MetricValue.Defined(0.0001), MetricValue.Defined(0.00005), MetricValue.Defined(0.0002), 0.95, 100, 0);
        var real = new BootstrapInterval(MetricValue.Defined(-0.02), MetricValue.Defined(-0.047), MetricValue.Defined(-0.001), 0.95, 100, 0);
        var straddles = new BootstrapInterval(MetricValue.Defined(-0.02), MetricValue.Defined(-0.05), MetricValue.Defined(0.01), 0.95, 100, 0);
        Assert.False(QuantizationEffects.ExcludesZero(tiny));
        Assert.True(QuantizationEffects.ExcludesZero(real));
        Assert.False(QuantizationEffects.ExcludesZero(straddles));
    }

    [Fact]
    public void Identical_rungs_differ_by_exactly_zero_and_mismatched_items_are_refused()
    {
        var correct = new[] { true, false, true, true, false, true };
        var u = new[] { 0.1, 0.8, 0.2, 0.3, 0.9, 0.4 };
        var c = u.Select(x => 1 - x).ToArray();
        var d = PairedComparison.Compare(new PairedScores(correct, u, c), new PairedScores(correct, u, c), Options);
        Assert.Equal(0, Est(d.Accuracy));
        Assert.Equal(0, Lo(d.Accuracy));
        Assert.Equal(0, Hi(d.Ece!));
        Assert.False(QuantizationEffects.ExcludesZero(d.Auroc));
        var e = Assert.Throws<ArgumentException>(() => PairedComparison.Compare(new PairedScores(correct, u, c), new PairedScores([true], [0.5], [0.5]), Options));
        Assert.Contains("same items", e.Message);
    }

    private static ItemResult Item(string id, bool correct, double confidence) => new()
    {
        Id = id, Index = 0, Kind = "open", Reference = "x", Correct = correct,
        Methods = new Dictionary<string, MethodResult> { ["msp"] = new(1 - confidence, confidence, false, null) },
    };

    private static VariantOutcome Rung(string model, string quant, double bits, IEnumerable<ItemResult> items) => new()
    {
        Label = $"{model} {quant} · cpu", Device = ComparisonDevice.Cpu, Status = VariantStatus.Ok, Model = model, Quantization = quant,
        BitsPerWeight = bits, Items = [.. items],
    };

    [Fact]
    public void Analyze_pairs_each_rung_with_its_own_models_F16_by_item_id_and_the_headline_says_what_moved()
    {
        int n = 120;
        // Model "small": Q2_K gets the last 40 items wrong at 0.95 confidence (items listed in another order).
        var f16 = Enumerable.Range(0, n).Select(i => Item($"i{i:D3}", i % 10 != 0, 0.8)).ToList();
        var q2 = Enumerable.Range(0, n).Reverse().Select(i => Item($"i{i:D3}", i % 10 != 0 && i < 80, i < 80 ? 0.8 : 0.95)).ToList();
        // Model "big": Q2_K identical to F16.
        var bigF16 = Enumerable.Range(0, n).Select(i => Item($"i{i:D3}", i % 4 != 0, 0.7)).ToList();
        var outcomes = new[] { Rung("small", "F16", 16, f16), Rung("small", "Q2_K", 2.9, q2), Rung("big", "F16", 16, bigF16), Rung("big", "Q2_K", 3.1, bigF16) };

        var effects = QuantizationEffects.Analyze(outcomes, ["msp"], Options);

        Assert.Equal(4, effects.Count);
        var small = effects.Single(e => e.Model == "small" && !e.IsBaseline);
        Assert.Equal("small F16 · cpu", small.Baseline);
        var d = small.Methods["msp"].Differences!;
        Assert.Equal(n, d.Pairs);
        // F16 wrong on 12 items (i % 10 == 0); Q2_K on those plus i >= 80 that F16 had right (36): 48 wrong.
        Assert.Equal((72.0 - 108.0) / n, Est(d.Accuracy), 12);
        Assert.True(QuantizationEffects.ExcludesZero(d.Accuracy));
        Assert.Equal(0, Est(effects.Single(e => e.Model == "small" && e.IsBaseline).Methods["msp"].ConfidentErrors!)); // 0.8 < 0.9
        Assert.Equal(40.0 / n, Est(small.Methods["msp"].ConfidentErrors!), 12); // i >= 80, wrong at 0.95
        Assert.Equal(0, Est(effects.Single(e => e.Model == "big" && !e.IsBaseline).Methods["msp"].Differences!.Accuracy));

        string headline = QuantizationEffects.Headline(effects, ["msp"])!;
        Assert.Contains("**small**", headline);
        Assert.Contains("Q2_K (2.90 bits/weight) changes accuracy by -0.300", headline);
        Assert.Contains("0.0 % at F16, 33.3 % at Q2_K", headline);
        Assert.Contains("**big**", headline);
        Assert.Contains("no rung's accuracy, msp ECE or AUROC difference lies outside its paired 95% interval", headline);
        Assert.Contains("paired differences in this report", headline);
    }
}
