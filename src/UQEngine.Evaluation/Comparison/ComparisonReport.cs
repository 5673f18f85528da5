using System.Globalization;
using System.Text;

namespace UQEngine.Evaluation.Comparison;

/// <summary>report.md of a comparison: one table, a row per variant and method, then the variants' details.</summary>
public static class ComparisonReport
{
    public static string Render(ComparisonSummary s, IReadOnlyList<string> figures)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Variant comparison").AppendLine();
        md.AppendLine(string.Create(inv, $"- Dataset: {s.Dataset.Name} (`{s.Dataset.Source}`): {s.Dataset.ItemsEvaluated} of {s.Dataset.ItemsInDataset} items per variant") +
            (s.Dataset.SkippedLines > 0 ? $"; **incomplete:** {s.Dataset.SkippedLines} malformed line(s) skipped" : s.Dataset.Complete ? "" : " (limited)"));
        md.AppendLine(inv, $"- Methods: {string.Join(", ", s.Methods)}; multiple-choice answers graded by: {s.MultipleChoiceRoute}");
        foreach (var source in s.Variants.Where(v => v.QuantizedFrom is not null).Select(v => (v.QuantizedFrom, v.QuantizedFromSha256)).Distinct())
            md.AppendLine($"- Quantization ladder of `{Path.GetFileName(source.QuantizedFrom)}` (sha256 `{source.QuantizedFromSha256}`…)");
        md.AppendLine(inv, $"- Intervals: 95% percentile bootstrap over items, {s.BootstrapResamples} resamples, seed {s.Seed}");
        md.AppendLine();
        if (s.Headline is not null)
        {
            md.AppendLine("## What changed").AppendLine();
            md.AppendLine((Remote(s) ? "Each remote model against the first one named" : "Each rung against its own model's F16") + " on the same items (paired bootstrap of the difference; details in " +
                $"[{EffectsTitle(s)}](#{EffectsTitle(s).ToLowerInvariant().Replace(' ', '-')})).").AppendLine();
            md.AppendLine(s.Headline).AppendLine();
        }
        md.AppendLine("AUROC: errors detected by the method's uncertainty (higher is better, 0.5 = chance). ECE (15 equal-width bins) and " +
            "Brier: calibration of the method's confidence (lower is better; n/a for methods without one). AURC: area under the " +
            "risk–coverage curve (lower is better). Tokens/s: llama.cpp decode time during the evaluation itself, prompt " +
            "processing and generation apart. Peak RSS: the process's peak resident memory while the variant ran (weights are " +
            "memory-mapped and count as they are touched). KV: the F16 K/V cache of the context.").AppendLine();

        // A reason shared by several rows (the same missing CUDA build) is printed once, under the table.
        var reasons = s.Variants.Where(v => v.Status != VariantStatus.Ok).Select(v => v.Message ?? "")
            .Concat(s.Variants.Where(v => v.Status == VariantStatus.Ok && v.NotMeasured is not null).Select(v => v.NotMeasured!)).Distinct().ToList();
        md.AppendLine("| variant | model | n | accuracy | method | AUROC | ECE | Brier | AURC | decode tok/s | prompt tok/s | peak RSS | model + KV |");
        md.AppendLine("|---|---|---:|---|---|---|---|---|---|---:|---:|---:|---:|");
        foreach (var v in s.Variants)
        {
            if (v.Status != VariantStatus.Ok)
            {
                md.AppendLine(inv, $"| {Escape(v.Label)} |{(v.ModelPath is null ? "" : " " + Escape(Path.GetFileName(v.ModelPath)))} | | | **{v.Status.ToString().ToLowerInvariant()}** (reason {reasons.IndexOf(v.Message ?? "") + 1} below) | | | | | | | | |");
                continue;
            }
            bool first = true;
            foreach (string m in s.Methods)
            {
                string lead = first
                    ? $"| {Escape(v.Label)} | {(v.Endpoint is not null ? Escape(v.Endpoint) : $"{v.FileType} `{v.ModelSha256}`")} | {v.Count} | {v.Accuracy} "
                    : "| | | | ";
                string perf = first && v.Performance is { } p
                    ? $"| {Rate(p.DecodeTokensPerSecond)} | {Rate(p.PromptTokensPerSecond)} | {Bytes(p.PeakResidentBytes)}{(p.PeakIsPerVariant ? "" : " (process)")} | {Bytes((long)p.ModelBytes)} + {Bytes(p.KvCacheBytes)} |"
                    : first && v.NotMeasured is not null
                        ? string.Concat(Enumerable.Repeat($"| not measured (reason {reasons.IndexOf(v.NotMeasured) + 1}) ", 4)) + "|"
                        : "| | | | |";
                if (v.Methods.TryGetValue(m, out var ms))
                {
                    var e = ms.Metrics;
                    md.AppendLine(inv, $"{lead}| {m} | {e.Ranking.AurocErrorDetection} | {e.Calibration?.EceEqualWidth.ToString() ?? "n/a"} | {e.Calibration?.Brier.ToString() ?? "n/a"} | {e.Selective.Aurc} {perf}");
                }
                else md.AppendLine(inv, $"{lead}| {m} | n/a (no item it applies to) | | | {perf}");
                first = false;
            }
        }
        md.AppendLine();
        for (int r = 0; r < reasons.Count; r++) md.AppendLine(inv, $"Reason {r + 1}: {Escape(reasons[r])}").AppendLine();

