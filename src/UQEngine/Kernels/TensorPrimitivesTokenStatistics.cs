using System.Numerics.Tensors;

namespace UQEngine.Kernels;

/// <summary>
/// Baseline for <see cref="TokenStatisticsKernel"/> built from separate, individually vectorized
/// <see cref="TensorPrimitives"/> calls: Max; Subtract into a scratch buffer; Exp into a second scratch buffer; Sum;
/// Dot (for Σ e^{x−m}(x−m)); top-k as k rounds of IndexOfMax on a copy, masking each winner with −∞. Every call is a
/// full pass over the vocabulary. The rank is a scalar counting loop (TensorPrimitives has no compare-and-count).
/// Used as a benchmark baseline and cross-checked by tests; not for production use.
/// </summary>
internal static class TensorPrimitivesTokenStatistics
{
    /// <summary>Same outputs as the fused kernel for finite logits. <paramref name="scratch"/> needs 2·V floats.</summary>
    /// <exception cref="NotSupportedException">Some logit is NaN or infinite (only the fused kernel defines those cases).</exception>
    public static TokenStatistics Compute(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK, Span<float> scratch)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty.", nameof(logits));
        }
        int vocabularySize = logits.Length;
        Span<float> shifted = scratch[..vocabularySize];
        Span<float> weights = scratch.Slice(vocabularySize, vocabularySize);

        float max = TensorPrimitives.Max(logits);
        if (!float.IsFinite(max))
        {
            throw new NotSupportedException("The TensorPrimitives baseline only handles finite logits.");
        }
        TensorPrimitives.Subtract(logits, max, shifted);
        TensorPrimitives.Exp(shifted, weights);
        double sum = TensorPrimitives.Sum<float>(weights);
        double shiftedSum = TensorPrimitives.Dot<float>(weights, shifted);
        double logSum = Math.Log(sum);
        double logSumExp = max + logSum;
        double entropy = logSum - shiftedSum / sum;

        int rank = -1;
        float chosenLogProbability = float.NaN;
        if (chosenTokenId >= 0)
        {
            float chosenLogit = logits[chosenTokenId];
            chosenLogProbability = (float)(chosenLogit - logSumExp);
            rank = 0;
            foreach (float x in logits)
            {
                if (x > chosenLogit)
                {
                    rank++;
                }
            }
        }

        int k = Math.Min(topK.Length, vocabularySize);
        logits.CopyTo(shifted);
        for (int i = 0; i < k; i++)
        {
            int best = TensorPrimitives.IndexOfMax<float>(shifted); // first index on ties = lower id
            topK[i] = new TopToken(best, (float)(logits[best] - logSumExp));
            shifted[best] = float.NegativeInfinity;
        }
        topK[k..].Fill(new TopToken(-1, float.NegativeInfinity));

        return new TokenStatistics(
            max, (float)logSumExp, (float)entropy, chosenLogProbability, rank, chosenTokenId, k, DistributionStatus.Regular);
    }
}
