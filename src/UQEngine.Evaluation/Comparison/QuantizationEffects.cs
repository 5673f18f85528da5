using System.Globalization;
using System.Text;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Runner;

namespace UQEngine.Evaluation.Comparison;

/// <summary>One method's scores on items aligned with another variant's (same items, same order).</summary>
/// <param name="Correct">Whether each answer was graded correct.</param>
/// <param name="Uncertainty">The method's uncertainty (higher = less sure).</param>
/// <param name="Confidence">The method's confidence in [0, 1], or null for methods without one (no ECE, no confident errors).</param>
public sealed record PairedScores(bool[] Correct, double[] Uncertainty, double[]? Confidence)
{
    internal void Check(string name)
    {
        if (Uncertainty.Length != Correct.Length || (Confidence is not null && Confidence.Length != Correct.Length))
            throw new ArgumentException($"{name}: correct, uncertainty and confidence must have one value per item ({Correct.Length}, {Uncertainty.Length}, {Confidence?.Length})");
    }
}

/// <summary>
/// Variant minus baseline on the same items, each with a 95% paired-bootstrap interval: every resample draws one set
/// of item indices and computes both variants' metric on it, so the item-to-item correlation is kept (the interval of a
/// difference is much narrower than two overlapping marginal intervals suggest). An interval that excludes 0 is a
/// change the resampling of items does not explain.
/// </summary>
/// <param name="Pairs">Items both variants answered.</param>
/// <param name="Accuracy">Accuracy difference.</param>
/// <param name="Auroc">AUROC (error detection) difference.</param>
/// <param name="Ece">ECE (15 equal-width bins) difference; null without confidences.</param>
/// <param name="ConfidentErrors">Difference of the confident-error share; null without confidences.</param>
public sealed record PairedDifferences(int Pairs, BootstrapInterval Accuracy, BootstrapInterval Auroc, BootstrapInterval? Ece, BootstrapInterval? ConfidentErrors);

/// <summary>One method on one rung: its confident errors, and its differences from the baseline rung.</summary>
/// <param name="ConfidentErrors">Share of items answered wrongly with confidence &gt;= <see cref="PairedComparison.ConfidentThreshold"/>; null without confidences.</param>
/// <param name="Differences">Against the model's F16 rung; null on the baseline itself or when it did not run.</param>
public sealed record MethodEffect(BootstrapInterval? ConfidentErrors, PairedDifferences? Differences);

/// <summary>One rung of one model against that model's baseline rung (F16), item by item.</summary>
public sealed record RungEffect(
    string Model, string Variant, string? Quantization, double? BitsPerWeight, string Baseline, bool IsBaseline,
    IReadOnlyDictionary<string, MethodEffect> Methods);

/// <summary>The paired bootstrap and the confident-error share, on plain arrays.</summary>
public static class PairedComparison
{
    /// <summary>Confidence from which a wrong answer counts as a confident error.</summary>
    public const double ConfidentThreshold = 0.9;

    /// <summary>Share of items that are wrong and have confidence &gt;= <paramref name="threshold"/> (of all items, not of the errors).</summary>
    public static double ConfidentErrorShare(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct, double threshold = ConfidentThreshold)
    {
        if (confidence.Length != correct.Length) throw new ArgumentException($"confidence has {confidence.Length} values, correct {correct.Length}");
        if (correct.IsEmpty) return double.NaN;
        int hits = 0;
        for (int i = 0; i < correct.Length; i++)
            if (!correct[i] && confidence[i] >= threshold) hits++;
        return (double)hits / correct.Length;
    }

    /// <summary>The confident-error share with a percentile-bootstrap interval over items.</summary>
    public static BootstrapInterval ConfidentErrors(double[] confidence, bool[] correct, BootstrapOptions options, double threshold = ConfidentThreshold)
    {
        ArgumentNullException.ThrowIfNull(confidence);
        ArgumentNullException.ThrowIfNull(correct);
        if (confidence.Length != correct.Length) throw new ArgumentException($"confidence has {confidence.Length} values, correct {correct.Length}");
        return Bootstrap.Interval(correct.Length, s => Share(s, confidence, correct, threshold), options);
    }