        var ok = s.Variants.Where(v => v.Status == VariantStatus.Ok && v.Accuracy is not null).ToList();
        if (ok.Count >= 2 && s.Effects.Count == 0)
        {
            var (a, b) = (ok[0], ok[^1]);
            md.AppendLine($"From {a.Label} to {b.Label}: accuracy {a.Accuracy!.Estimate.ToString("F3")} → {b.Accuracy!.Estimate.ToString("F3")}" +
                string.Concat(s.Methods.Where(m => a.Methods.ContainsKey(m) && b.Methods.ContainsKey(m)).Select(m =>
                    $"; {m} AUROC {a.Methods[m].Metrics.Ranking.AurocErrorDetection.Estimate.ToString("F3")} → {b.Methods[m].Metrics.Ranking.AurocErrorDetection.Estimate.ToString("F3")}" +
                    (a.Methods[m].Metrics.Calibration is { } ca && b.Methods[m].Metrics.Calibration is { } cb ? $", ECE {ca.EceEqualWidth.Estimate.ToString("F3")} → {cb.EceEqualWidth.Estimate.ToString("F3")}" : ""))) +
                ". Overlapping intervals mean the difference is within what resampling the items gives.").AppendLine();
        }

        if (s.Effects.Count > 0) RenderEffects(md, s);

        if (figures.Count > 0)
        {
            md.AppendLine("## Figures").AppendLine();
            foreach (string f in figures) md.AppendLine(inv, $"![{Path.GetFileNameWithoutExtension(f)}]({f})").AppendLine();
        }

