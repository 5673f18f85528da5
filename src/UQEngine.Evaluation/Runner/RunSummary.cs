using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace UQEngine.Evaluation.Runner;

/// <summary>The dataset a run covered, and how much of it.</summary>
/// <param name="Name">The dataset's name (file name or built-in name).</param>
/// <param name="Source">The file it was read from, or the built-in name.</param>
/// <param name="ItemsInDataset">Items the dataset had after skipped lines were dropped.</param>
/// <param name="ItemsEvaluated">Items in this run (after --limit).</param>
/// <param name="SkippedLines">Malformed lines dropped while reading; non-zero means the evaluation is not of the whole file.</param>
public sealed record DatasetCoverage(string Name, string Source, int ItemsInDataset, int ItemsEvaluated, int SkippedLines)
{
    /// <summary>Each skipped line and why (summary.json, report.md, the console), so a user can mend the file.</summary>
    public IReadOnlyList<SkippedLine> Skipped { get; init; } = [];

    public bool Complete => SkippedLines == 0 && ItemsEvaluated == ItemsInDataset;
}

/// <summary>The shard a results folder holds: its items are the positions p &lt; <paramref name="SelectedItems"/> with p mod <paramref name="Count"/> = <paramref name="Index"/>.</summary>
/// <param name="Index">This shard, from 0.</param>
/// <param name="Count">The run's number of shards.</param>
/// <param name="SelectedItems">Items of the whole run before sharding (the dataset after <c>--limit</c>).</param>
public sealed record ShardCoverage(int Index, int Count, int SelectedItems);

/// <summary>One method over the items it applies to.</summary>
/// <param name="Count">Items with a value for this method.</param>
/// <param name="FallbackCount">Items where the method used its fallback (unparseable verbal reply).</param>
/// <param name="Metrics">All metrics with bootstrap intervals (calibration only when the method gives confidences).</param>
public sealed record MethodSummary(int Count, int FallbackCount, EvaluationSummary Metrics);

/// <summary>One group of a breakdown (category = "math", exposure = "3").</summary>
public sealed record BreakdownGroup(string Value, int Count, int CorrectCount, MetricValue Accuracy, IReadOnlyDictionary<string, MethodSummary> Methods);

/// <summary>Metrics per value of one field.</summary>
public sealed record Breakdown(string Field, IReadOnlyList<BreakdownGroup> Groups);

/// <summary>Time spent in one statistic over the items computed in this process (resumed items are not timed).</summary>
public sealed record StatisticTiming(int Items, double TotalMilliseconds, double MeanMilliseconds);

/// <summary>Where the time went.</summary>
/// <param name="ItemsTimed">Items computed in this process.</param>
/// <param name="Statistics">Per statistic, exclusive of the statistics it builds on.</param>
/// <param name="ModelLoadMilliseconds">When the caller measured it.</param>
/// <param name="ItemSeconds">Wall time of the per-item loop in this process.</param>
/// <param name="Decode">Time inside llama_decode during the loop, prompt processing and generation apart; the rest of
/// <paramref name="ItemSeconds"/> is this library's own work (tokenizing, sampling, statistics, writing results).</param>
/// <param name="ProcessCpuSeconds">CPU time (user + system, all threads) the process used during the loop; far below
/// <paramref name="ItemSeconds"/> x threads means the process waited for cores other processes held.</param>
public sealed record TimingSummary(int ItemsTimed, IReadOnlyDictionary<string, StatisticTiming> Statistics, double? ModelLoadMilliseconds, double ItemSeconds, UQEngine.Inference.DecodeCounterSnapshot? Decode = null, double? ProcessCpuSeconds = null)
{
    /// <summary>Seconds of the loop outside llama_decode.</summary>
    public double? OutsideDecodeSeconds => Decode is null ? null : Math.Max(0, ItemSeconds - Decode.PromptSeconds - Decode.GenerationSeconds);
}

