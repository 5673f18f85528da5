namespace UQEngine.Evaluation.Metrics;

/// <summary>Argument checks shared by the metrics. Every public entry point validates before computing.</summary>
internal static class Guard
{
    public static void SameLength(int expected, int actual, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"'{name}' has {actual} items; expected {expected} (one per item).", name);
    }

    public static void NoNaN(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (double.IsNaN(values[i])) throw new ArgumentException($"'{name}'[{i}] is NaN.", name);
    }

    public static void Finite(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i])) throw new ArgumentException($"'{name}'[{i}] = {values[i]} is not finite.", name);
    }

    public static void UnitInterval(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            if (!(v >= 0 && v <= 1)) throw new ArgumentOutOfRangeException(name, v, $"'{name}'[{i}] must lie in [0, 1].");
        }
    }

    /// <summary>Bootstrap multiplicities: empty (every item once) or one non-negative count per item.</summary>
    public static void Counts(ReadOnlySpan<int> counts, int n)
    {
        if (counts.IsEmpty) return;
        SameLength(n, counts.Length, nameof(counts));
        for (int i = 0; i < counts.Length; i++)
            if (counts[i] < 0) throw new ArgumentOutOfRangeException(nameof(counts), counts[i], $"counts[{i}] is negative.");
    }

    public static void Bins(int bins)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "At least one bin is needed.");
    }

    public static void Order(ScoreOrder order, int n, string name)
    {
        ArgumentNullException.ThrowIfNull(order, name);
        if (order.Count != n) throw new ArgumentException($"'{name}' orders {order.Count} items; expected {n}.", name);
    }

    /// <summary>Multiplicity of item <paramref name="i"/>: 1 when <paramref name="counts"/> is empty.</summary>
    public static int Weight(ReadOnlySpan<int> counts, int i) => counts.IsEmpty ? 1 : counts[i];
}