        md.AppendLine("## Variants").AppendLine();
        md.AppendLine("| variant | device | status | model file | sha256 (12) | context | quantize s | load s | items s | prompt / generated tokens | results |");
        md.AppendLine("|---|---|---|---|---|---:|---:|---:|---:|---:|---|");
        foreach (var v in s.Variants)
        {
            var p = v.Performance;
            md.AppendLine($"| {Escape(v.Label)} | {ComparisonVariant.DeviceName(v.Device)} | {v.Status.ToString().ToLowerInvariant()} | {(v.Endpoint is not null ? Escape(v.Endpoint) : v.ModelPath is null ? "" : $"`{Escape(Path.GetFileName(v.ModelPath))}`")} | {v.ModelSha256} | " +
                (p is null ? (v.ItemSeconds is { } itemSeconds ? string.Create(inv, $" | | | {itemSeconds:F1} | |") : "| | | | |") : string.Create(inv, $"{p.ContextSize} | {p.QuantizeSeconds:F1} | {p.LoadSeconds:F2} | {p.ItemSeconds:F1} | {p.PromptTokens} / {p.GeneratedTokens} |")) +
                $" {(v.ResultsFolder is null ? "" : $"[{v.ResultsFolder.Replace('\\', '/')}]({v.ResultsFolder.Replace('\\', '/')}/report.md)")} |");
        }
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>The paired differences from each model's F16, and the confident errors, per rung.</summary>
    private static void RenderEffects(StringBuilder md, ComparisonSummary s)
    {
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine($"## {EffectsTitle(s)}").AppendLine();
        md.AppendLine(inv, $"Differences are {(Remote(s) ? "each remote model minus the first one named" : "rung minus the same model's F16")} on the items both answered, with a 95% paired-bootstrap interval " +
            $"(one draw of items per resample for both rungs); **bold** = the interval excludes 0. Confident errors: share of all items " +
            $"answered wrongly with confidence >= {PairedComparison.ConfidentThreshold:0.0}. Bits/weight: the rung's tensor bytes x 8 / parameters.").AppendLine();
        var calibrated = s.Methods.Where(m => s.Effects.Any(e => e.Methods.GetValueOrDefault(m)?.ConfidentErrors is not null)).ToList();
        var accuracyMethod = s.Methods.FirstOrDefault(m => s.Effects.Any(e => e.Methods.ContainsKey(m)));
        var byLabel = s.Variants.ToDictionary(v => v.Label);
        md.AppendLine("| model | rung | bits/weight | accuracy | Δ accuracy |" + string.Concat(calibrated.Select(m => $" {m} ECE | Δ ECE | confident errors | Δ confident errors |")));
        md.AppendLine("|---|---|---:|---|---|" + string.Concat(calibrated.Select(_ => "---|---|---|---|")));
        foreach (var e in s.Effects)
        {
            var v = byLabel[e.Variant];
            var d = accuracyMethod is null ? null : e.Methods.GetValueOrDefault(accuracyMethod)?.Differences;
            md.Append(inv, $"| {Escape(Path.GetFileName(e.Model))} | {Escape(e.Quantization ?? e.Variant)} | {(e.BitsPerWeight is { } b ? b.ToString("F2", inv) : "")} | {v.Accuracy} | {Diff(e.IsBaseline, d?.Accuracy)} |");
            foreach (string m in calibrated)
            {
                var me = e.Methods.GetValueOrDefault(m);
                md.Append(inv, $" {v.Methods.GetValueOrDefault(m)?.Metrics.Calibration?.EceEqualWidth.ToString() ?? "n/a"} | {Diff(e.IsBaseline, me?.Differences?.Ece)} | {me?.ConfidentErrors?.ToString() ?? "n/a"} | {Diff(e.IsBaseline, me?.Differences?.ConfidentErrors)} |");
            }
            md.AppendLine();
        }
        md.AppendLine();
        md.AppendLine("Δ AUROC (error detection) per method, same pairing:").AppendLine();
        var methods = s.Methods.Where(m => s.Effects.Any(e => e.Methods.ContainsKey(m))).ToList();
        md.AppendLine("| model | rung |" + string.Concat(methods.Select(m => $" {m} AUROC | Δ |")));
        md.AppendLine("|---|---|" + string.Concat(methods.Select(_ => "---|---|")));
        foreach (var e in s.Effects)
        {
            var v = byLabel[e.Variant];
            md.Append(inv, $"| {Escape(Path.GetFileName(e.Model))} | {Escape(e.Quantization ?? e.Variant)} |");
            foreach (string m in methods)
                md.Append(inv, $" {v.Methods.GetValueOrDefault(m)?.Metrics.Ranking.AurocErrorDetection.ToString() ?? "n/a"} | {Diff(e.IsBaseline, e.Methods.GetValueOrDefault(m)?.Differences?.Auroc)} |");
            md.AppendLine();
        }
        md.AppendLine();
    }

    private static bool Remote(ComparisonSummary s) => s.Variants.Any(v => v.Device == ComparisonDevice.Remote);

    private static string EffectsTitle(ComparisonSummary s) => Remote(s) ? "Paired differences" : "Size x quantization";

    private static string Diff(bool baseline, Metrics.BootstrapInterval? d) =>
        baseline ? "(baseline)" : d is null ? "n/a" : QuantizationEffects.ExcludesZero(d) ? $"**{QuantizationEffects.Signed(d)}**" : QuantizationEffects.Signed(d);

    private static string Rate(double? perSecond) => perSecond is { } r ? r.ToString("F0", CultureInfo.InvariantCulture) : "n/a";

    private static string Bytes(long? bytes) => bytes switch
    {
        null => "n/a",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes.Value / 1024.0:F0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes.Value / (1024.0 * 1024):F1} MiB"),
    };

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
