using ScottPlot;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Comparison;

namespace UQEngine.Cli.Reports;

/// <summary>
/// The comparison's PNG figures, variants side by side on the x axis: accuracy, each method's AUROC and each
/// confidence-giving method's ECE, all with their 95% bootstrap intervals as error bars; and per such method a
/// reliability diagram with every variant overlaid. Variants that did not run are left out.
/// </summary>
internal sealed class ScottPlotComparisonRenderer : IComparisonFigureRenderer
{
    public const string AccuracyFile = "accuracy.png";
    public const string AurocFile = "auroc.png";
    public const string EceFile = "ece.png";
    private const int Height = 650;

    public IReadOnlyList<string> Render(string folder, ComparisonSummary summary)
    {
        var written = new List<string>();
        var ok = summary.Variants.Where(v => v.Status == VariantStatus.Ok).ToList();
        if (ok.Count == 0) return written;
        int width = Math.Max(900, 120 * ok.Count);
        var palette = new ScottPlot.Palettes.Category10();

        var accuracy = NewPlot("Accuracy per variant (95% bootstrap interval)", "Accuracy", ok);
        AddSeries(accuracy, ok.Select(v => v.Accuracy).ToList(), 0, palette.GetColor(0), "accuracy");
        Save(accuracy, folder, AccuracyFile, width, written);

        var methods = summary.Methods.Where(m => ok.Any(v => v.Methods.ContainsKey(m))).ToList();
        if (methods.Count > 0)
        {
            var auroc = NewPlot("AUROC of error detection per variant (higher is better; 0.5 = chance)", "AUROC", ok);
            var chance = auroc.Add.HorizontalLine(0.5);
            chance.LineColor = Colors.Gray;
            chance.LinePattern = LinePattern.Dashed;
            for (int m = 0; m < methods.Count; m++)
                AddSeries(auroc, ok.Select(v => v.Methods.GetValueOrDefault(methods[m])?.Metrics.Ranking.AurocErrorDetection).ToList(), Offset(m, methods.Count), palette.GetColor(m), methods[m]);
            auroc.ShowLegend(Alignment.LowerRight); // AUROCs sit near the top; the space below the chance line is free
            Save(auroc, folder, AurocFile, width, written);
        }

        var calibrated = methods.Where(m => ok.Any(v => v.Methods.GetValueOrDefault(m)?.Metrics.Calibration is not null)).ToList();
        if (calibrated.Count > 0)
        {
            var ece = NewPlot("ECE per variant (15 equal-width bins; lower is better)", "ECE", ok);
            for (int m = 0; m < calibrated.Count; m++)
                AddSeries(ece, ok.Select(v => v.Methods.GetValueOrDefault(calibrated[m])?.Metrics.Calibration?.EceEqualWidth).ToList(), Offset(m, calibrated.Count), palette.GetColor(methods.IndexOf(calibrated[m])), calibrated[m]);
            ece.ShowLegend(Alignment.UpperRight);
            Save(ece, folder, EceFile, width, written);

            foreach (string m in calibrated)
            {
                var plot = new Plot();
                plot.Title($"Reliability of {m}, variants overlaid");
                plot.XLabel("Mean confidence (bin)");
                plot.YLabel("Accuracy (bin)");
                plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
                var diagonal = plot.Add.Line(0, 0, 1, 1);
                diagonal.LineColor = Colors.Gray;
                diagonal.LinePattern = LinePattern.Dashed;
                diagonal.LegendText = "perfect calibration";
                for (int i = 0; i < ok.Count; i++)
                {
                    if (ok[i].Methods.GetValueOrDefault(m)?.Metrics.Calibration?.ReliabilityEqualWidth is not { Bins.Count: > 0 } r) continue;
                    var s = plot.Add.Scatter(r.Bins.Select(b => b.MeanConfidence).ToArray(), r.Bins.Select(b => b.Accuracy).ToArray());
                    s.LegendText = ok[i].Label;
                    s.Color = palette.GetColor(i);
                    s.LineWidth = 2;
                    s.MarkerSize = 7;
                }
                plot.ShowLegend(Alignment.UpperLeft);
                Save(plot, folder, $"reliability_{m}.png", 900, written);
            }
        }
        return written;
    }

    /// <summary>Methods sit side by side around each variant's x position.</summary>
    private static double Offset(int index, int count) => count == 1 ? 0 : (index - (count - 1) / 2.0) * (0.6 / count);

    private static Plot NewPlot(string title, string y, IReadOnlyList<VariantOutcome> variants)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.YLabel(y);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, variants.Count).Select(i => (double)i)], [.. variants.Select(v => v.Label)]);
        plot.Axes.SetLimits(-0.6, variants.Count - 0.4, 0, 1.05);
        return plot;
    }

    /// <summary>Points at the estimates with error bars to the interval bounds; undefined values are left out.</summary>
    private static void AddSeries(Plot plot, IReadOnlyList<BootstrapInterval?> values, double offset, Color color, string name)
    {
        var xs = new List<double>(); var ys = new List<double>(); var below = new List<double>(); var above = new List<double>();
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is not { } v || !v.Estimate.TryGetValue(out double y)) continue;
            xs.Add(i + offset);
            ys.Add(y);
            below.Add(v.Lower.TryGetValue(out double lo) ? Math.Max(0, y - lo) : 0);
            above.Add(v.Upper.TryGetValue(out double hi) ? Math.Max(0, hi - y) : 0);
        }
        if (xs.Count == 0) return;
        // Set by name: the constructor's last two arguments are (positive, negative), the reverse of reading order.
        var bars = new ScottPlot.Plottables.ErrorBar(xs, ys, null, null, above, below) { YErrorPositive = above, YErrorNegative = below, Color = color };
        plot.Add.Plottable(bars);
        var points = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
        points.LineWidth = 0;
        points.MarkerSize = 9;
        points.Color = color;
        points.LegendText = name;
    }

    private static void Save(Plot plot, string folder, string name, int width, List<string> written)
    {
        plot.SavePng(Path.Combine(folder, name), width, Height);
        written.Add(name);
    }
}
