using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Evaluation.Metrics;
using System.Globalization;
using System.Text;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Evaluation.Sensitivity;

/// <summary>The samples of one item at one temperature, as cached: enough to re-score any method without the model.</summary>
/// <param name="Temperature">The sampling temperature.</param>
/// <param name="Texts">The K_max answers.</param>
/// <param name="LogLikelihoods">log P(answer | prompt) of each.</param>
/// <param name="Similarity">The K_max×K_max similarity rows of the run's backend (the first k samples' submatrix serves K = k).</param>
public sealed record CachedSamples(double Temperature, string[] Texts, double[] LogLikelihoods, double[][] Similarity)
{
    public SquareMatrix Matrix(int k)
    {
        var m = new SquareMatrix(k);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) m[i, j] = Similarity[i][j];
        return m;
    }
}

/// <summary>One item of the sensitivity run: its correctness (greedy answer) and its cached samples per temperature.</summary>
public sealed record SensitivityItem(string Id, bool Correct, string Response, IReadOnlyList<CachedSamples> Samples);

/// <summary>The grid. The default setting is the reference the item rankings are compared with.</summary>
public sealed record SensitivityGrid
{
    public required IReadOnlyList<double> Thresholds { get; init; }
    public required IReadOnlyList<double> Temperatures { get; init; }
    public required IReadOnlyList<int> SampleCounts { get; init; }
    public required double DefaultThreshold { get; init; }
    public required double DefaultTemperature { get; init; }
    public required int DefaultSampleCount { get; init; }

    /// <summary>An item is "confident" when its uncertainty is at most this quantile of the method's uncertainties.</summary>
    public double ConfidentQuantile { get; init; } = 0.2;

    public int MaxSampleCount => SampleCounts.Max();

    public void Validate()
    {
        if (Thresholds.Count == 0 || Temperatures.Count == 0 || SampleCounts.Count == 0) throw new ArgumentException("every grid axis needs at least one value");
        foreach (double t in Thresholds) if (!(t >= 0 && t <= 1)) throw new ArgumentException($"threshold {t} is outside [0, 1]");
        foreach (double t in Temperatures) if (!(t > 0) || !double.IsFinite(t)) throw new ArgumentException($"temperature {t} must be > 0");
        foreach (int k in SampleCounts) if (k < 1) throw new ArgumentException($"sample count {k} must be at least 1");
        if (!Thresholds.Contains(DefaultThreshold)) throw new ArgumentException($"the default threshold {DefaultThreshold} must be one of the thresholds");
        if (!Temperatures.Contains(DefaultTemperature)) throw new ArgumentException($"the default temperature {DefaultTemperature} must be one of the temperatures");
        if (!SampleCounts.Contains(DefaultSampleCount)) throw new ArgumentException($"the default K {DefaultSampleCount} must be one of the sample counts");
        if (!(ConfidentQuantile >= 0 && ConfidentQuantile <= 1)) throw new ArgumentException($"the confident quantile {ConfidentQuantile} is outside [0, 1]");
    }
}

/// <summary>One method at one grid point.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Temperature">The sampling temperature.</param>
/// <param name="SampleCount">K: the first K cached samples.</param>
/// <param name="Threshold">Null for the methods the threshold does not affect.</param>
/// <param name="Spearman">Spearman's ρ of the item uncertainties against the method's default setting (null when undefined).</param>
/// <param name="Auroc">AUROC of error detection (wrong answers as positives).</param>
/// <param name="Kendall">Kendall's τ-b against the default setting.</param>
/// <param name="ConfidentErrors">Wrong answers among the items at or below the confident quantile of uncertainty.</param>
/// <param name="IsDefault">True for the default setting (the reference of ρ and τ).</param>
public sealed record SensitivityRow(string Method, double Temperature, int SampleCount, double? Threshold, MetricValue Auroc, double? Spearman, double? Kendall,
    ConfidentErrorCount ConfidentErrors, bool IsDefault);

/// <summary>Everything the report shows.</summary>
public sealed record SensitivityReport(int Items, int Correct, IReadOnlyList<SensitivityRow> Rows, IReadOnlyDictionary<string, TsuResult> TemperatureSensitivity, SensitivityGrid Grid);

