using UQEngine.Evaluation.Metrics;
using System.CommandLine;
using System.Text.Json;
using UQEngine.Cli.Commands;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;
using UQEngine.Methods;

namespace UQEngine.Tests.Evaluation.Runner;

/// <summary>End to end on the synthetic model (random weights: accuracy is meaningless, the pipeline is what is tested).</summary>
[Trait("Category", "Integration")]
public sealed class EvaluationRunnerTests
{
    private const string Items = """
        {"id":"m1","question":"What is 2+2?","options":["3","4","5","6"],"answer":"B","category":"math","metadata":{"exposure":1,"family":"arith"}}
        {"id":"m2","question":"Capital of France?","options":["Paris","Rome","Berlin"],"answer":"A","category":"geo","metadata":{"exposure":2,"family":"capitals"}}
        {"id":"m3","question":"Largest planet?","options":["Mars","Jupiter","Venus","Earth","Saturn"],"answer":"B","category":"science","metadata":{"exposure":2,"family":"space"}}
        {"id":"o1","question":"Who wrote Hamlet?","answer":"William Shakespeare","aliases":["Shakespeare"],"category":"lit","exposure":1,"family":"authors"}
        {"id":"o2","question":"What colour is the sky?","answer":"blue","category":"geo","exposure":3,"family":"facts"}
        {"id":"o3","question":"Hello world, the","answer":"end","category":"lit","exposure":3,"family":"facts"}
        """;

    private static readonly string[] Methods = ["msp", "mean_entropy", "min_token_prob", "option_prob", "verbal_numeric", "verbal_linguistic"];

    private static EvaluationDataset Dataset() => JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");

    private static EvaluationRunOptions Options(string folder, IReadOnlyList<string>? methods = null) => new()
    {
        OutputFolder = folder,
        Methods = methods ?? Methods,
        Seed = 7,
        BreakdownFields = ["exposure", "family"],
        Statistics = new StatisticSettings { AnswerMaxTokens = 6, ConfidenceMaxTokens = 4 },
        BootstrapResamples = 100,
        Figures = new ScottPlotFigureRenderer(),
    };

