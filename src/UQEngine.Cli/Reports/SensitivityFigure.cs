using ScottPlot;
using UQEngine.Evaluation.Sensitivity;

namespace UQEngine.Cli.Reports;

/// <summary>
/// The sensitivity figures: AUROC of every method against the clustering threshold (the threshold-dependent
/// methods) and against the sampling temperature (all methods), at the default K.
/// </summary>
internal static class SensitivityFigure
{
    public const string ThresholdFile = "sensitivity_threshold.png";
    public const string TemperatureFile = "sensitivity_temperature.png";

    public static IReadOnlyList<string> Render(string folder, SensitivityReport report)
    {
        var g = report.Grid;
        var palette = new ScottPlot.Palettes.Category10();
        var methods = report.Rows.Select(r => r.Method).Distinct().ToList();
        var byThreshold = NewPlot($"AUROC vs clustering threshold (T = {g.DefaultTemperature}, K = {g.DefaultSampleCount})", "clustering threshold");
        var byTemperature = NewPlot($"AUROC vs temperature (K = {g.DefaultSampleCount}, threshold {g.DefaultThreshold})", "sampling temperature");
        int thresholdLines = 0, temperatureLines = 0;
        for (int m = 0; m < methods.Count; m++)
        {
            var rows = report.Rows.Where(r => r.Method == methods[m] && r.Auroc.IsDefined).ToList();
            var thr = rows.Where(r => r.Threshold is not null && r.Temperature == g.DefaultTemperature && r.SampleCount == g.DefaultSampleCount).OrderBy(r => r.Threshold).ToList();
            if (thr.Count > 0)
            {
                var s = byThreshold.Add.Scatter(thr.Select(r => r.Threshold!.Value).ToArray(), thr.Select(r => r.Auroc.Value).ToArray());
                s.LegendText = methods[m]; s.Color = palette.GetColor(m); s.LineWidth = 2;
                thresholdLines++;
            }
            var temp = rows.Where(r => r.SampleCount == g.DefaultSampleCount && (r.Threshold is null || r.Threshold == g.DefaultThreshold)).OrderBy(r => r.Temperature).ToList();
            if (temp.Count > 0)
            {
                var s = byTemperature.Add.Scatter(temp.Select(r => r.Temperature).ToArray(), temp.Select(r => r.Auroc.Value).ToArray());
                s.LegendText = methods[m]; s.Color = palette.GetColor(m); s.LineWidth = 2;
                temperatureLines++;
            }
        }
        var written = new List<string>();
        if (thresholdLines > 0) { byThreshold.SavePng(Path.Combine(folder, ThresholdFile), 900, 600); written.Add(ThresholdFile); }
        if (temperatureLines > 0) { byTemperature.SavePng(Path.Combine(folder, TemperatureFile), 900, 600); written.Add(TemperatureFile); }
        return written;
    }

    private static Plot NewPlot(string title, string x)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel("AUROC (error detection)");
        var chance = plot.Add.HorizontalLine(0.5);
        chance.LineColor = Colors.Gray;
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = "chance";
        plot.ShowLegend(Alignment.LowerLeft);
        return plot;
    }
}