/// <summary>
/// Re-scores cached samples over a grid of clustering threshold × sampling temperature × K (the first k of the
/// K_max cached samples), and reports per method and setting the AUROC of error detection, how the item ranking
/// moves against the default setting (Spearman, Kendall), and the confident errors (uncertainty at most the
/// <see cref="SensitivityGrid.ConfidentQuantile"/>-quantile and a wrong answer). Also TSU over the temperature
/// ladder at the default K and threshold. The methods are the catalog's (<see cref="MethodCatalog"/>), run on the cache.
/// </summary>
public static class SensitivityAnalysis
{
    /// <summary>What the cache holds per item and temperature: the samples (texts, likelihoods) and their similarity matrix.</summary>
    public static readonly IReadOnlySet<string> CachedStatistics = new HashSet<string>(StringComparer.Ordinal) { SampleStatisticNames.Samples, SampleStatisticNames.SampleSimilarity };

    /// <summary>Methods that can be re-scored from cached samples: the catalog's methods that read nothing else.</summary>
    public static IReadOnlyList<string> Methods => [.. MethodCatalog.Default.ComputableFrom(CachedStatistics).Select(m => m.Descriptor.Name)];

    /// <summary>The methods whose value depends on the clustering threshold.</summary>
    public static bool UsesThreshold(string method) => Rescorable(method).Descriptor.Settings.Contains(SampleSettings.ClusterThresholdKey);

    /// <summary>A method's uncertainty on the first <paramref name="k"/> cached samples.</summary>
    public static double Score(string method, CachedSamples samples, int k, double threshold, SampleSettings settings)
    {
        var m = Rescorable(method);
        if (k > samples.Texts.Length) throw new ArgumentOutOfRangeException(nameof(k), k, $"only {samples.Texts.Length} samples are cached");
        var statistics = new StatisticValues(Rescored)
            .Add(SampleStatisticNames.Samples, SampleSet.FromTexts(samples.Texts[..k], samples.LogLikelihoods[..k]))
            .Add(SampleStatisticNames.SampleSimilarity, new SentenceSimilarityResult(samples.Matrix(k), null));
        return m.Estimate(statistics, settings with { ClusterThreshold = threshold }).Uncertainty;
    }

    private static readonly EvaluationItem Rescored = new() { Id = "cached", Question = "", Kind = EvaluationItemKind.OpenAnswer, Answer = "" };

    private static IUncertaintyMethod Rescorable(string method) =>
        MethodCatalog.Default.TryGet(method, out var m) && m.Descriptor.ComputableFrom(CachedStatistics) ? m
        : throw new ArgumentException($"'{method}' cannot be re-scored from cached samples; these can: {string.Join(", ", Methods)}", nameof(method));

    public static SensitivityReport Analyze(IReadOnlyList<SensitivityItem> items, SensitivityGrid grid, SampleSettings settings, IReadOnlyList<string> methods)
    {
        ArgumentNullException.ThrowIfNull(items);
        grid.Validate();
        foreach (var item in items)
            foreach (double t in grid.Temperatures)
            {
                var s = item.Samples.FirstOrDefault(c => c.Temperature == t) ?? throw new ArgumentException($"item '{item.Id}' has no cached samples at temperature {t}");
                if (s.Texts.Length < grid.MaxSampleCount) throw new ArgumentException($"item '{item.Id}' has {s.Texts.Length} samples at temperature {t}; the grid needs {grid.MaxSampleCount}");
            }
        bool[] correct = [.. items.Select(i => i.Correct)];
        var rows = new List<SensitivityRow>();
        var tsu = new Dictionary<string, TsuResult>(StringComparer.Ordinal);
        foreach (string method in methods)
        {
            double[] Uncertainties(double t, int k, double thr) =>
                [.. items.Select(i => Score(method, i.Samples.First(c => c.Temperature == t), k, thr, settings))];
            double[] reference = Uncertainties(grid.DefaultTemperature, grid.DefaultSampleCount, grid.DefaultThreshold);
            IEnumerable<double?> thresholds = UsesThreshold(method) ? grid.Thresholds.Select(t => (double?)t) : [null];
            foreach (double t in grid.Temperatures)
                foreach (int k in grid.SampleCounts)
                    foreach (double? thr in thresholds)
                    {
                        double[] u = Uncertainties(t, k, thr ?? grid.DefaultThreshold);
                        bool isDefault = t == grid.DefaultTemperature && k == grid.DefaultSampleCount && (thr is null || thr == grid.DefaultThreshold);
                        rows.Add(new SensitivityRow(method, t, k, thr, RankingMetrics.AurocErrorDetection(u, correct),
                            RankCorrelation.Spearman(u, reference), RankCorrelation.KendallTauB(u, reference),
                            ConfidentErrors.CountAtQuantile(u, correct, grid.ConfidentQuantile), isDefault));
                    }
            if (grid.Temperatures.Count >= 2)
            {
                double[] ladder = [.. grid.Temperatures.Order()];
                var perItem = items.Select(i => ladder.Select(t => Score(method, i.Samples.First(c => c.Temperature == t), grid.DefaultSampleCount, grid.DefaultThreshold, settings)).ToArray()).ToList();
                tsu[method] = TemperatureSensitivity.Compute(ladder, perItem);
            }
        }
        return new SensitivityReport(items.Count, correct.Count(c => c), rows, tsu, grid);
    }

