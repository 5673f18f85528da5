using System.Globalization;

namespace UQEngine.Evaluation.Metrics;

/// <summary>Settings of a percentile bootstrap.</summary>
public sealed record BootstrapOptions
{
    /// <summary>The defaults: 1000 resamples, seed 12345, 95% intervals.</summary>
    public static BootstrapOptions Default { get; } = new();

    /// <summary>Number of resamples (default 1000). 0 gives a point estimate with undefined bounds.</summary>
    public int Resamples { get; init; } = 1000;

    /// <summary>Seed of the <see cref="Random"/> that draws the resamples; the same seed gives the same intervals.</summary>
    public int Seed { get; init; } = 12345;

    /// <summary>Two-sided coverage of the interval, in (0, 1) (default 0.95).</summary>
    public double ConfidenceLevel { get; init; } = 0.95;

    internal void Validate()
    {
        if (Resamples < 0) throw new ArgumentOutOfRangeException(nameof(Resamples), Resamples, "Resamples must be non-negative.");
        if (!(ConfidenceLevel > 0 && ConfidenceLevel < 1)) throw new ArgumentOutOfRangeException(nameof(ConfidenceLevel), ConfidenceLevel, "The confidence level must lie in (0, 1).");
    }
}

/// <summary>
/// One bootstrap resample of n items, given two equivalent ways: <see cref="Counts"/>[i] is how many times item i was
/// drawn (Σ = n), and <see cref="Indices"/> lists the drawn items in ascending order (each repeated by its count).
/// Metrics that presort (<see cref="ScoreOrder"/>) use the counts and stay O(n); others gather with <see cref="Indices"/>.
/// The spans are reused between resamples: do not keep them.
/// </summary>
public readonly ref struct BootstrapSample
{
    internal BootstrapSample(ReadOnlySpan<int> counts, ReadOnlySpan<int> indices, bool isOriginal)
    {
        Counts = counts;
        Indices = indices;
        IsOriginal = isOriginal;
    }

    /// <summary>Multiplicity of each original item.</summary>
    public ReadOnlySpan<int> Counts { get; }

    /// <summary>The drawn item indices, ascending.</summary>
    public ReadOnlySpan<int> Indices { get; }

    /// <summary>True for the original sample (every item once), used for the point estimate.</summary>
    public bool IsOriginal { get; }

    /// <summary>Number of items in the sample (= the original n).</summary>
    public int Length => Indices.Length;

    /// <summary>Copies source[Indices[j]] to destination[j].</summary>
    public void Gather<T>(ReadOnlySpan<T> source, Span<T> destination)
    {
        if (destination.Length < Indices.Length) throw new ArgumentException("Destination is shorter than the sample.", nameof(destination));
        for (int j = 0; j < Indices.Length; j++) destination[j] = source[Indices[j]];
    }
}

/// <summary>A metric evaluated on a bootstrap resample. Must be deterministic and must not keep the sample's spans.</summary>
public delegate MetricValue ResampledMetric(BootstrapSample sample);

/// <summary>
/// A point estimate with a percentile bootstrap interval. <see cref="Lower"/> and <see cref="Upper"/> are undefined when
/// no resample gave a defined value; <see cref="Reason"/> then says why (null when everything is defined).
/// </summary>
/// <param name="Estimate">The metric on the original sample.</param>
/// <param name="Lower">The (1 − level)/2 percentile of the valid resample values.</param>
/// <param name="Upper">The (1 + level)/2 percentile of the valid resample values.</param>
/// <param name="ConfidenceLevel">The interval's nominal two-sided coverage.</param>
/// <param name="ValidResamples">Resamples on which the metric was defined (the interval is built from these).</param>
/// <param name="SkippedResamples">Resamples that made the metric undefined (e.g. one class only) and were skipped.</param>
public sealed record BootstrapInterval(
    MetricValue Estimate, MetricValue Lower, MetricValue Upper, double ConfidenceLevel, int ValidResamples, int SkippedResamples)
{
    /// <summary>Why the estimate or the bounds are undefined, or null.</summary>
    public string? Reason => Estimate.UndefinedReason ?? Lower.UndefinedReason;

    /// <summary>"0.812 [0.781, 0.840]" or "undefined (one class only)".</summary>
    public override string ToString() =>
        !Estimate.IsDefined ? Estimate.ToString()
        : !Lower.IsDefined ? $"{Estimate.ToString("F3")} [interval {Lower}]"
        : string.Create(CultureInfo.InvariantCulture, $"{Estimate.ToString("F3")} [{Lower.ToString("F3")}, {Upper.ToString("F3")}]");
}

