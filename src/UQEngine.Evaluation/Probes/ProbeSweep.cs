using System.Globalization;
using System.Text;
using UQEngine.Evaluation.Metrics;
using UQEngine.Methods.Probes;

namespace UQEngine.Evaluation.Probes;

/// <summary>One layer's result in a sweep.</summary>
public sealed record SweepRow(int Layer, string LayerName, double? LastTokenAuroc, double? MeanAuroc, int TrainCount, int TestCount);

/// <summary>Per-layer probes on one set of graded answers: train on a stratified part, AUROC on the rest.</summary>
public static class ProbeSweep
{
    public static List<SweepRow> Run(IReadOnlyList<GradedExample> examples, bool[] labels, IReadOnlyList<int> layers, int layerCount, double l2, double testFraction, int seed)
    {
        var (train, test) = ProbeTrainer.StratifiedSplit(labels, testFraction, seed);
        if (test.Count == 0 || test.All(i => labels[i]) || test.All(i => !labels[i]))
            throw new ArgumentException($"the held-out part ({test.Count} answers) needs both correct and wrong answers; use more items or a larger --test-fraction");
        var rows = new List<SweepRow>();
        foreach (int layer in layers.Order())
        {
            double? Auroc(HiddenFeatureKind kind)
            {
                var spec = new ProbeFeatureSpec(layer, kind, false);
                var w = ProbeTrainer.Train([.. train.Select(i => examples[i].Features.Vector(spec))], [.. train.Select(i => labels[i])], new ProbeTrainingOptions { L2 = l2, CalibrationFraction = 0, Seed = seed });
                return RankingMetrics.Auroc(test.Select(i => w.Logit(examples[i].Features.Vector(spec))).ToArray(), test.Select(i => labels[i]).ToArray()).AsNullable;
            }
            rows.Add(new SweepRow(layer, layer == layerCount ? $"{layer} (final)" : layer == 0 ? "0 (embeddings)" : layer.ToString(CultureInfo.InvariantCulture),
                Auroc(HiddenFeatureKind.LastToken), Auroc(HiddenFeatureKind.MeanOverAnswer), train.Count, test.Count));
        }
        return rows;
    }

    public static string Markdown(IReadOnlyList<SweepRow> rows, ModelIdentity reader, ModelIdentity? writer, int items, int correct, string command)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Probe sweep: AUROC of correctness by layer").AppendLine();
        sb.AppendLine($"Model {reader}" + (writer is null ? "" : $", reading answers written by {writer}") + ".");
        sb.AppendLine($"{items} graded answers ({correct} correct); logistic probes trained on {rows.FirstOrDefault()?.TrainCount} and scored on {rows.FirstOrDefault()?.TestCount} held-out answers.").AppendLine();
        sb.AppendLine($"Command: `{command}`").AppendLine();
        sb.AppendLine("| layer | last-token AUROC | mean AUROC |").AppendLine("| --- | --- | --- |");
        foreach (var r in rows) sb.AppendLine($"| {r.LayerName} | {Fmt(r.LastTokenAuroc)} | {Fmt(r.MeanAuroc)} |");
        sb.AppendLine().AppendLine("![AUROC by layer](sweep.png)");
        return sb.ToString();
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "n/a";
}
