namespace UQEngine.Methods.Samples;

/// <summary>Wrong answers the method was sure about.</summary>
/// <param name="Count">Items with uncertainty ≤ threshold that are wrong.</param>
/// <param name="Confident">Items with uncertainty ≤ threshold.</param>
/// <param name="Errors">Wrong items overall.</param>
/// <param name="Items">All items.</param>
/// <param name="Threshold">The uncertainty threshold used.</param>
public readonly record struct ConfidentErrorCount(int Count, int Confident, int Errors, int Items, double Threshold)
{
    /// <summary>Count / Items.</summary>
    public double RateOfItems => Items == 0 ? 0 : (double)Count / Items;
    /// <summary>Count / Errors: the share of errors the method was confident about (0 when there are no errors).</summary>
    public double RateOfErrors => Errors == 0 ? 0 : (double)Count / Errors;
    /// <summary>Count / Confident: the error rate among confident items (0 when none is confident).</summary>
    public double RateOfConfident => Confident == 0 ? 0 : (double)Count / Confident;
}

/// <summary>Counts "confident errors": low uncertainty (≤ a threshold) and a wrong answer.</summary>
public static class ConfidentErrors
{
    public static ConfidentErrorCount Count(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct, double threshold)
    {
        if (uncertainty.Length != correct.Length) throw new ArgumentException("One label per uncertainty.", nameof(correct));
        LogMath.RequireNoNaN(uncertainty, nameof(uncertainty));
        if (double.IsNaN(threshold)) throw new ArgumentException("Threshold is NaN.", nameof(threshold));
        int count = 0, confident = 0, errors = 0;
        for (int i = 0; i < uncertainty.Length; i++)
        {
            bool sure = uncertainty[i] <= threshold;
            if (sure) confident++;
            if (!correct[i]) { errors++; if (sure) count++; }
        }
        return new ConfidentErrorCount(count, confident, errors, uncertainty.Length, threshold);
    }

    /// <summary>
    /// Threshold = the q-quantile of the uncertainties (linear interpolation between order statistics, numpy's
    /// default: h = (n − 1)q, x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋)). q = 0.2 flags the 20% most confident items.
    /// </summary>
    public static ConfidentErrorCount CountAtQuantile(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct, double quantile)
    {
        if (!(quantile >= 0 && quantile <= 1)) throw new ArgumentOutOfRangeException(nameof(quantile), quantile, "Quantile must lie in [0, 1].");
        if (uncertainty.IsEmpty) return new ConfidentErrorCount(0, 0, 0, 0, double.NaN);
        LogMath.RequireNoNaN(uncertainty, nameof(uncertainty));
        return Count(uncertainty, correct, Quantile(uncertainty, quantile));
    }

    internal static double Quantile(ReadOnlySpan<double> values, double q)
    {
        double[] sorted = values.ToArray();
        Array.Sort(sorted);
        double h = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }
}