/// <summary>
/// Percentile bootstrap (Efron &amp; Tibshirani 1993, ch. 13). Each resample draws n item indices uniformly with
/// replacement from a <see cref="Random"/> seeded with <see cref="BootstrapOptions.Seed"/>, so results are
/// deterministic for a seed, and resample b is the same for every metric and call with the same n and seed (paired
/// comparisons share resamples). Resamples on which the metric is undefined are skipped and counted. The bounds are
/// the (1 − level)/2 and (1 + level)/2 quantiles of the valid values with linear interpolation between order
/// statistics (Hyndman–Fan type 7, the default of numpy and R): q(p) = v_(⌊h⌋) + (h − ⌊h⌋)(v_(⌊h⌋+1) − v_(⌊h⌋)),
/// h = (V − 1)p on the sorted values v_(0..V−1).
/// </summary>
public static class Bootstrap
{
    /// <summary>The metric on all <paramref name="count"/> items, with a percentile interval.</summary>
    public static BootstrapInterval Interval(int count, ResampledMetric metric, BootstrapOptions? options = null) =>
        Intervals(count, [metric], options)[0];

    /// <summary>
    /// Several metrics on the same resamples (one draw per resample, shared): identical to calling
    /// <see cref="Interval"/> once per metric with the same seed, but draws each resample once.
    /// </summary>
    public static BootstrapInterval[] Intervals(int count, ReadOnlySpan<ResampledMetric> metrics, BootstrapOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        options ??= BootstrapOptions.Default;
        options.Validate();
        foreach (var metric in metrics) ArgumentNullException.ThrowIfNull(metric, nameof(metrics));

        int[] counts = new int[count];
        int[] indices = new int[count];
        Array.Fill(counts, 1);
        for (int i = 0; i < count; i++) indices[i] = i;

        var estimates = new MetricValue[metrics.Length];
        for (int k = 0; k < metrics.Length; k++) estimates[k] = metrics[k](new BootstrapSample(counts, indices, isOriginal: true));

        int resamples = count == 0 ? 0 : options.Resamples;
        var values = new double[metrics.Length][];
        var valid = new int[metrics.Length];
        for (int k = 0; k < metrics.Length; k++) values[k] = new double[resamples];

        var rng = new Random(options.Seed);
        for (int b = 0; b < resamples; b++)
        {
            Array.Clear(counts);
            for (int j = 0; j < count; j++) counts[rng.Next(count)]++;
            int pos = 0;
            for (int i = 0; i < count; i++)
                for (int c = counts[i]; c > 0; c--) indices[pos++] = i;

            var sample = new BootstrapSample(counts, indices, isOriginal: false);
            for (int k = 0; k < metrics.Length; k++)
                if (metrics[k](sample).TryGetValue(out double v)) values[k][valid[k]++] = v;
        }

        double alpha = 1 - options.ConfidenceLevel;
        var result = new BootstrapInterval[metrics.Length];
        for (int k = 0; k < metrics.Length; k++)
        {
            MetricValue lower, upper;
            if (valid[k] == 0)
            {
                lower = upper = MetricValue.Undefined(UndefinedReasons.NoValidResamples);
            }
            else
            {
                Span<double> v = values[k].AsSpan(0, valid[k]);
                v.Sort();
                lower = MetricValue.Defined(Quantile(v, alpha / 2));
                upper = MetricValue.Defined(Quantile(v, 1 - alpha / 2));
            }
            result[k] = new BootstrapInterval(estimates[k], lower, upper, options.ConfidenceLevel, valid[k], resamples - valid[k]);
        }
        return result;
    }

    /// <summary>The median of <paramref name="values"/> in any order (the type-7 quantile at 1/2: the mean of the two middle values for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] sorted = [.. values.Order()];
        return Quantile(sorted, 0.5);
    }

    /// <summary>Type-7 quantile of ascending <paramref name="sorted"/> values (linear interpolation, h = (n − 1)p).</summary>
    public static double Quantile(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.IsEmpty) throw new ArgumentException("No values.", nameof(sorted));
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "p must lie in [0, 1].");
        double h = (sorted.Length - 1) * p;
        int lo = (int)Math.Floor(h);
        if (lo >= sorted.Length - 1) return sorted[^1];
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }
}