/// <summary>summary.json: everything the Markdown report shows, machine-readable.</summary>
public sealed record EvaluationRunSummary(
    string Model,
    DatasetCoverage Dataset,
    IReadOnlyList<string> Methods,
    int Seed,
    MultipleChoiceRoute MultipleChoiceRoute,
    int Count,
    int CorrectCount,
    MetricValue Accuracy,
    MetricValue MeanF1,
    int ResumedItems,
    IReadOnlyDictionary<string, MethodSummary> MethodSummaries,
    IReadOnlyList<Breakdown> Breakdowns,
    TimingSummary Timing)
{
    /// <summary>Items that could not be run, with why; they are not in <see cref="Count"/> or any metric.</summary>
    public IReadOnlyList<ItemError> ItemErrors { get; init; } = [];

    /// <summary>What the reader must know about how the values were obtained (a remote endpoint's top-k entropy, say).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>Set when this folder holds one shard of a run (absent from an unsharded or merged summary).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ShardCoverage? Shard { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, EvaluationSummary.JsonOptions);
}

/// <summary>An item the run could not evaluate.</summary>
public sealed record ItemError(string Id, string Error);

/// <summary>Writes report.md from a summary.</summary>
public static class MarkdownReport
{
    /// <summary>Skipped lines listed in report.md (summary.json has every one).</summary>
    public const int MaxSkippedListed = 20;

    public static string Render(EvaluationRunSummary s, IReadOnlyList<string> figures)
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine("# Uncertainty evaluation").AppendLine();
        md.AppendLine(inv, $"- Model: `{s.Model}`");
        foreach (string note in s.Notes) md.AppendLine(inv, $"- Note: {note}");
        md.AppendLine(inv, $"- Dataset: {s.Dataset.Name} (`{s.Dataset.Source}`): {s.Dataset.ItemsEvaluated} of {s.Dataset.ItemsInDataset} items evaluated");
        if (s.Dataset.SkippedLines > 0)
        {
            md.AppendLine(inv, $"- **Incomplete:** {s.Dataset.SkippedLines} malformed line(s) of the dataset were skipped and are not in these results:");
            foreach (var line in s.Dataset.Skipped.Take(MaxSkippedListed)) md.AppendLine(inv, $"  - line {line.LineNumber}: {line.Reason}");
            if (s.Dataset.Skipped.Count > MaxSkippedListed) md.AppendLine(inv, $"  - … and {s.Dataset.Skipped.Count - MaxSkippedListed} more (summary.json lists them all)");
        }
        if (s.Shard is { } shard)
        {
            md.AppendLine(inv, $"- **Shard {shard.Index}/{shard.Count}:** the items at positions p with p mod {shard.Count} = {shard.Index} of the first {shard.SelectedItems}; combine the shards with `uqengine merge`");
            if (s.Dataset.SkippedLines == 0 && shard.SelectedItems < s.Dataset.ItemsInDataset) md.AppendLine("- Partial: limited to the first items of the dataset");
        }
        else if (s.Dataset.SkippedLines == 0 && !s.Dataset.Complete)
            md.AppendLine("- Partial: limited to the first items of the dataset");
        if (s.ItemErrors.Count > 0)
        {
            md.AppendLine(inv, $"- **Not run:** {s.ItemErrors.Count} item(s) could not be evaluated and are not in these results:");
            foreach (var e in s.ItemErrors.Take(MaxSkippedListed)) md.AppendLine(inv, $"  - `{e.Id}`: {e.Error}");
            if (s.ItemErrors.Count > MaxSkippedListed) md.AppendLine(inv, $"  - … and {s.ItemErrors.Count - MaxSkippedListed} more (summary.json lists them all)");
        }
        md.AppendLine(inv, $"- Seed: {s.Seed}; multiple-choice answers graded by: {s.MultipleChoiceRoute}; {s.ResumedItems} item(s) resumed from an earlier run");
        md.AppendLine(string.Create(inv, $"- Accuracy: {Format(s.Accuracy)} ({s.CorrectCount}/{s.Count})") + (s.MeanF1.IsDefined ? $"; mean token F1 (open answers): {Format(s.MeanF1)}" : ""));
        md.AppendLine();
        md.AppendLine("## Methods").AppendLine();
        md.AppendLine("Estimates with 95% percentile-bootstrap intervals. AUROC/AUPRC: errors detected by uncertainty (higher is better). " +
            "ECE (15 equal-width bins), Brier: calibration of the method's confidence (lower is better; only methods that give one). " +
            "AURC: area under the risk–coverage curve (lower is better). PRR: prediction rejection ratio (1 = oracle, 0 = random).").AppendLine();
        MethodTable(md, s.MethodSummaries);
        var fallbacks = s.MethodSummaries.Where(m => m.Value.FallbackCount > 0).ToList();
        foreach (var (name, m) in fallbacks)
            md.AppendLine(inv, $"- `{name}`: {m.FallbackCount} of {m.Count} replies could not be read and used the fallback confidence 0.5");
        if (fallbacks.Count > 0) md.AppendLine();

