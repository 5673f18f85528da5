using System.Globalization;
using System.Text;
using System.Text.Json;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Evaluation.Runner;

/// <summary>Settings of <see cref="EvaluationMerge.Merge"/>.</summary>
public sealed record EvaluationMergeOptions
{
    /// <summary>Draws the figures, as the unsharded run's renderer would; none when null.</summary>
    public IEvaluationFigureRenderer? Figures { get; init; }

    /// <summary>Bootstrap resamples per interval; null = the shards' (which must agree).</summary>
    public int? BootstrapResamples { get; init; }

    /// <summary>Breakdown fields; null = the shards' (which must agree).</summary>
    public IReadOnlyList<string>? BreakdownFields { get; init; }
}

/// <summary>
/// Combines the results folders of the shards of one run (<see cref="EvaluationShard"/>) into one results folder that
/// reads as the unsharded run's: items.jsonl in dataset order (the shards' lines verbatim), run.json without the shard,
/// and summary.json, report.md and figures written by the runner's own code over all items, so the bootstrap runs over
/// every item with the run's seed. Only the timing differs: it is the sum over the shards (machine time, not wall time).
/// Refuses, naming the folder and the field: shards whose run.json differs (settings, dataset_sha256, model_sha256;
/// dataset_source and a remote run's endpoint URLs may differ: the hashes and endpoint_model pin the run), a missing, duplicate or unfinished shard, and items that
/// overlap or belong to another shard.
/// </summary>
public static class EvaluationMerge
{
    private sealed record Shard(string Folder, SortedDictionary<string, string> Settings, EvaluationShard Spec, ShardCoverage Coverage,
        JsonElement Summary, IReadOnlyList<(ItemResult Item, string Line)> Items);

    public static EvaluationRunResult Merge(IReadOnlyList<string> shardFolders, string outputFolder, EvaluationMergeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(shardFolders);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputFolder);
        options ??= new EvaluationMergeOptions();
        if (shardFolders.Count == 0) throw new ArgumentException("merge needs the shard folders of one run");
        string outFull = Path.GetFullPath(outputFolder);
        foreach (string f in shardFolders)
            if (string.Equals(Path.GetFullPath(f).TrimEnd('/'), outFull.TrimEnd('/'), StringComparison.Ordinal))
                throw new ArgumentException($"the output folder '{outputFolder}' is one of the shards; merge into another folder");

        var shards = shardFolders.Select(Read).ToList();
        var first = shards[0];
        int count = first.Spec.Count;

        // One run: the same settings everywhere but the shard itself and where the dataset was read from.
        foreach (var s in shards.Skip(1))
        {
            foreach (string key in s.Settings.Keys.Union(first.Settings.Keys).Where(k => k is not EvaluationRunner.ShardKey and not "dataset_source" and not "endpoint").Order(StringComparer.Ordinal))
            {
                string? a = first.Settings.GetValueOrDefault(key), b = s.Settings.GetValueOrDefault(key);
                if (a != b)
                    throw new InvalidOperationException($"'{s.Folder}' is not a shard of the same run as '{first.Folder}': run.json field '{key}' is {Quote(b)} there and {Quote(a)} in '{first.Folder}'");
            }
            if (s.Spec.Count != count)
                throw new InvalidOperationException($"'{s.Folder}' is shard {s.Spec} but '{first.Folder}' is shard {first.Spec}: run.json field 'shard' counts {s.Spec.Count} shards there and {count} in '{first.Folder}'");
            if (s.Coverage.SelectedItems != first.Coverage.SelectedItems)
                throw new InvalidOperationException($"'{s.Folder}' split {s.Coverage.SelectedItems} items and '{first.Folder}' {first.Coverage.SelectedItems} (summary.json field 'shard.selected_items'): run every shard with the same --limit");
        }
        var byIndex = new Dictionary<int, Shard>();
        foreach (var s in shards)
            if (!byIndex.TryAdd(s.Spec.Index, s))
                throw new InvalidOperationException($"'{byIndex[s.Spec.Index].Folder}' and '{s.Folder}' are both shard {s.Spec} (run.json field 'shard'): give each shard once");
        var missing = Enumerable.Range(0, count).Where(i => !byIndex.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"shard(s) {string.Join(", ", missing.Select(i => $"{i}/{count}"))} missing: a merge needs all {count} shards of the run (given: {string.Join(", ", shards.Select(s => $"'{s.Folder}' = {s.Spec}"))})");

