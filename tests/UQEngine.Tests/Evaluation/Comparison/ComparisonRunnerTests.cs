using System.Text.Json;
using UQEngine.Cli.Commands;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Comparison;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;
using UQEngine.Training;
using UQEngine.Methods;

namespace UQEngine.Tests.Evaluation.Comparison;

/// <summary>`compare` on the synthetic model: its F32 file and a Q8_0 rung quantized on demand, plus a cuda variant that cannot run here.</summary>
[Trait("Category", "Integration")]
public sealed class ComparisonRunnerTests
{
    private const string Items = """
        {"id":"m1","question":"What is 2+2?","options":["3","4","5","6"],"answer":"B","metadata":{"family":"arith"}}
        {"id":"m2","question":"Capital of France?","options":["Paris","Rome","Berlin"],"answer":"A","metadata":{"family":"capitals"}}
        {"id":"m3","question":"Largest planet?","options":["Mars","Jupiter","Venus","Earth","Saturn"],"answer":"B","metadata":{"family":"space"}}
        {"id":"o1","question":"Who wrote Hamlet?","answer":"William Shakespeare","aliases":["Shakespeare"],"family":"authors"}
        {"id":"o2","question":"What colour is the sky?","answer":"blue","family":"facts"}
        """;

    private static readonly string[] Methods = ["msp", "mean_entropy", "option_prob"];

    private static ComparisonOptions Options(string folder, string cache) => new()
    {
        OutputFolder = folder,
        Evaluation = new EvaluationRunOptions
        {
            OutputFolder = folder, Methods = Methods, Seed = 3, Statistics = new StatisticSettings { AnswerMaxTokens = 5 },
            BootstrapResamples = 100, Figures = new ScottPlotFigureRenderer(),
        },
        Context = new ContextOptions { ContextSize = 1024, Threads = 1 },
        LadderCacheDirectory = cache,
        Figures = new ScottPlotComparisonRenderer(),
    };

    private static IReadOnlyList<ComparisonVariant> Variants() =>
    [
        new() { Label = "F32 · cpu", ModelPath = TestModels.SyntheticPath, Device = ComparisonDevice.Cpu },
        .. ComparisonVariant.ForLadder(TestModels.SyntheticPath, [QuantizationType.Q8_0], [ComparisonDevice.Cpu, ComparisonDevice.Cuda]),
    ];