    /// <summary>
    /// <paramref name="variant"/> minus <paramref name="baseline"/> on the same items (index i is the same item in
    /// both) for accuracy, AUROC, ECE and the confident-error share, each with a paired percentile-bootstrap interval.
    /// </summary>
    public static PairedDifferences Compare(PairedScores baseline, PairedScores variant, BootstrapOptions options, double threshold = ConfidentThreshold)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(variant);
        baseline.Check(nameof(baseline));
        variant.Check(nameof(variant));
        int n = baseline.Correct.Length;
        if (variant.Correct.Length != n) throw new ArgumentException($"paired scores need the same items: baseline has {n}, variant {variant.Correct.Length}");
        bool calibrated = baseline.Confidence is not null && variant.Confidence is not null;

        var metrics = new List<ResampledMetric>
        {
            s => Difference(Accuracy(s, baseline.Correct), Accuracy(s, variant.Correct)),
            s => Difference(Auroc(s, baseline), Auroc(s, variant)),
        };
        if (calibrated)
        {
            metrics.Add(s => Difference(Ece(s, baseline), Ece(s, variant)));
            metrics.Add(s => Difference(Share(s, baseline.Confidence!, baseline.Correct, threshold), Share(s, variant.Confidence!, variant.Correct, threshold)));
        }
        var r = Bootstrap.Intervals(n, [.. metrics], options);
        return new PairedDifferences(n, r[0], r[1], calibrated ? r[2] : null, calibrated ? r[3] : null);
    }

    private static MetricValue Difference(MetricValue a, MetricValue b) =>
        a.TryGetValue(out double x) ? b.TryGetValue(out double y) ? MetricValue.Defined(y - x) : b : a;

    private static MetricValue Accuracy(BootstrapSample s, bool[] correct)
    {
        if (s.Length == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        int hits = 0;
        foreach (int i in s.Indices) hits += correct[i] ? 1 : 0;
        return MetricValue.Defined((double)hits / s.Length);
    }

    private static MetricValue Share(BootstrapSample s, double[] confidence, bool[] correct, double threshold)
    {
        if (s.Length == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        int hits = 0;
        foreach (int i in s.Indices) hits += !correct[i] && confidence[i] >= threshold ? 1 : 0;
        return MetricValue.Defined((double)hits / s.Length);
    }

    private static MetricValue Auroc(BootstrapSample s, PairedScores p)
    {
        var u = new double[s.Length]; var c = new bool[s.Length];
        s.Gather<double>(p.Uncertainty, u);
        s.Gather<bool>(p.Correct, c);
        return RankingMetrics.AurocErrorDetection(u, c);
    }

    private static MetricValue Ece(BootstrapSample s, PairedScores p)
    {
        var f = new double[s.Length]; var c = new bool[s.Length];
        s.Gather<double>(p.Confidence!, f);
        s.Gather<bool>(p.Correct, c);
        return CalibrationMetrics.ExpectedCalibrationError(f, c);
    }
}

/// <summary>
/// A size x quantization comparison's rungs against each model's F16 (or first) rung on the same device, item by item
/// (<see cref="PairedComparison"/>), and the headline that says what changed.
/// </summary>
public static class QuantizationEffects
{
    public static IReadOnlyList<RungEffect> Analyze(IReadOnlyList<VariantOutcome> outcomes, IReadOnlyList<string> methods, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        ArgumentNullException.ThrowIfNull(methods);
        var effects = new List<RungEffect>();
        foreach (var group in outcomes.Where(v => v.Status == VariantStatus.Ok && v.Items is not null).GroupBy(v => (Model: v.Model ?? v.QuantizedFrom ?? "", v.Device)))
        {
            var rungs = group.ToList();
            var baseline = rungs.FirstOrDefault(v => string.Equals(v.Quantization, "F16", StringComparison.OrdinalIgnoreCase)) ?? rungs[0];
            foreach (var rung in rungs)
            {
                bool isBaseline = ReferenceEquals(rung, baseline);
                var perMethod = new Dictionary<string, MethodEffect>(StringComparer.Ordinal);
                foreach (string m in methods)
                {
                    var own = Scores(rung.Items!, null, m);
                    if (own is null) continue;
                    var confident = own.Value.Scores.Confidence is { } conf ? PairedComparison.ConfidentErrors(conf, own.Value.Scores.Correct, options) : null;
                    PairedDifferences? diff = null;
                    if (!isBaseline)
                    {
                        var ids = baseline.Items!.Where(i => Usable(i, m)).Select(i => i.Id).ToHashSet(StringComparer.Ordinal);
                        ids.IntersectWith(rung.Items!.Where(i => Usable(i, m)).Select(i => i.Id));
                        if (Scores(baseline.Items!, ids, m) is { } a && Scores(rung.Items!, ids, m) is { } b)
                            diff = PairedComparison.Compare(a.Scores, b.Scores, options);
                    }
                    perMethod[m] = new MethodEffect(confident, diff);
                }
                effects.Add(new RungEffect(group.Key.Model, rung.Label, rung.Quantization, rung.BitsPerWeight, baseline.Label, isBaseline, perMethod));
            }
        }
        return effects;
    }

    private static bool Usable(ItemResult item, string method) => item.Error is null && item.Methods.ContainsKey(method);

    /// <summary>The items (only <paramref name="ids"/> when given) in id order, so two variants line up.</summary>
    private static (PairedScores Scores, int Count)? Scores(IReadOnlyList<ItemResult> items, HashSet<string>? ids, string method)
    {
        var rows = items.Where(i => Usable(i, method) && (ids is null || ids.Contains(i.Id))).OrderBy(i => i.Id, StringComparer.Ordinal).ToList();
        if (rows.Count == 0) return null;
        double[]? confidence = rows.All(r => r.Methods[method].Confidence is not null) ? [.. rows.Select(r => r.Methods[method].Confidence!.Value)] : null;
        return (new PairedScores([.. rows.Select(r => r.Correct)], [.. rows.Select(r => r.Methods[method].Uncertainty)], confidence), rows.Count);
    }

    /// <summary>Smallest change reported as one: half a unit of the report's third decimal.</summary>
    public const double Resolution = 0.0005;

    /// <summary>
    /// Whether a difference's interval lies wholly on one side of 0 and the change shows at the report's precision
    /// (a shift of 1e-4 in ECE that every resample agrees on is not a change anyone should read).
    /// </summary>
    public static bool ExcludesZero(BootstrapInterval? d) =>
        d is not null && d.Estimate.TryGetValue(out double e) && Math.Abs(e) >= Resolution
        && d.Lower.TryGetValue(out double lo) && d.Upper.TryGetValue(out double hi) && (lo > 0 || hi < 0);

    /// <summary>
    /// What changed, per model: its rungs whose accuracy or ECE difference from the baseline lies outside the paired
    /// interval (largest first), with the confident errors at the baseline and the lowest rung; or that none did.
    /// </summary>
    public static string? Headline(IReadOnlyList<RungEffect> effects, IReadOnlyList<string> methods)
    {
        if (effects.Count == 0) return null;
        var inv = CultureInfo.InvariantCulture;
        // The method whose calibration is reported: the first with confidences.
        string? calibrated = methods.FirstOrDefault(m => effects.Any(e => e.Methods.GetValueOrDefault(m)?.ConfidentErrors is not null));
        string? any = calibrated ?? methods.FirstOrDefault(m => effects.Any(e => e.Methods.ContainsKey(m)));
        if (any is null) return null;
        var md = new StringBuilder();
        foreach (var model in effects.GroupBy(e => e.Model))
        {
            var rungs = model.Where(e => !e.IsBaseline && e.Methods.GetValueOrDefault(any)?.Differences is not null).ToList();
            var baseline = model.FirstOrDefault(e => e.IsBaseline);
            if (rungs.Count == 0 || baseline is null) continue;
            string name = model.Key.Length > 0 ? Path.GetFileName(model.Key) : "the model";
            var moved = rungs.Where(e => ExcludesZero(e.Methods[any].Differences!.Accuracy) || ExcludesZero(e.Methods[any].Differences!.Ece) || ExcludesZero(e.Methods[any].Differences!.Auroc)).ToList();
            int pairs = rungs[0].Methods[any].Differences!.Pairs;
            md.Append(inv, $"**{name}** ({pairs} paired items, against {Short(baseline)}): ");
            if (moved.Count == 0)
            {
                var largest = rungs.OrderByDescending(e => Math.Abs(Value(e.Methods[any].Differences!.Accuracy))).First();
                md.Append(inv, $"no rung's accuracy{(calibrated is null ? "" : $", {calibrated} ECE")} or AUROC difference lies outside its paired 95% interval; the largest accuracy change is {Short(largest)} {Signed(largest.Methods[any].Differences!.Accuracy)}");
            }
            else
            {
                md.Append(string.Join("; ", moved.OrderByDescending(e => Math.Abs(Value(e.Methods[any].Differences!.Accuracy))).Select(e =>
                {
                    var d = e.Methods[any].Differences!;
                    string text = $"{Short(e)}{(e.BitsPerWeight is { } b ? string.Create(inv, $" ({b:F2} bits/weight)") : "")} changes accuracy by {Signed(d.Accuracy)}{Mark(d.Accuracy)}";
                    if (d.Ece is not null) text += $", {calibrated} ECE by {Signed(d.Ece)}{Mark(d.Ece)}";
                    return text + $", AUROC by {Signed(d.Auroc)}{Mark(d.Auroc)}";
                })));
                md.Append(" (* = outside the paired 95% interval)");
            }
            if (calibrated is not null && baseline.Methods.GetValueOrDefault(calibrated)?.ConfidentErrors is { } c0)
            {
                var lowest = rungs.Where(e => e.BitsPerWeight is not null).OrderBy(e => e.BitsPerWeight).FirstOrDefault() ?? rungs[^1];
                if (lowest.Methods.GetValueOrDefault(calibrated) is { ConfidentErrors: { } c1, Differences: { ConfidentErrors: { } dc } })
                    md.Append(inv, $". Confident errors ({calibrated} >= {PairedComparison.ConfidentThreshold:0.0} and wrong): {Percent(c0)} at {Short(baseline)}, {Percent(c1)} at {Short(lowest)} (difference {Signed(dc)}{Mark(dc)})");
            }
            md.AppendLine(".").AppendLine();
        }
        // Many paired tests: say how many excluded 0 against how many would by chance at 95%.
        var all = effects.Where(e => !e.IsBaseline).SelectMany(e => e.Methods.Values).Where(m => m.Differences is not null)
            .SelectMany(m => new[] { m.Differences!.Accuracy, m.Differences.Auroc, m.Differences.Ece, m.Differences.ConfidentErrors })
            .Where(i => i is not null && i.Lower.IsDefined).ToList();
        if (all.Count > 0)
            md.AppendLine(inv, $"Of the {all.Count} paired differences in this report (every model, rung, method and metric), {all.Count(ExcludesZero)} lie outside their 95% interval; about {all.Count * 0.05:F0} would by chance alone if nothing changed, so a single one is weak evidence.");
        return md.Length == 0 ? null : md.ToString().TrimEnd();
    }

    private static string Short(RungEffect e) => e.Quantization ?? e.Variant;

    private static double Value(BootstrapInterval i) => i.Estimate.TryGetValue(out double v) ? v : 0;

    private static string Mark(BootstrapInterval i) => ExcludesZero(i) ? "*" : "";

    /// <summary>"−0.071 [−0.105, −0.040]".</summary>
    public static string Signed(BootstrapInterval i)
    {
        static string F(MetricValue v) => v.TryGetValue(out double x) ? x.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "n/a";
        return $"{F(i.Estimate)} [{F(i.Lower)}, {F(i.Upper)}]";
    }

    private static string Percent(BootstrapInterval i) =>
        i.Estimate.TryGetValue(out double v) ? (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "n/a";
}
