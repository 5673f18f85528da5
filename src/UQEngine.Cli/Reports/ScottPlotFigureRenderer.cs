using ScottPlot;
using UQEngine.Evaluation.Runner;

namespace UQEngine.Cli.Reports;

/// <summary>
/// PNG figures with every method overlaid: a reliability diagram (accuracy against mean confidence per non-empty
/// equal-width bin, diagonal = perfect calibration; methods without confidences are left out) and risk–coverage
/// curves (error rate of the most certain fraction of items).
/// </summary>
internal sealed class ScottPlotFigureRenderer : IEvaluationFigureRenderer
{
    public const string ReliabilityFile = "reliability.png";
    public const string RiskCoverageFile = "risk_coverage.png";
    private const int Width = 900, Height = 650;

    public IReadOnlyList<string> Render(string folder, IReadOnlyList<MethodCurves> methods)
    {
        var written = new List<string>();
        // One colour per method in both figures, so a method is recognisable across them.
        var palette = new ScottPlot.Palettes.Category10();
        Color ColorOf(MethodCurves m) => palette.GetColor(IndexOf(methods, m));
        var calibrated = methods.Where(m => m.Reliability is { Bins.Count: > 0 }).ToList();
        if (calibrated.Count > 0)
        {
            var plot = NewPlot("Reliability diagram", "Mean confidence (bin)", "Accuracy (bin)");
            var diagonal = plot.Add.Line(0, 0, 1, 1);
            diagonal.LineColor = Colors.Gray;
            diagonal.LinePattern = LinePattern.Dashed;
            diagonal.LegendText = "perfect calibration";
            foreach (var m in calibrated)
            {
                var bins = m.Reliability!.Bins;
                var s = plot.Add.Scatter(bins.Select(b => b.MeanConfidence).ToArray(), bins.Select(b => b.Accuracy).ToArray());
                s.LegendText = $"{m.Method} (n={m.Reliability.TotalCount})";
                s.Color = ColorOf(m);
                s.LineWidth = 2;
                s.MarkerSize = 8;
            }
            Save(plot, folder, ReliabilityFile, written);
        }
        var curves = methods.Where(m => m.RiskCoverage.Coverage.Count > 0).ToList();
        if (curves.Count > 0)
        {
            var plot = NewPlot("Risk–coverage (lower is better)", "Coverage (fraction of items kept, most certain first)", "Risk (error rate of kept items)");
            // Random abstention keeps the overall error rate at every coverage: the reference a method must beat.
            double overallRisk = curves[0].RiskCoverage.Risk[^1];
            var random = plot.Add.HorizontalLine(overallRisk);
            random.LineColor = Colors.Gray;
            random.LinePattern = LinePattern.Dashed;
            random.LegendText = "random order";
            foreach (var m in curves)
            {
                var s = plot.Add.Scatter(m.RiskCoverage.Coverage.ToArray(), m.RiskCoverage.Risk.ToArray());
                s.LegendText = $"{m.Method} (n={m.RiskCoverage.Coverage.Count})";
                s.Color = ColorOf(m);
                s.LineWidth = 2;
                s.MarkerSize = 0;
            }
            Save(plot, folder, RiskCoverageFile, written);
        }
        return written;
    }

    private static int IndexOf(IReadOnlyList<MethodCurves> methods, MethodCurves m)
    {
        for (int i = 0; i < methods.Count; i++) if (ReferenceEquals(methods[i], m)) return i;
        return 0;
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.1);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.1);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static void Save(Plot plot, string folder, string name, List<string> written)
    {
        plot.SavePng(Path.Combine(folder, name), Width, Height);
        written.Add(name);
    }
}