    private static EvaluationRunResult RunOnce(EvaluationRunOptions options, EvaluationDataset? dataset = null)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = 1 });
        using var generator = new Generator(context);
        return new EvaluationRunner(generator, UncertaintyMethodRegistry.CreateDefault()).Run(dataset ?? Dataset(), options);
    }

    /// <summary>The metrics part of summary.json (timing and the resumed count legitimately differ between runs).</summary>
    private static string Metrics(EvaluationRunSummary s) =>
        JsonSerializer.Serialize(new { s.Accuracy, s.MethodSummaries, s.Breakdowns, s.Count }, UQEngine.Evaluation.Metrics.EvaluationSummary.JsonOptions);

    [Fact]
    public void A_run_writes_results_report_and_figures_and_resumes_to_identical_results()
    {
        using var dir = new TempDirectory();
        var first = RunOnce(Options(dir.Path));
        foreach (string f in new[] { "items.jsonl", "summary.json", "report.md", "run.json", "reliability.png", "risk_coverage.png" })
            Assert.True(File.Exists(dir.File(f)), $"{f} is missing");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(dir.File("reliability.png")).Take(4));
        string[] lines = File.ReadAllLines(dir.File("items.jsonl"));
        Assert.Equal(6, lines.Length);
        Assert.Equal(["m1", "m2", "m3", "o1", "o2", "o3"], first.Items.Select(i => i.Id));
        Assert.All(first.Items.Where(i => i.Kind == "multiple_choice"), i => Assert.True(i.Methods.ContainsKey("option_prob")));
        Assert.All(first.Items.Where(i => i.Kind == "open_answer"), i => Assert.False(i.Methods.ContainsKey("option_prob")));
        Assert.All(first.Items.Where(i => i.Kind == "multiple_choice"), i => Assert.Equal(1.0, i.OptionProbabilities!.Sum(), 9));

        // Statistics are computed once per item and shared: msp, mean_entropy and min_token_prob share one generation.
        var timing = first.Summary.Timing;
        Assert.Equal(6, timing.ItemsTimed);
        Assert.Equal(6, timing.Statistics[StatisticNames.GreedyGeneration].Items);
        Assert.Equal(3, timing.Statistics[StatisticNames.OptionLogits].Items);
        Assert.Equal(6, timing.Statistics[StatisticNames.VerbalNumericResponse].Items);

        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("summary.json"))))
        {
            var root = json.RootElement;
            Assert.Equal(6, root.GetProperty("count").GetInt32());
            Assert.True(root.GetProperty("method_summaries").TryGetProperty("msp", out _));
            Assert.Equal(["category", "exposure", "family"], root.GetProperty("breakdowns").EnumerateArray().Select(b => b.GetProperty("field").GetString()));
        }
        string report = File.ReadAllText(dir.File("report.md"));
        Assert.Contains("| msp | 6 |", report);
        Assert.Contains("## By exposure", report);
        Assert.Contains("![reliability](reliability.png)", report);
        Assert.Contains("greedy_generation", report);
        Assert.DoesNotContain("NaN", report);

        // Resume with the summary deleted: nothing is recomputed, the summary comes back the same.
        File.Delete(dir.File("summary.json"));
        var resumed = RunOnce(Options(dir.Path));
        Assert.Equal(6, resumed.Summary.ResumedItems);
        Assert.Equal(0, resumed.Summary.Timing.ItemsTimed);
        Assert.Equal(lines, File.ReadAllLines(dir.File("items.jsonl")));
        Assert.Equal(Metrics(first.Summary), Metrics(resumed.Summary));

        // Resume after an interruption that tore the third line: the torn item and the rest are recomputed identically.
        string full = File.ReadAllText(dir.File("items.jsonl"));
        int cut = full.IndexOf('\n', full.IndexOf('\n') + 1) + 1 + 25;
        File.WriteAllText(dir.File("items.jsonl"), full[..cut]);
        var continued = RunOnce(Options(dir.Path));
        Assert.Equal(2, continued.Summary.ResumedItems);
        Assert.Equal(4, continued.Summary.Timing.ItemsTimed);
        Assert.Equal(full, File.ReadAllText(dir.File("items.jsonl")));
        Assert.Equal(Metrics(first.Summary), Metrics(continued.Summary));
    }

    [Fact]
    public void Two_runs_with_the_same_seed_give_identical_results()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        var first = RunOnce(Options(a.Path));
        var second = RunOnce(Options(b.Path));
        Assert.Equal(File.ReadAllText(a.File("items.jsonl")), File.ReadAllText(b.File("items.jsonl")));
        Assert.Equal(Metrics(first.Summary), Metrics(second.Summary));
    }

    [Fact]
    public void A_results_folder_of_other_settings_is_not_silently_mixed()
    {
        using var dir = new TempDirectory();
        RunOnce(Options(dir.Path, ["msp"]) with { Limit = 2 });
        var e = Assert.Throws<InvalidOperationException>(() => RunOnce(Options(dir.Path, ["msp", "mean_entropy"])));
        Assert.Contains("methods was 'msp', now 'msp,mean_entropy'", e.Message);
        // A larger limit continues the same run.
        var more = RunOnce(Options(dir.Path, ["msp"]) with { Limit = 4 });
        Assert.Equal(2, more.Summary.ResumedItems);
        Assert.Equal(4, more.Summary.Count);
    }

    [Fact]
    public void Option_probability_route_grades_by_the_most_probable_letter()
    {
        using var dir = new TempDirectory();
        var run = RunOnce(Options(dir.Path, ["option_prob"]) with { MultipleChoiceRoute = MultipleChoiceRoute.OptionProbability });
        foreach (var item in run.Items.Where(i => i.Kind == "multiple_choice"))
        {
            var p = item.OptionProbabilities!;
            Assert.Equal(((char)('A' + p.ToList().IndexOf(p.Max()))).ToString(), item.Prediction);
            Assert.Equal(item.Prediction == item.Reference, item.Correct);
            Assert.Equal(1 - p.Max(), item.Methods["option_prob"].Uncertainty, 12);
        }
    }

    [Fact]
    public void An_item_whose_prompt_does_not_fit_is_recorded_as_its_error_and_the_run_goes_on()
    {
        using var dir = new TempDirectory();
        string tooLong = JsonSerializer.Serialize(new { id = "huge", question = string.Join(' ', Enumerable.Repeat("word", 3000)), answer = "x" });
        var dataset = JsonlDatasetReader.Parse(new StringReader(Items + "\n" + tooLong + "\n"), "tiny.jsonl", "tiny");
        var run = RunOnce(Options(dir.Path, ["msp"]), dataset);
        var error = Assert.Single(run.Summary.ItemErrors);
        Assert.Equal("huge", error.Id);
        Assert.Contains("the context holds 1024", error.Error);
        Assert.Equal(dataset.Items.Count - 1, run.Summary.Count); // left out of the metrics
        Assert.DoesNotContain(run.Items, i => i.Id == "huge");
        Assert.Contains("`huge`: the prompt has", File.ReadAllText(dir.File("report.md")));
        Assert.Contains("\"error\":", File.ReadAllLines(dir.File("items.jsonl")).Single(l => l.Contains("\"huge\"")));
    }

    [Fact]
    public void A_shard_runs_its_positions_keeps_their_indexes_and_resumes_only_the_same_shard_dataset_and_model()
    {
        using var dir = new TempDirectory();
        var run = RunOnce(Options(dir.Path, ["msp"]) with { Shard = new EvaluationShard(1, 4), ModelSha256 = "a1" });
        Assert.Equal([("m2", 1), ("o3", 5)], run.Items.Select(i => (i.Id, i.Index)));
        Assert.Equal(new ShardCoverage(1, 4, 6), run.Summary.Shard);
        Assert.Equal(2, run.Summary.Dataset.ItemsEvaluated);
        Assert.Contains("**Shard 1/4:** the items at positions p with p mod 4 = 1 of the first 6", File.ReadAllText(dir.File("report.md")));
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("run.json"))))
        {
            Assert.Equal("1/4", json.RootElement.GetProperty("shard").GetString());
            Assert.Equal("a1", json.RootElement.GetProperty("model_sha256").GetString());
            Assert.Equal(Dataset().ItemsSha256(), json.RootElement.GetProperty("dataset_sha256").GetString());
        }

        var e = Assert.Throws<InvalidOperationException>(() => RunOnce(Options(dir.Path, ["msp"]) with { Shard = new EvaluationShard(2, 4), ModelSha256 = "a1" }));
        Assert.Contains("shard was '1/4', now '2/4'", e.Message);
        e = Assert.Throws<InvalidOperationException>(() => RunOnce(Options(dir.Path, ["msp"]) with { Shard = new EvaluationShard(1, 4), ModelSha256 = "b2" }));
        Assert.Contains("model_sha256 was 'a1', now 'b2'", e.Message);
        var other = JsonlDatasetReader.Parse(new StringReader(Items.Replace("Capital of France?", "Capital of Italy?")), "tiny.jsonl", "tiny");
        e = Assert.Throws<InvalidOperationException>(() => RunOnce(Options(dir.Path, ["msp"]) with { Shard = new EvaluationShard(1, 4), ModelSha256 = "a1" }, other));
        Assert.Contains("dataset_sha256 was", e.Message);
    }

    [Fact]
    public void A_truncated_run_record_is_a_clear_error()
    {
        using var dir = new TempDirectory();
        RunOnce(Options(dir.Path, ["msp"]) with { Limit = 1 });
        File.WriteAllText(dir.File("run.json"), "{\"model\": \"x");
        var e = Assert.Throws<InvalidOperationException>(() => RunOnce(Options(dir.Path, ["msp"]) with { Limit = 1 }));
        Assert.Contains("run.json' is not a readable run record", e.Message);
    }

    [Fact]
    public void Skipped_dataset_lines_are_reported_as_incomplete()
    {
        using var dir = new TempDirectory();
        var dataset = JsonlDatasetReader.Parse(new StringReader(Items + "\nnot json\n"), "tiny.jsonl", "tiny", new DatasetReadOptions { OnBadLine = OnBadLine.Skip });
        var run = RunOnce(Options(dir.Path, ["msp"]) with { Limit = 1 }, dataset);
        Assert.False(run.Summary.Dataset.Complete);
        string report = File.ReadAllText(dir.File("report.md"));
        Assert.Contains("**Incomplete:** 1 malformed line(s)", report);
        // Which line and why, in the report and in summary.json.
        int line = Items.Split('\n').Length + 1;
        Assert.Contains($"  - line {line}: invalid JSON", report);
        using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("summary.json")));
        var skipped = summary.RootElement.GetProperty("dataset").GetProperty("skipped")[0];
        Assert.Equal(line, skipped.GetProperty("line_number").GetInt32());
        Assert.StartsWith("invalid JSON", skipped.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task The_eval_command_runs_end_to_end_and_reports_bad_input_in_one_line()
    {
        using var dir = new TempDirectory();
        string data = dir.File("tiny.jsonl");
        File.WriteAllText(data, Items);
        string output = dir.File("out");
        var command = EvalCommand.Create();
        int rc = await command.Parse(["--model", TestModels.SyntheticPath, "--dataset", data, "--out", output, "--methods", "msp,option_prob",
            "--limit", "3", "--bootstrap", "50", "--max-tokens", "4", "--threads", "1", "--by", "family"]).InvokeAsync();
        Assert.Equal(0, rc);
        Assert.True(File.Exists(Path.Combine(output, "report.md")));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(output, "items.jsonl")).Length);

        int bad = await command.Parse(["--model", TestModels.SyntheticPath, "--dataset", data, "--out", output, "--methods", "msp,nonsense"]).InvokeAsync();
        Assert.Equal(1, bad);
    }
}
