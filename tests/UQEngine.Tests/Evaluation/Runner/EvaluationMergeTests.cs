using System.Text.Json;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Runner;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Evaluation.Runner;

/// <summary>
/// uqengine merge on results folders written by the runner's own summary code from seeded per-item results (no model):
/// the merge against the unsharded folder, and every refusal. ShardedEvalCliTests runs the real thing on the demo model.
/// </summary>
public sealed class EvaluationMergeTests : IDisposable
{
    private const int Items = 23, Shards = 4;
    private static readonly string[] Methods = ["msp", "verbal"];
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static SortedDictionary<string, string> Settings(EvaluationShard? shard) => new(StringComparer.Ordinal)
    {
        ["dataset"] = "synthetic", ["dataset_source"] = "/data/synthetic.jsonl", ["dataset_sha256"] = "d5", ["model_sha256"] = "a1",
        ["methods"] = string.Join(",", Methods), ["seed"] = "7", ["multiple_choice_route"] = "Generated", ["answer_max_tokens"] = "32",
        [EvaluationRunner.ShardKey] = shard?.ToString()!,
    };

    /// <summary>The result of the item at <paramref name="p"/>: a seeded draw, an error on one item, categories and a breakdown field.</summary>
    private static ItemResult Item(int p)
    {
        var random = new Random(p);
        double u = random.NextDouble();
        bool correct = random.NextDouble() > u;
        if (p == 5) return new ItemResult { Id = $"q{p}", Index = p, Kind = "open_answer", Reference = "x", Correct = false, Error = "prompt too long" };
        return new ItemResult
        {
            Id = $"q{p}", Index = p, Kind = "open_answer", Category = p % 3 == 0 ? "math" : "geo", Metadata = new Dictionary<string, string> { ["exposure"] = (p % 4).ToString() },
            Reference = "x", Response = correct ? "x" : "y", Prediction = correct ? "x" : "y", Correct = correct, F1 = correct ? 1 : 0.25 * u,
            Methods = new Dictionary<string, MethodResult> { ["msp"] = new(u * 3.1, null, false, null), ["verbal"] = new(1 - random.NextDouble(), random.NextDouble(), p % 7 == 0, null) },
        };
    }

    /// <summary>Figures only where they are compared: drawing them is most of the time these tests take.</summary>
    private bool _figures;

    private EvaluationRunOptions Options(string folder) => new()
    {
        OutputFolder = folder, Methods = Methods, Seed = 7, BreakdownFields = ["exposure"], BootstrapResamples = 200, Figures = _figures ? new ScottPlotFigureRenderer() : null,
    };

    /// <summary>A results folder as eval writes it: run.json, items.jsonl in order, then summary, report and figures.</summary>
    private string Write(string name, EvaluationShard? shard, IEnumerable<ItemResult>? items = null, Action<SortedDictionary<string, string>>? edit = null)
    {
        string folder = _dir.File(name);
        Directory.CreateDirectory(folder);
        var settings = Settings(shard);
        if (shard is null) settings.Remove(EvaluationRunner.ShardKey);
        edit?.Invoke(settings);
        File.WriteAllText(Path.Combine(folder, "run.json"), JsonSerializer.Serialize(settings, EvaluationRunner.RunFileOptions));
        var list = (items ?? Enumerable.Range(0, Items).Where(p => shard?.Contains(p) ?? true).Select(Item)).ToList();
        File.WriteAllText(Path.Combine(folder, "items.jsonl"), string.Concat(list.Select(i => JsonSerializer.Serialize(i, EvaluationRunner.LineOptions) + "\n")));
        var coverage = new DatasetCoverage("synthetic", "/data/synthetic.jsonl", 30, list.Count, 0);
        var timing = new TimingSummary(list.Count, new Dictionary<string, StatisticTiming> { ["greedy_generation"] = new(list.Count, 10.0 * list.Count, 10) }, 100, 1.5);
        EvaluationRunner.WriteResults(folder, "/models/m.gguf", coverage, shard is null ? null : new ShardCoverage(shard.Index, shard.Count, Items), list, Methods, Options(folder), 0, timing);
        return folder;
    }

    private string[] AllShards() => [.. Enumerable.Range(0, Shards).Select(i => Write($"s{i}", new EvaluationShard(i, Shards)))];

    private static string BeforeTiming(string report) => report[..report.IndexOf("## Where the time went", StringComparison.Ordinal)];