    /// <summary>The Markdown report: one table per method, then TSU.</summary>
    public static string Markdown(SensitivityReport report, IReadOnlyList<string> figures, string? command = null)
    {
        static string F(double? v, string format = "F3") => v is double d ? d.ToString(format, CultureInfo.InvariantCulture) : "–";
        var g = report.Grid;
        var sb = new StringBuilder();
        sb.AppendLine("# Sensitivity of the sampling methods");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{report.Items} items, {report.Correct} correct (greedy answer). Default setting: threshold {g.DefaultThreshold}, temperature {g.DefaultTemperature}, K = {g.DefaultSampleCount} (marked **bold**). ");
        sb.AppendLine(CultureInfo.InvariantCulture, $"ρ / τ: Spearman / Kendall τ-b of the item uncertainties against the method's default setting. Confident errors: wrong answers among the items at or below the {g.ConfidentQuantile:P0} quantile of uncertainty.");
        if (command is not null) { sb.AppendLine(); sb.AppendLine("```"); sb.AppendLine(command); sb.AppendLine("```"); }
        foreach (var group in report.Rows.GroupBy(r => r.Method))
        {
            sb.AppendLine();
            sb.AppendLine($"## {group.Key}");
            sb.AppendLine();
            bool thr = group.Any(r => r.Threshold is not null);
            sb.AppendLine(thr ? "| temperature | K | threshold | AUROC | ρ | τ | confident errors |" : "| temperature | K | AUROC | ρ | τ | confident errors |");
            sb.AppendLine(thr ? "|---:|---:|---:|---:|---:|---:|---:|" : "|---:|---:|---:|---:|---:|---:|");
            foreach (var r in group)
            {
                string auroc = r.Auroc.IsDefined ? F(r.Auroc.Value) : "n/a";
                string errors = $"{r.ConfidentErrors.Count}/{r.ConfidentErrors.Confident}";
                string Cell(string s) => r.IsDefault ? $"**{s}**" : s;
                var cells = new List<string> { F(r.Temperature, "0.##"), r.SampleCount.ToString(CultureInfo.InvariantCulture) };
                if (thr) cells.Add(F(r.Threshold, "0.##"));
                cells.AddRange([auroc, F(r.Spearman), F(r.Kendall), errors]);
                sb.AppendLine("| " + string.Join(" | ", cells.Select(Cell)) + " |");
            }
        }
        if (report.TemperatureSensitivity.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Temperature sensitivity (TSU, no labels needed)");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Per item, Spearman's ρ between temperature and uncertainty over the ladder {string.Join(", ", g.Temperatures.Order().Select(t => t.ToString(CultureInfo.InvariantCulture)))} at K = {g.DefaultSampleCount}, threshold {g.DefaultThreshold}; a faithful method rises with temperature.");
            sb.AppendLine();
            sb.AppendLine("| method | mean ρ | items with ρ | strictly rising |");
            sb.AppendLine("|---|---:|---:|---:|");
            foreach (var (m, t) in report.TemperatureSensitivity)
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {m} | {F(t.MeanSpearman)} | {t.ItemsWithCorrelation}/{t.Items} | {t.FractionMonotone:P0} |");
        }
        foreach (string f in figures) { sb.AppendLine(); sb.AppendLine($"![{f}]({f})"); }
        return sb.ToString();
    }
}