        foreach (var b in s.Breakdowns)
        {
            md.AppendLine(inv, $"## By {b.Field}").AppendLine();
            var names = s.Methods;
            md.AppendLine("| " + b.Field + " | n | accuracy | " + string.Join(" | ", names.Select(n => $"{n} AUROC")) + " |");
            md.AppendLine("|---|---:|---|" + string.Concat(names.Select(_ => "---|")));
            foreach (var g in b.Groups)
                md.AppendLine(string.Create(inv, $"| {Escape(g.Value)} | {g.Count} | {Format(g.Accuracy)} | ") +
                    string.Join(" | ", names.Select(n => g.Methods.TryGetValue(n, out var m) ? m.Metrics.Ranking.AurocErrorDetection.ToString() : "n/a")) + " |");
            md.AppendLine();
        }

        if (figures.Count > 0)
        {
            md.AppendLine("## Figures").AppendLine();
            foreach (string f in figures) md.AppendLine(inv, $"![{Path.GetFileNameWithoutExtension(f)}]({f})").AppendLine();
        }

        md.AppendLine("## Where the time went").AppendLine();
        md.AppendLine(string.Create(inv, $"{s.Timing.ItemsTimed} item(s) computed in this run, {s.Timing.ItemSeconds:F2} s") +
            (s.Timing.ModelLoadMilliseconds is { } load ? string.Create(inv, $"; model load {load:F0} ms") : "") +
            (s.Timing.ProcessCpuSeconds is { } cpu ? string.Create(inv, $"; the process used {cpu:F2} s of CPU time in that loop") : "") + ".").AppendLine();
        if (s.Timing.Decode is { } d && s.Timing.ItemSeconds > 0)
        {
            double share(double seconds) => 100 * seconds / s.Timing.ItemSeconds;
            md.AppendLine("| part | tokens | seconds | share | tokens/s |").AppendLine("|---|---:|---:|---:|---:|");
            md.AppendLine(inv, $"| prompt processing (llama_decode) | {d.PromptTokens} | {d.PromptSeconds:F2} | {share(d.PromptSeconds):F0}% | {d.PromptTokensPerSecond ?? 0:F0} |");
            md.AppendLine(inv, $"| generation (llama_decode) | {d.GeneratedTokens} | {d.GenerationSeconds:F2} | {share(d.GenerationSeconds):F0}% | {d.GenerationTokensPerSecond ?? 0:F0} |");
            md.AppendLine(inv, $"| outside llama_decode (tokenizing, statistics, sampling, results) | | {s.Timing.OutsideDecodeSeconds:F2} | {share(s.Timing.OutsideDecodeSeconds ?? 0):F0}% | |");
            md.AppendLine();
        }
        if (s.Timing.Statistics.Count > 0)
        {
            md.AppendLine("| statistic | items | total ms | mean ms |").AppendLine("|---|---:|---:|---:|");
            foreach (var (name, t) in s.Timing.Statistics.OrderByDescending(t => t.Value.TotalMilliseconds))
                md.AppendLine(inv, $"| {name} | {t.Items} | {t.TotalMilliseconds:F1} | {t.MeanMilliseconds:F2} |");
            md.AppendLine();
        }
        return md.ToString();
    }

    private static void MethodTable(StringBuilder md, IReadOnlyDictionary<string, MethodSummary> methods)
    {
        md.AppendLine("| method | n | AUROC | AUPRC | ECE | Brier | AURC | PRR |");
        md.AppendLine("|---|---:|---|---|---|---|---|---|");
        const string NoConfidence = "n/a (no confidence)";
        foreach (var (name, m) in methods)
        {
            var e = m.Metrics;
            md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {m.Count} | {e.Ranking.AurocErrorDetection} | {e.Ranking.AuprcErrorDetection} | " +
                $"{e.Calibration?.EceEqualWidth.ToString() ?? NoConfidence} | {e.Calibration?.Brier.ToString() ?? NoConfidence} | {e.Selective.Aurc} | {e.Selective.Prr} |");
        }
        md.AppendLine();
    }

    private static string Format(MetricValue v) => v.ToString("F3");

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
}
