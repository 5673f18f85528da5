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
        if (summary.Effects.Count > 0)
        {
            // Size x quantization: the per-variant figures would put 24 labels on one axis; metrics against bits read better.
            RenderBits(folder, summary, ok, written);
            return written;
        }
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
                var plot = ReliabilityPlot($"Reliability of {m}, variants overlaid", "perfect calibration");
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

    /// <summary>
    /// Each metric against bits per weight, one line per model (error bars = 95% bootstrap interval), for the first
    /// method with confidences (AUROC and AURC for every method); and per model the reliability of F16 and the lowest
    /// rung side by side.
    /// </summary>
    private static void RenderBits(string folder, ComparisonSummary summary, IReadOnlyList<VariantOutcome> ok, List<string> written)
    {
        var palette = new ScottPlot.Palettes.Category10();
        var models = ok.Where(v => v.BitsPerWeight is not null).GroupBy(v => v.Model ?? v.QuantizedFrom ?? "").ToList();
        if (models.Count == 0) return;
        string? primary = summary.Methods.FirstOrDefault(m => ok.Any(v => v.Methods.GetValueOrDefault(m)?.Metrics.Calibration is not null));
        var effects = summary.Effects.ToDictionary(e => e.Variant);

        void Line(string file, string title, string y, Func<VariantOutcome, BootstrapInterval?> value, bool unitRange = true)
        {
            var plot = new Plot();
            plot.Title(title);
            plot.XLabel("Bits per weight (tensor bytes x 8 / parameters)");
            plot.YLabel(y);
            for (int g = 0; g < models.Count; g++)
            {
                var rows = models[g].OrderBy(v => v.BitsPerWeight).Select(v => (X: v.BitsPerWeight!.Value, I: value(v))).Where(r => r.I is not null && r.I.Estimate.IsDefined).ToList();
                if (rows.Count == 0) continue;
                var xs = rows.Select(r => r.X).ToList();
                var ys = rows.Select(r => r.I!.Estimate.TryGetValue(out double e) ? e : 0).ToList();
                var above = rows.Select((r, i) => r.I!.Upper.TryGetValue(out double hi) ? Math.Max(0, hi - ys[i]) : 0).ToList();
                var below = rows.Select((r, i) => r.I!.Lower.TryGetValue(out double lo) ? Math.Max(0, ys[i] - lo) : 0).ToList();
                var color = palette.GetColor(g);
                plot.Add.Plottable(new ScottPlot.Plottables.ErrorBar(xs, ys, null, null, above, below) { YErrorPositive = above, YErrorNegative = below, Color = color });
                var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
                line.Color = color;
                line.LineWidth = 2;
                line.MarkerSize = 7;
                line.LegendText = Path.GetFileName(models[g].Key);
            }
            if (unitRange) plot.Axes.SetLimitsY(0, 1.05);
            plot.ShowLegend(Alignment.LowerRight);
            Save(plot, folder, file, 900, written);
        }

        Line("bits_accuracy.png", "Accuracy against bits per weight, one line per model size", "Accuracy", v => v.Accuracy);
        foreach (string m in summary.Methods.Where(m => ok.Any(v => v.Methods.ContainsKey(m))))
        {
            Line($"bits_auroc_{m}.png", $"AUROC of {m} (error detection) against bits per weight", "AUROC", v => v.Methods.GetValueOrDefault(m)?.Metrics.Ranking.AurocErrorDetection);
            Line($"bits_aurc_{m}.png", $"AURC of {m} (lower is better) against bits per weight", "AURC", v => v.Methods.GetValueOrDefault(m)?.Metrics.Selective.Aurc);
        }
        if (primary is null) return;
        Line($"bits_ece_{primary}.png", $"ECE of {primary} (15 bins; lower is better) against bits per weight", "ECE", v => v.Methods.GetValueOrDefault(primary)?.Metrics.Calibration?.EceEqualWidth, unitRange: false);
        Line($"bits_brier_{primary}.png", $"Brier score of {primary} (lower is better) against bits per weight", "Brier", v => v.Methods.GetValueOrDefault(primary)?.Metrics.Calibration?.Brier, unitRange: false);
        Line($"bits_confident_errors_{primary}.png", $"Confident errors: wrong with {primary} >= {PairedComparison.ConfidentThreshold:0.0}, share of items", "Share of items",
            v => effects.GetValueOrDefault(v.Label)?.Methods.GetValueOrDefault(primary)?.ConfidentErrors, unitRange: false);

        // F16 and the lowest rung of each model, side by side.
        foreach (var model in models)
        {
            var rungs = model.OrderByDescending(v => v.BitsPerWeight).ToList();
            var pair = new[] { rungs.FirstOrDefault(v => v.Quantization == "F16") ?? rungs[0], rungs[^1] };
            if (pair[0] == pair[1]) continue;
            var panels = new List<byte[]>();
            for (int i = 0; i < 2; i++)
            {
                var v = pair[i];
                var plot = ReliabilityPlot($"{Path.GetFileName(model.Key)} {v.Quantization ?? v.Label}: reliability of {primary}");
                if (v.Methods.GetValueOrDefault(primary)?.Metrics.Calibration is not { ReliabilityEqualWidth.Bins.Count: > 0 } c) { panels.Add(plot.GetImage(PanelWidth, Height).GetImageBytes()); continue; }
                var bins = c.ReliabilityEqualWidth.Bins;
                // Marker area follows the bin's item count, so a lone item in a bin does not look like a trend.
                int most = bins.Max(b => b.Count);
                for (int b = 0; b < bins.Count; b++)
                {
                    var marker = plot.Add.Marker(bins[b].MeanConfidence, bins[b].Accuracy);
                    marker.Size = (float)(6 + 24 * Math.Sqrt(bins[b].Count / (double)most));
                    marker.Color = palette.GetColor(i == 0 ? 0 : 3).WithAlpha(0.7);
                }
                var line = plot.Add.Scatter(bins.Select(b => b.MeanConfidence).ToArray(), bins.Select(b => b.Accuracy).ToArray());
                line.Color = palette.GetColor(i == 0 ? 0 : 3);
                line.MarkerSize = 0;
                line.LegendText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ECE {c.EceEqualWidth.Estimate.ToString("F3")}, n = {c.ReliabilityEqualWidth.TotalCount}");
                plot.ShowLegend(Alignment.UpperLeft);
                panels.Add(plot.GetImage(PanelWidth, Height).GetImageBytes());
            }
            string file = $"reliability_{Path.GetFileName(model.Key)}_{pair[0].Quantization}_vs_{pair[1].Quantization}.png".ToLowerInvariant();
            SideBySide(panels, Path.Combine(folder, file));
            written.Add(file);
        }
    }

    private const int PanelWidth = 700;

    /// <summary>PNG panels of equal size in one row.</summary>
    private static void SideBySide(IReadOnlyList<byte[]> panels, string path)
    {
        using var canvasBitmap = new SkiaSharp.SKBitmap(PanelWidth * panels.Count, Height);
        using (var canvas = new SkiaSharp.SKCanvas(canvasBitmap))
        {
            canvas.Clear(SkiaSharp.SKColors.White);
            for (int i = 0; i < panels.Count; i++)
            {
                using var panel = SkiaSharp.SKBitmap.Decode(panels[i]);
                canvas.DrawBitmap(panel, i * PanelWidth, 0);
            }
        }
        using var image = SkiaSharp.SKImage.FromBitmap(canvasBitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
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

    /// <summary>Empty reliability axes: confidence vs accuracy on [0, 1], with the dashed diagonal of perfect calibration.</summary>
    private static Plot ReliabilityPlot(string title, string? diagonalLegend = null)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("Mean confidence (bin)");
        plot.YLabel("Accuracy (bin)");
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LineColor = Colors.Gray;
        diagonal.LinePattern = LinePattern.Dashed;
        if (diagonalLegend is not null) diagonal.LegendText = diagonalLegend;
        return plot;
    }
}
