// TEMPORARY scalar stand-in so the host compiles while the fused kernel is written on its own branch.
namespace UQEngine.Kernels;

public readonly record struct TopToken(int TokenId, float LogProbability);

public readonly struct TokenStatistics
{
    public float MaxLogit { get; init; }
    public float LogSumExp { get; init; }
    public float Entropy { get; init; }
    public float ChosenLogProbability { get; init; }
    public int ChosenRank { get; init; }
    public int ChosenTokenId { get; init; }
}

public static class TokenStatisticsKernel
{
    public static TokenStatistics Compute(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) if (x > max) max = x;
        double s = 0, t = 0;
        foreach (float x in logits) { double e = Math.Exp(x - max); s += e; t += e * x; }
        double lse = max + Math.Log(s);
        int rank = 0;
        float chosen = chosenTokenId >= 0 ? logits[chosenTokenId] : float.NaN;
        foreach (float x in logits) if (x > chosen) rank++;
        var idx = Enumerable.Range(0, logits.Length).ToArray();
        var arr = logits.ToArray();
        Array.Sort(idx, (a, b) => arr[b].CompareTo(arr[a]) != 0 ? arr[b].CompareTo(arr[a]) : a.CompareTo(b));
        for (int i = 0; i < Math.Min(topK.Length, idx.Length); i++) topK[i] = new TopToken(idx[i], (float)(arr[idx[i]] - lse));
        return new TokenStatistics { MaxLogit = max, LogSumExp = (float)lse, Entropy = (float)(lse - t / s), ChosenLogProbability = (float)(chosen - lse), ChosenRank = rank, ChosenTokenId = chosenTokenId };
    }
}
