namespace UQEngine.Evaluation.Sensitivity;

/// <summary>Rank agreement of two scorings of the same items.</summary>
public static class RankCorrelation
{
    /// <summary>
    /// Spearman's ρ: the Pearson correlation of the average ranks (ties share their mean rank). Null when either
    /// side is constant (ρ undefined) or there are fewer than 2 items.
    /// </summary>
    public static double? Spearman(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Check(a, b);
        int n = a.Length;
        if (n < 2) return null;
        double[] ra = Ranks(a), rb = Ranks(b);
        double mean = (n + 1) / 2.0, sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++)
        {
            double x = ra[i] - mean, y = rb[i] - mean;
            sab += x * y; saa += x * x; sbb += y * y;
        }
        return saa == 0 || sbb == 0 ? null : sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>
    /// Kendall's τ-b = (C − D) / sqrt((n₀ − n₁)(n₀ − n₂)) over all pairs, with C/D the concordant/discordant pairs,
    /// n₀ = n(n−1)/2 and n₁, n₂ the pairs tied in a, in b. O(n²). Null when either side is constant.
    /// </summary>
    public static double? KendallTauB(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Check(a, b);
        int n = a.Length;
        if (n < 2) return null;
        long concordant = 0, discordant = 0, tiedA = 0, tiedB = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                int da = a[i].CompareTo(a[j]), db = b[i].CompareTo(b[j]);
                if (da == 0) tiedA++;
                if (db == 0) tiedB++;
                if (da == 0 || db == 0) continue;
                if (da == db) concordant++; else discordant++;
            }
        long pairs = (long)n * (n - 1) / 2;
        double denominator = Math.Sqrt((double)(pairs - tiedA) * (pairs - tiedB));
        return denominator == 0 ? null : (concordant - discordant) / denominator;
    }

    /// <summary>1-based ranks, ties averaged.</summary>
    public static double[] Ranks(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = values.ToArray();
        Array.Sort(keys, order);
        var ranks = new double[n];
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && keys[j + 1] == keys[i]) j++;
            for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return ranks;
    }

    private static void Check(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"{a.Length} and {b.Length} values: one per item on both sides", nameof(b));
        foreach (double v in a) if (double.IsNaN(v)) throw new ArgumentException("NaN among the values", nameof(a));
        foreach (double v in b) if (double.IsNaN(v)) throw new ArgumentException("NaN among the values", nameof(b));
    }
}
