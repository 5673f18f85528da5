namespace UQEngine.Uncertainty.Sampling;

/// <summary>Small numerics shared by the estimators.</summary>
internal static class LogMath
{
    /// <summary>log Σ exp(x_i), stable; −∞ for an empty span or all −∞.</summary>
    public static double LogSumExp(ReadOnlySpan<double> x)
    {
        double max = double.NegativeInfinity;
        foreach (double v in x) if (v > max) max = v;
        if (double.IsNegativeInfinity(max)) return double.NegativeInfinity;
        double s = 0;
        foreach (double v in x) s += Math.Exp(v - max);
        return max + Math.Log(s);
    }

    /// <summary>x·ln x with 0·ln 0 = 0.</summary>
    public static double XLogX(double x) => x > 0 ? x * Math.Log(x) : 0;

    public static void RequireNoNaN(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (double.IsNaN(values[i])) throw new ArgumentException($"'{name}'[{i}] is NaN.", name);
    }

    public static void RequireLogProbabilities(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!(values[i] <= 0) || double.IsNaN(values[i])) throw new ArgumentException($"'{name}'[{i}] = {values[i]} is not a log-probability (≤ 0).", name);
    }
}
