namespace UQEngine.Tests.Evaluation;

/// <summary>Seeded synthetic data for the evaluation tests.</summary>
internal static class Synthetic
{
    public static double Normal(Random rng)
    {
        // Box–Muller; 1 − U avoids log(0).
        double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Uncertainty that is informative: errors tend to have higher u (u ~ N(shift·error, 1)).</summary>
    public static (double[] U, bool[] Correct) Informative(int n, int seed, double accuracy = 0.7, double shift = 1.0)
    {
        var rng = new Random(seed);
        var u = new double[n];
        var correct = new bool[n];
        for (int i = 0; i < n; i++)
        {
            correct[i] = rng.NextDouble() < accuracy;
            u[i] = Normal(rng) + (correct[i] ? 0 : shift);
        }
        return (u, correct);
    }

    /// <summary>O(n₊n₋) pair count: P(s₊ &gt; s₋) + ½ P(s₊ = s₋).</summary>
    public static double BruteForceAuroc(double[] s, bool[] positive)
    {
        double wins = 0, pairs = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (!positive[i]) continue;
            for (int j = 0; j < s.Length; j++)
            {
                if (positive[j]) continue;
                pairs++;
                if (s[i] > s[j]) wins++;
                else if (s[i] == s[j]) wins += 0.5;
            }
        }
        return wins / pairs;
    }

    /// <summary>AP by the definition: Σ over distinct thresholds t (descending) of ΔRecall(t) · Precision(t), items ≥ t flagged.</summary>
    public static double BruteForceAveragePrecision(double[] s, bool[] positive)
    {
        int totalPositive = positive.Count(p => p);
        double ap = 0, previousRecall = 0;
        foreach (double t in s.Distinct().OrderByDescending(v => v))
        {
            int tp = 0, flagged = 0;
            for (int i = 0; i < s.Length; i++)
                if (s[i] >= t) { flagged++; if (positive[i]) tp++; }
            double recall = (double)tp / totalPositive;
            ap += (recall - previousRecall) * tp / flagged;
            previousRecall = recall;
        }
        return ap;
    }
}