    [Fact]
    public void Two_variants_are_compared_side_by_side_and_a_missing_device_is_a_reported_row()
    {
        using var dir = new TempDirectory();
        string output = dir.File("cmp"), cache = dir.File("ladder");
        var dataset = JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");
        var progress = new List<ComparisonProgress>();
        var result = new ComparisonRunner(UncertaintyMethodRegistry.CreateDefault()).Run(Variants(), dataset, Options(output, cache), new ListProgress(progress));
        var s = result.Summary;

        Assert.Equal(["F32 · cpu", "Q8_0 · cpu", "Q8_0 · cuda"], s.Variants.Select(v => v.Label));
        Assert.Equal([VariantStatus.Ok, VariantStatus.Ok, VariantStatus.Unavailable], s.Variants.Select(v => v.Status));
        // This process loaded the CPU build (or no CUDA build exists here): said, not thrown.
        Assert.False(string.IsNullOrWhiteSpace(s.Variants[2].Message));
        Assert.Null(s.Variants[2].Performance);

        var f32 = s.Variants[0];
        var q8 = s.Variants[1];
        Assert.Equal("Q8_0", q8.FileType);
        Assert.StartsWith(Path.GetFullPath(cache), Path.GetFullPath(q8.ModelPath!));
        Assert.True(q8.Performance!.ModelBytes < f32.Performance!.ModelBytes, "Q8_0 weights must be smaller than F32");
        foreach (var v in new[] { f32, q8 })
        {
            Assert.Equal(5, v.Count);
            // Accuracy: the share of correct lines in the variant's own items.jsonl, computed here independently.
            var lines = File.ReadAllLines(Path.Combine(output, v.ResultsFolder!, EvaluationRunner.ItemsFile));
            int correct = lines.Count(l => JsonDocument.Parse(l).RootElement.GetProperty("correct").GetBoolean());
            Assert.Equal(correct / 5.0, v.Accuracy!.Estimate.Value, 12);
            Assert.Equal(Methods.Order(StringComparer.Ordinal), v.Methods.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(3, v.Methods["option_prob"].Count);
            var p = v.Performance!;
            Assert.True(p.PromptTokens > 0 && p.GeneratedTokens > 0);
            Assert.True(p.PromptTokensPerSecond > 0 && p.DecodeTokensPerSecond > 0);
            Assert.True(p.PeakResidentBytes > 0);
            // 2 (K and V) x 2 layers x 1024 positions x 2 KV heads x 16 (64 wide / 4 heads) x 2 bytes (F16).
            Assert.Equal(2L * 2 * 1024 * 2 * 16 * 2, p.KvCacheBytes);
        }
        // Each variant ran its own model: Q8_0's option probabilities are not F32's (quantization moves the logits).
        string OptionProbabilities(VariantOutcome v) => string.Join(";", File.ReadAllLines(Path.Combine(output, v.ResultsFolder!, EvaluationRunner.ItemsFile))
            .Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == "multiple_choice")
            .Select(e => e.GetProperty("option_probabilities").GetRawText()));
        Assert.NotEqual(OptionProbabilities(f32), OptionProbabilities(q8));

        string report = File.ReadAllText(Path.Combine(output, ComparisonRunner.ReportFile));
        Assert.Contains("| F32 · cpu |", report);
        Assert.Contains("| Q8_0 · cpu |", report);
        Assert.Contains("| Q8_0 · cuda | | | | **unavailable** (reason 1 below) |", report);
        Assert.Contains("Reason 1: " + s.Variants[2].Message, report);
        Assert.Contains($"- Quantization ladder of `{Path.GetFileName(TestModels.SyntheticPath)}` (sha256 `{q8.QuantizedFromSha256}`", report);
        Assert.Null(f32.QuantizedFrom);
        foreach (var v in new[] { f32, q8 })
        {
            Assert.Contains(v.Accuracy!.ToString(), report);
            Assert.Contains($"| msp | {v.Methods["msp"].Metrics.Ranking.AurocErrorDetection} | {v.Methods["msp"].Metrics.Calibration!.EceEqualWidth} | {v.Methods["msp"].Metrics.Calibration!.Brier} | {v.Methods["msp"].Metrics.Selective.Aurc} ", report);
            Assert.Contains($"| mean_entropy | {v.Methods["mean_entropy"].Metrics.Ranking.AurocErrorDetection} | n/a | n/a |", report);
        }

        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, ComparisonRunner.SummaryFile))))
        {
            var variants = json.RootElement.GetProperty("variants").EnumerateArray().ToList();
            Assert.Equal(["Ok", "Ok", "Unavailable"], variants.Select(v => v.GetProperty("status").GetString()));
            Assert.Equal(q8.Accuracy!.Estimate.Value, variants[1].GetProperty("accuracy").GetProperty("estimate").GetDouble(), 12);
            Assert.True(variants[0].GetProperty("performance").GetProperty("decode_tokens_per_second").GetDouble() > 0);
        }
        foreach (string f in new[] { "accuracy.png", "auroc.png", "ece.png", "reliability_msp.png", "reliability_option_prob.png" })
        {
            Assert.Contains(f, result.Files);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(output, f)).Take(4));
        }
        Assert.True(File.Exists(Path.Combine(output, "variants", "Q8_0-cpu", "report.md")));

        // Progress covers variants x items and ends complete.
        Assert.All(progress, p => Assert.Equal(15, p.Total));
        Assert.Equal(15, progress[^1].Completed);
        Assert.Contains(progress, p => p.Stage == "quantizing" && p.Variant == "Q8_0 · cpu");

        // A second run resumes every variant and reuses the cached rung: same metrics, no quantizing.
        var quantizedAt = File.GetLastWriteTimeUtc(q8.ModelPath!);
        progress.Clear();
        var again = new ComparisonRunner(UncertaintyMethodRegistry.CreateDefault()).Run(Variants(), dataset, Options(output, cache), new ListProgress(progress));
        Assert.DoesNotContain(progress, p => p.Stage == "quantizing");
        Assert.Equal(quantizedAt, File.GetLastWriteTimeUtc(again.Summary.Variants[1].ModelPath!));
        Assert.Equal(q8.Accuracy!.ToString(), again.Summary.Variants[1].Accuracy!.ToString());
        Assert.Equal(0, again.Summary.Variants[1].Performance!.GeneratedTokens); // nothing left to decode
    }

    [Fact]
    public void A_model_that_cannot_be_loaded_is_a_failed_row_not_an_exception()
    {
        using var dir = new TempDirectory();
        string broken = dir.File("broken.gguf");
        File.WriteAllBytes(broken, [1, 2, 3, 4, 5, 6, 7, 8]);
        var dataset = JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");
        var variants = ComparisonVariant.ForFiles([broken, TestModels.SyntheticPath], [ComparisonDevice.Cpu]);
        var template = Options(dir.File("cmp"), dir.File("ladder"));
        var options = template with { Evaluation = template.Evaluation with { Limit = 2, Methods = ["msp"], Figures = null }, Figures = null };
        var s = new ComparisonRunner(UncertaintyMethodRegistry.CreateDefault()).Run(variants, dataset, options).Summary;
        Assert.Equal([VariantStatus.Failed, VariantStatus.Ok], s.Variants.Select(v => v.Status));
        Assert.Contains("broken.gguf", s.Variants[0].Message);
        Assert.Equal(2, s.Variants[1].Count);
    }

    [Fact]
    public void A_resumed_variant_checks_the_method_settings_too()
    {
        using var dir = new TempDirectory();
        var dataset = JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");
        var variants = ComparisonVariant.ForFiles([TestModels.SyntheticPath], [ComparisonDevice.Cpu]);
        var template = Options(dir.File("cmp"), dir.File("ladder"));
        ComparisonOptions With(string samples) => template with
        {
            Evaluation = template.Evaluation with { Limit = 2, Methods = ["msp"], Figures = null, MethodSettings = new Dictionary<string, string> { ["sampling.samples"] = samples } },
            Figures = null,
        };
        var runner = new ComparisonRunner(UncertaintyMethodRegistry.CreateDefault());
        Assert.Equal(VariantStatus.Ok, runner.Run(variants, dataset, With("5")).Summary.Variants[0].Status);
        Assert.Equal(VariantStatus.Ok, runner.Run(variants, dataset, With("5")).Summary.Variants[0].Status); // resumed
        var e = Assert.Throws<InvalidOperationException>(() => runner.Run(variants, dataset, With("3")));
        Assert.Contains("sampling.samples was '5', now '3'", e.Message);
    }

    [Fact]
    public void Ladders_and_devices_parse_and_bad_names_are_named()
    {
        Assert.Equal(["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"], ModelLadder.Parse("demo").Select(q => q.Name));
        Assert.Equal(["F16", "Q4_K_M"], ModelLadder.Parse("f16, q4_k_m").Select(q => q.Name));
        Assert.Contains("Q9", Assert.Throws<ArgumentException>(() => ModelLadder.Parse("Q9")).Message);
        Assert.Equal([ComparisonDevice.Cpu, ComparisonDevice.Cuda], ComparisonVariant.ParseDevices("cpu, CUDA,cpu"));
        Assert.Contains("tpu", Assert.Throws<ArgumentException>(() => ComparisonVariant.ParseDevices("cpu,tpu")).Message);
        Assert.Equal("Q8_0-cpu", ComparisonRunner.FolderName("Q8_0 · cpu"));
    }

    [Fact]
    public async Task The_compare_command_needs_models_or_a_ladder_and_runs_a_ladder()
    {
        using var dir = new TempDirectory();
        string data = dir.File("tiny.jsonl");
        File.WriteAllText(data, Items);
        var command = CompareCommand.Create();
        Assert.Equal(1, await command.Parse(["--dataset", data, "--out", dir.File("a")]).InvokeAsync());
        Assert.Equal(1, await command.Parse(["--dataset", data, "--out", dir.File("a"), "--models", dir.File("missing.gguf")]).InvokeAsync());
        int rc = await command.Parse(["--model", TestModels.SyntheticPath, "--ladder", "Q8_0", "--ladder-cache", dir.File("cache"), "--devices", "cpu,cuda",
            "--dataset", data, "--out", dir.File("b"), "--methods", "msp", "--limit", "2", "--bootstrap", "20", "--max-tokens", "3", "--threads", "1"]).InvokeAsync();
        Assert.Equal(0, rc);
        string report = File.ReadAllText(Path.Combine(dir.File("b"), "report.md"));
        Assert.Contains("| Q8_0 · cpu |", report);
        Assert.Contains("| Q8_0 · cuda |", report);
        Assert.Contains("**unavailable**", report);
    }

    private sealed class ListProgress(List<ComparisonProgress> list) : IProgress<ComparisonProgress>
    {
        public void Report(ComparisonProgress value) => list.Add(value);
    }
}
