using ScottPlot;
using UQEngine.Evaluation.Decisions;

using UQEngine.Evaluation.Probes;

namespace UQEngine.Cli.Reports;

/// <summary>PNG figures of the probe sweep (AUROC by layer) and of the escalation simulation.</summary>
internal static class ProbePlots
{
    public static void SweepPng(string path, IReadOnlyList<SweepRow> rows, int layerCount)
    {
        var plot = new Plot();
        plot.Title("Probe AUROC by layer (held-out answers)");
        plot.XLabel($"Layer (0 = embeddings, {layerCount} = final hidden state)");
        plot.YLabel("AUROC of correctness");
        var chance = plot.Add.HorizontalLine(0.5);
        chance.LineColor = Colors.Gray;
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = "chance";
        var palette = new ScottPlot.Palettes.Category10();
        int colour = 0;
        foreach (var (name, values) in new[] { ("last token", rows.Select(r => r.LastTokenAuroc)), ("mean over answer", rows.Select(r => r.MeanAuroc)) })
        {
            var pts = rows.Zip(values).Where(p => p.Second is not null).ToList();
            if (pts.Count == 0) continue;
            var s = plot.Add.Scatter(pts.Select(p => (double)p.First.Layer).ToArray(), pts.Select(p => p.Second!.Value).ToArray());
            s.LegendText = name;
            s.Color = palette.GetColor(colour++);
            s.LineWidth = 2;
            s.MarkerSize = 8;
        }
        plot.Axes.SetLimits(-0.3, layerCount + 0.3, 0, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 900, 650);
    }

    public static void EscalationPng(string path, IReadOnlyList<EscalationCurve> curves, string fallback)
    {
        var plot = new Plot();
        plot.Title($"Answer or escalate to {fallback}");
        plot.XLabel("Fraction of items escalated (least confident first)");
        plot.YLabel("Accuracy over all items");
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < curves.Count; i++)
        {
            var c = curves[i];
            var s = plot.Add.Scatter(c.Points.Select(p => p.FractionEscalated).ToArray(), c.Points.Select(p => p.Accuracy).ToArray());
            s.LegendText = c.Method;
            s.Color = palette.GetColor(i);
            s.LineWidth = 2;
            s.MarkerSize = 0;
            s.ConnectStyle = ConnectStyle.StepHorizontal;
        }
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 900, 650);
    }
}
