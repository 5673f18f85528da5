namespace UQEngine.Methods.Samples;

/// <summary>TSU of one method.</summary>
/// <param name="MeanSpearman">
/// Mean over items of Spearman's ρ between temperature and uncertainty, over the items where ρ is defined
/// (uncertainty not constant across the ladder); null when no item qualifies. In [−1, 1]; 1 = always rising.
/// </param>
/// <param name="FractionMonotone">Share of all items whose uncertainty rises strictly at every step of the ladder (by more than the tolerance).</param>
/// <param name="ItemsWithCorrelation">Items entering the mean ρ.</param>
/// <param name="Items">All items.</param>
public readonly record struct TsuResult(double? MeanSpearman, double FractionMonotone, int ItemsWithCorrelation, int Items);

/// <summary>
/// Temperature sensitivity of uncertainty (TSU), a label-free check: sampling at a higher temperature makes the
/// model's output distribution flatter, so a faithful uncertainty measure should rise with temperature for the
/// same item. The Inv-Entropy paper introduces a metric of this name; the definition here is this product's:
/// for each item with uncertainties u_1..u_L at temperatures τ_1 &lt; … &lt; τ_L (L ≥ 2),
/// ρ = Spearman(τ, u) = Pearson correlation of the ranks (tied uncertainties get their average rank; τ's ranks are
/// 1..L), and "monotone" means u_{l+1} − u_l &gt; tolerance for every l. TSU reports the mean ρ and the monotone share.
/// </summary>
public static class TemperatureSensitivity
{
    public static TsuResult Compute(ReadOnlySpan<double> temperatures, IReadOnlyList<double[]> uncertaintyPerItem, double tolerance = 0)
    {
        ArgumentNullException.ThrowIfNull(uncertaintyPerItem);
        int l = temperatures.Length;
        if (l < 2) throw new ArgumentException("At least two temperatures are needed.", nameof(temperatures));
        for (int i = 0; i < l; i++)
        {
            if (!double.IsFinite(temperatures[i])) throw new ArgumentException($"temperatures[{i}] is not finite.", nameof(temperatures));
            if (i > 0 && !(temperatures[i] > temperatures[i - 1])) throw new ArgumentException("Temperatures must be strictly increasing.", nameof(temperatures));
        }
        if (!(tolerance >= 0)) throw new ArgumentOutOfRangeException(nameof(tolerance));

        Span<double> ranks = l <= 64 ? stackalloc double[l] : new double[l];
        double meanRank = (l + 1) / 2.0;
        double sumRho = 0;
        int withRho = 0, monotone = 0;
        for (int item = 0; item < uncertaintyPerItem.Count; item++)
        {
            double[] u = uncertaintyPerItem[item];
            if (u.Length != l) throw new ArgumentException($"Item {item} has {u.Length} values for {l} temperatures.", nameof(uncertaintyPerItem));
            for (int i = 0; i < l; i++)
                if (!double.IsFinite(u[i])) throw new ArgumentException($"Item {item} value {i} is not finite.", nameof(uncertaintyPerItem));

            bool rising = true;
            for (int i = 1; i < l && rising; i++) rising = u[i] - u[i - 1] > tolerance;
            if (rising) monotone++;

            AverageRanks(u, ranks);
            double sxy = 0, sxx = 0, syy = 0;
            for (int i = 0; i < l; i++)
            {
                double dx = i + 1 - meanRank, dy = ranks[i] - meanRank;
                sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
            }
            if (syy == 0) continue; // constant uncertainty: ρ undefined
            sumRho += sxy / Math.Sqrt(sxx * syy);
            withRho++;
        }
        int n = uncertaintyPerItem.Count;
        return new TsuResult(withRho == 0 ? null : sumRho / withRho, n == 0 ? 0 : (double)monotone / n, withRho, n);
    }

    /// <summary>TSU for several methods over the same ladder.</summary>
    public static Dictionary<string, TsuResult> Compute(ReadOnlySpan<double> temperatures, IReadOnlyDictionary<string, IReadOnlyList<double[]>> uncertaintyPerMethod, double tolerance = 0)
    {
        ArgumentNullException.ThrowIfNull(uncertaintyPerMethod);
        var result = new Dictionary<string, TsuResult>(uncertaintyPerMethod.Count);
        foreach (var (method, values) in uncertaintyPerMethod) result[method] = Compute(temperatures, values, tolerance);
        return result;
    }

    /// <summary>1-based ranks with ties averaged.</summary>
    internal static void AverageRanks(ReadOnlySpan<double> values, Span<double> ranks)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = values.ToArray();
        Array.Sort(keys, order);
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && keys[j + 1] == keys[i]) j++;
            double r = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = r;
            i = j + 1;
        }
    }
}