        // Every item in its own shard, once, and no item of the run left out.
        int selected = first.Coverage.SelectedItems;
        var owner = new Dictionary<string, Shard>(StringComparer.Ordinal);
        var merged = new List<(ItemResult Item, string Line)>(selected);
        foreach (var s in shards)
        {
            var positions = new HashSet<int>();
            foreach (var (item, line) in s.Items)
            {
                if (item.Index >= selected) continue; // from an earlier run of this folder with a larger --limit; the runner ignores it too
                if (!s.Spec.Contains(item.Index))
                    throw new InvalidOperationException($"'{s.Folder}' (shard {s.Spec}) holds item '{item.Id}' at position {item.Index}, which belongs to shard {item.Index % count}/{count}: the shards overlap (items.jsonl field 'index')");
                if (owner.TryGetValue(item.Id, out var other))
                    throw new InvalidOperationException($"item '{item.Id}' is in both '{other.Folder}' and '{s.Folder}' (items.jsonl field 'id'): the shards overlap");
                owner[item.Id] = s;
                positions.Add(item.Index);
                merged.Add((item, line));
            }
            int expected = s.Spec.SizeOf(selected);
            if (positions.Count != expected)
            {
                int firstMissing = Enumerable.Range(0, selected).First(p => s.Spec.Contains(p) && !positions.Contains(p));
                throw new InvalidOperationException($"'{s.Folder}' (shard {s.Spec}) has {positions.Count} of its {expected} items (the first missing is at position {firstMissing}): the shard did not finish; run its eval command again to resume it");
            }
        }
        merged.Sort((a, b) => a.Item.Index.CompareTo(b.Item.Index));

        var settings = new SortedDictionary<string, string>(first.Settings, StringComparer.Ordinal);
        settings.Remove(EvaluationRunner.ShardKey);
        string runJson = JsonSerializer.Serialize(settings, EvaluationRunner.RunFileOptions);
        PrepareOutput(outputFolder, runJson);
        File.WriteAllText(Path.Combine(outputFolder, EvaluationRunner.RunFile), runJson);
        var text = new StringBuilder();
        foreach (var (_, line) in merged) text.Append(line).Append('\n');
        File.WriteAllText(Path.Combine(outputFolder, EvaluationRunner.ItemsFile), text.ToString(), new UTF8Encoding(false));

