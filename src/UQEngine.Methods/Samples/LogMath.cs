namespace UQEngine.Methods.Samples;

/// <summary>Small numerics shared by the estimators.</summary>
public static class LogMath
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
    /// <summary>σ(x) = 1 / (1 + e^−x), without overflow for large |x|.</summary>
    public static double Sigmoid(double x)
    {
        if (x >= 0) return 1 / (1 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1 + e);
    }

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