    [Fact]
    public void Merged_shards_read_as_the_unsharded_run_with_the_bootstrap_over_all_items()
    {
        _figures = true;
        string full = Write("full", null);
        string[] shards = AllShards();
        string merged = _dir.File("merged");
        var result = EvaluationMerge.Merge([shards[2], shards[0], shards[3], shards[1]], merged, new EvaluationMergeOptions { Figures = new ScottPlotFigureRenderer() });

        Assert.Equal(File.ReadAllText(Path.Combine(full, "items.jsonl")), File.ReadAllText(Path.Combine(merged, "items.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "run.json")), File.ReadAllText(Path.Combine(merged, "run.json")));
        using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(full, "summary.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(merged, "summary.json")));
        foreach (var property in a.RootElement.EnumerateObject().Where(p => p.Name != "timing"))
            Assert.Equal(property.Value.GetRawText(), b.RootElement.GetProperty(property.Name).GetRawText());
        Assert.False(b.RootElement.TryGetProperty("shard", out _));
        Assert.Equal(BeforeTiming(File.ReadAllText(Path.Combine(full, "report.md"))), BeforeTiming(File.ReadAllText(Path.Combine(merged, "report.md"))));
        foreach (string png in new[] { "reliability.png", "risk_coverage.png" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(full, png)), File.ReadAllBytes(Path.Combine(merged, png)));
        // The bootstrap ran over all 22 runnable items: a shard's own intervals are wider and its counts smaller.
        Assert.Equal(22, result.Summary.MethodSummaries["msp"].Count);
        Assert.Equal(["q5"], result.Summary.ItemErrors.Select(e => e.Id));
        // Timing is the sum over the shards.
        Assert.Equal(Items, result.Summary.Timing.ItemsTimed);
        Assert.Equal(4 * 1.5, result.Summary.Timing.ItemSeconds, 12);
        Assert.Equal(4 * 100.0, result.Summary.Timing.ModelLoadMilliseconds!.Value, 12);

        // Merging again into the same folder (a retried merge step) is allowed and gives the same items.
        EvaluationMerge.Merge(shards, merged);
        Assert.Equal(File.ReadAllText(Path.Combine(full, "items.jsonl")), File.ReadAllText(Path.Combine(merged, "items.jsonl")));
    }

    private void Refused(string[] shards, params string[] fragments)
    {
        var e = Assert.ThrowsAny<Exception>(() => EvaluationMerge.Merge(shards, _dir.File("out-" + Guid.NewGuid().ToString("N"))));
        Assert.True(e is InvalidOperationException or ArgumentException, e.ToString());
        foreach (string f in fragments) Assert.Contains(f, e.Message);
    }

    [Theory]
    [InlineData("model_sha256", "b2")]
    [InlineData("dataset_sha256", "e6")]
    [InlineData("seed", "8")]
    [InlineData("methods", "msp")]
    public void Shards_of_different_runs_are_refused_naming_the_folder_and_the_field(string field, string value)
    {
        string[] shards = AllShards();
        shards[2] = Write("other", new EvaluationShard(2, Shards), edit: s => s[field] = value);
        Refused(shards, $"'{shards[2]}' is not a shard of the same run as '{shards[0]}'", $"run.json field '{field}' is '{value}' there");
    }

    [Fact]
    public void A_dataset_read_from_another_path_is_the_same_dataset()
    {
        string[] shards = AllShards();
        shards[1] = Write("elsewhere", new EvaluationShard(1, Shards), edit: s => s["dataset_source"] = "/mnt/other/synthetic.jsonl");
        Assert.Equal(Items, EvaluationMerge.Merge(shards, _dir.File("merged")).Summary.Dataset.ItemsEvaluated);
    }

    [Fact]
    public void Duplicate_missing_and_miscounted_shards_are_refused()
    {
        string[] shards = AllShards();
        Refused([shards[0], shards[1], shards[1], shards[3]], $"'{shards[1]}' and '{shards[1]}' are both shard 1/4");
        Refused([shards[0], shards[1], shards[3]], "shard(s) 2/4 missing", "all 4 shards");
        string third = Write("third", new EvaluationShard(1, 3));
        Refused([shards[0], third, shards[2], shards[3]], $"'{third}' is shard 1/3", "counts 3 shards there and 4");
        string unsharded = Write("full", null);
        Refused([unsharded, shards[1]], $"'{unsharded}' is not a shard: its run.json has no field 'shard'");
    }

    [Fact]
    public void Overlapping_items_are_refused()
    {
        string[] shards = AllShards();
        // Shard 1 also holds position 2, which is shard 2's.
        shards[1] = Write("overlap", new EvaluationShard(1, Shards), Enumerable.Range(0, Items).Where(p => p % 4 == 1 || p == 2).Select(Item));
        Refused(shards, $"'{shards[1]}' (shard 1/4) holds item 'q2' at position 2, which belongs to shard 2/4: the shards overlap");
        // The same id at two positions of different shards.
        shards = AllShards();
        shards[3] = Write("same-id", new EvaluationShard(3, Shards), Enumerable.Range(0, Items).Where(p => p % 4 == 3).Select(p => Item(p) with { Id = p == 3 ? "q0" : $"q{p}" }));
        Refused(shards, "item 'q0' is in both", "the shards overlap");
    }

    [Fact]
    public void Unfinished_shards_are_refused()
    {
        string[] shards = AllShards();
        shards[0] = Write("short", new EvaluationShard(0, Shards), Enumerable.Range(0, Items).Where(p => p % 4 == 0 && p != 8).Select(Item));
        Refused(shards, $"'{shards[0]}' (shard 0/4) has 5 of its 6 items (the first missing is at position 8): the shard did not finish");

        shards = AllShards();
        File.AppendAllText(Path.Combine(shards[3], "items.jsonl"), "{\"id\":\"q9");
        Refused(shards, "ends in a torn line: the shard was interrupted");

        shards = AllShards();
        File.Delete(Path.Combine(shards[2], "summary.json"));
        Refused(shards, $"'{shards[2]}' has no summary.json: the shard did not finish");

        shards = AllShards();
        string other = Write("limit", new EvaluationShard(1, Shards), Enumerable.Range(0, 11).Where(p => p % 4 == 1).Select(Item));
        // Its summary says it split 23 items too, but it holds only those below 11.
        Refused([shards[0], other, shards[2], shards[3]], $"'{other}' (shard 1/4) has 3 of its 6 items");
    }

    [Fact]
    public void The_output_must_not_be_a_shard_or_another_runs_folder()
    {
        string[] shards = AllShards();
        var e = Assert.Throws<ArgumentException>(() => EvaluationMerge.Merge(shards, shards[0]));
        Assert.Contains("is one of the shards", e.Message);
        string full = Write("full", null, edit: s => s["seed"] = "9");
        var f = Assert.Throws<InvalidOperationException>(() => EvaluationMerge.Merge(shards, full));
        Assert.Contains("already holds results of another run", f.Message);
        Refused([_dir.File("nowhere")], "does not exist");
    }
}