        var runOptions = new EvaluationRunOptions
        {
            OutputFolder = outputFolder,
            Methods = Methods(settings),
            Seed = int.Parse(Setting(first, "seed"), NumberStyles.Integer, CultureInfo.InvariantCulture),
            MultipleChoiceRoute = Enum.Parse<MultipleChoiceRoute>(Setting(first, "multiple_choice_route")),
            BootstrapResamples = options.BootstrapResamples ?? Agreed(shards, "method_summaries.*.metrics.bootstrap.resamples", BootstrapResamples)?[0] ?? BootstrapOptions.Default.Resamples,
            BreakdownFields = options.BreakdownFields ?? Agreed(shards, "breakdowns[].field", BreakdownFields) ?? [],
            Figures = options.Figures,
        };
        var coverage = JsonSerializer.Deserialize<DatasetCoverage>(first.Summary.GetProperty("dataset"), EvaluationSummary.JsonOptions)!
            with { ItemsEvaluated = selected };
        string model = first.Summary.GetProperty("model").GetString() ?? "";
        int resumed = shards.Sum(s => s.Summary.GetProperty("resumed_items").GetInt32());
        var timing = SumTiming(shards.Select(s => JsonSerializer.Deserialize<TimingSummary>(s.Summary.GetProperty("timing"), EvaluationSummary.JsonOptions)!));
        // Each shard's notes (a remote endpoint's top-k entropy, say), once each.
        var notes = shards.SelectMany(s => s.Summary.TryGetProperty("notes", out var n) && n.ValueKind == JsonValueKind.Array
            ? n.EnumerateArray().Select(e => e.GetString() ?? "") : []).Distinct(StringComparer.Ordinal).ToList();
        return EvaluationRunner.WriteResults(outputFolder, model, coverage, null, [.. merged.Select(m => m.Item)], runOptions.Methods, runOptions, resumed, timing, notes);
    }

    /// <summary>Reads and checks one shard folder: run.json with a shard, a finished items.jsonl, and summary.json.</summary>
    private static Shard Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new ArgumentException($"shard folder '{folder}' does not exist");
        string runPath = Path.Combine(folder, EvaluationRunner.RunFile), itemsPath = Path.Combine(folder, EvaluationRunner.ItemsFile), summaryPath = Path.Combine(folder, EvaluationRunner.SummaryFile);
        foreach (string path in new[] { runPath, itemsPath })
            if (!File.Exists(path)) throw new InvalidOperationException($"'{folder}' has no {Path.GetFileName(path)}: it is not an evaluation results folder");
        SortedDictionary<string, string> settings;
        try { settings = JsonSerializer.Deserialize<SortedDictionary<string, string>>(File.ReadAllText(runPath)) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidOperationException($"'{runPath}' is not a readable run record ({e.Message})"); }
        if (!settings.TryGetValue(EvaluationRunner.ShardKey, out string? shardText))
            throw new InvalidOperationException($"'{folder}' is not a shard: its run.json has no field 'shard' (an unsharded run needs no merge)");
        EvaluationShard spec;
        try { spec = EvaluationShard.Parse(shardText); }
        catch (ArgumentException e) { throw new InvalidOperationException($"'{runPath}': field 'shard': {e.Message}"); }
        if (!File.Exists(summaryPath))
            throw new InvalidOperationException($"'{folder}' has no summary.json: the shard did not finish; run its eval command again to resume it");

        JsonElement summary;
        try { using var document = JsonDocument.Parse(File.ReadAllText(summaryPath)); summary = document.RootElement.Clone(); }
        catch (JsonException e) { throw new InvalidOperationException($"'{summaryPath}' is not readable JSON ({e.Message})"); }
        ShardCoverage? coverage = summary.TryGetProperty("shard", out var c) ? c.Deserialize<ShardCoverage>(EvaluationSummary.JsonOptions) : null;
        if (coverage is null || coverage.Index != spec.Index || coverage.Count != spec.Count)
            throw new InvalidOperationException($"'{summaryPath}' field 'shard' does not match run.json's shard {spec}: the summary is of another run; run the shard's eval command again");

        string text = File.ReadAllText(itemsPath);
        if (text.Length > 0 && text[^1] != '\n')
            throw new InvalidOperationException($"'{itemsPath}' ends in a torn line: the shard was interrupted; run its eval command again to resume it");
        var items = new List<(ItemResult, string)>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            ItemResult? r;
            try { r = JsonSerializer.Deserialize<ItemResult>(lines[i], EvaluationRunner.LineOptions); }
            catch (JsonException e) { throw new InvalidOperationException($"{itemsPath}:{i + 1}: not a result line ({e.Message})"); }
            items.Add((r ?? throw new InvalidOperationException($"{itemsPath}:{i + 1}: empty result line"), lines[i]));
        }
        return new Shard(folder, settings, spec, coverage, summary, items);
    }

    /// <summary>The output may be new, empty, or an earlier merge of the same run (it is overwritten); anything else is refused.</summary>
    private static void PrepareOutput(string folder, string runJson)
    {
        string runPath = Path.Combine(folder, EvaluationRunner.RunFile);
        if (File.Exists(Path.Combine(folder, EvaluationRunner.ItemsFile)) && (!File.Exists(runPath) || File.ReadAllText(runPath) != runJson))
            throw new InvalidOperationException($"'{folder}' already holds results of another run (items.jsonl, run.json); merge into an empty folder");
        Directory.CreateDirectory(folder);
    }

    private static string Setting(Shard s, string key) =>
        s.Settings.TryGetValue(key, out string? v) ? v : throw new InvalidOperationException($"'{s.Folder}': run.json has no field '{key}'");

    private static IReadOnlyList<string> Methods(IReadOnlyDictionary<string, string> settings) =>
        settings.TryGetValue("methods", out string? m) ? m.Split(',', StringSplitOptions.RemoveEmptyEntries) : throw new InvalidOperationException("run.json has no field 'methods'");

    /// <summary>A report setting every shard's summary shows the same way; null when no shard shows it.</summary>
    private static T? Agreed<T>(IReadOnlyList<Shard> shards, string field, Func<JsonElement, T?> read) where T : class
    {
        T? value = null;
        Shard? from = null;
        foreach (var s in shards)
        {
            if (read(s.Summary) is not { } v) continue;
            if (value is not null && JsonSerializer.Serialize(value) != JsonSerializer.Serialize(v))
                throw new InvalidOperationException($"'{s.Folder}' and '{from!.Folder}' differ in summary.json field '{field}' ({JsonSerializer.Serialize(v)} vs {JsonSerializer.Serialize(value)}); give the merged value with --bootstrap or --by");
            value ??= v;
            from ??= s;
        }
        return value;
    }

    private static int[]? BootstrapResamples(JsonElement summary) =>
        summary.GetProperty("method_summaries").EnumerateObject().Select(m => new[] { m.Value.GetProperty("metrics").GetProperty("bootstrap").GetProperty("resamples").GetInt32() }).FirstOrDefault();

    private static string[] BreakdownFields(JsonElement summary) =>
        // category is broken down whenever items have one; the rest are the --by fields.
        [.. summary.GetProperty("breakdowns").EnumerateArray().Select(b => b.GetProperty("field").GetString()!).Where(f => f != "category")];

    private static TimingSummary SumTiming(IEnumerable<TimingSummary> timings)
    {
        var list = timings.ToList();
        var statistics = list.SelectMany(t => t.Statistics).GroupBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g =>
        {
            int items = g.Sum(kv => kv.Value.Items);
            double ms = g.Sum(kv => kv.Value.TotalMilliseconds);
            return new StatisticTiming(items, ms, items == 0 ? 0 : ms / items);
        }, StringComparer.Ordinal);
        var decodes = list.Select(t => t.Decode).OfType<UQEngine.Inference.DecodeCounterSnapshot>().ToList();
        var decode = decodes.Count == 0 ? null : new UQEngine.Inference.DecodeCounterSnapshot(decodes.Sum(d => d.PromptTokens), decodes.Sum(d => d.PromptSeconds),
            decodes.Sum(d => d.GeneratedTokens), decodes.Sum(d => d.GenerationSeconds), decodes.Sum(d => d.Calls));
        double? Sum(Func<TimingSummary, double?> f) => list.All(t => f(t) is null) ? null : list.Sum(t => f(t) ?? 0);
        return new TimingSummary(list.Sum(t => t.ItemsTimed), statistics, Sum(t => t.ModelLoadMilliseconds), list.Sum(t => t.ItemSeconds), decode, Sum(t => t.ProcessCpuSeconds));
    }

    private static string Quote(string? value) => value is null ? "absent" : $"'{value}'";
}
