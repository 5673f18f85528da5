namespace UQEngine.Kernels;

/// <summary>
/// Plain scalar baseline for <see cref="TokenStatisticsKernel"/>, written the obvious way: pass 1 finds the max,
/// pass 2 sums e^{x−max}, pass 3 computes entropy, the chosen token's log-probability and rank, and keeps the top-k
/// in a sorted array by insertion (a partial insertion sort). Two exponentials per logit, no SIMD.
/// Used as the benchmark baseline and cross-checked by tests; not for production use.
/// </summary>
internal static class NaiveTokenStatistics
{
    /// <summary>Same outputs as the fused kernel for regular distributions (finite max; NaN ignored).</summary>
    /// <exception cref="NotSupportedException">The maximum logit is not finite (degenerate limits are only implemented by the fused kernel).</exception>
    public static TokenStatistics Compute(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty.", nameof(logits));
        }

        float max = float.NegativeInfinity;
        foreach (float x in logits)
        {
            if (x > max)
            {
                max = x;
            }
        }
        if (!float.IsFinite(max))
        {
            throw new NotSupportedException("The naive baseline only handles a finite maximum logit.");
        }

        double sum = 0;
        foreach (float x in logits)
        {
            if (x > float.NegativeInfinity)
            {
                sum += MathF.Exp(x - max);
            }
        }
        double logSumExp = max + Math.Log(sum);

        float chosenLogit = chosenTokenId < 0 ? float.NaN : logits[chosenTokenId];
        if (float.IsNaN(chosenLogit) && chosenTokenId >= 0)
        {
            chosenLogit = float.NegativeInfinity;
        }
        int k = Math.Min(topK.Length, logits.Length);
        int kept = 0;
        double entropy = 0;
        int rank = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (float.IsNaN(x))
            {
                x = float.NegativeInfinity;
            }
            if (x > float.NegativeInfinity)
            {
                float logProbability = (float)(x - logSumExp);
                float probability = MathF.Exp(logProbability);
                entropy -= probability * logProbability;
            }
            if (x > chosenLogit)
            {
                rank++;
            }

            // Insert into the sorted top-k if it beats the last kept entry (equal logits keep the lower id).
            if (kept < k || (k > 0 && x > topK[k - 1].LogProbability))
            {
                int position = kept < k ? kept++ : k - 1;
                while (position > 0 && topK[position - 1].LogProbability < x)
                {
                    topK[position] = topK[position - 1];
                    position--;
                }
                topK[position] = new TopToken(i, x);
            }
        }
        for (int i = 0; i < kept; i++)
        {
            topK[i] = new TopToken(topK[i].TokenId, (float)(topK[i].LogProbability - logSumExp));
        }
        topK[kept..].Fill(new TopToken(-1, float.NegativeInfinity));

        float chosenLogProbability = chosenTokenId < 0 ? float.NaN : (float)(chosenLogit - logSumExp);
        return new TokenStatistics(
            max, (float)logSumExp, (float)entropy, chosenLogProbability, chosenTokenId < 0 ? -1 : rank, chosenTokenId,
            kept, DistributionStatus.Regular);
    }
}
