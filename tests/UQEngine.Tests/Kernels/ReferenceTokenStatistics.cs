using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>
/// Straightforward double-precision statement of the kernel's documented contract, used as the oracle: NaN is −∞
/// (and comes after the −∞ logits in the top-k),
/// a +∞ logit gives the uniform limit over the +∞ logits, no logit above −∞ gives the uniform distribution over V.
/// </summary>
internal sealed record ReferenceStatistics(
    double MaxLogit, double LogSumExp, double Entropy, double ChosenLogProbability, int ChosenRank,
    (int TokenId, double LogProbability)[] Top, DistributionStatus Status)
{
    public static ReferenceStatistics Compute(float[] logits, int chosenTokenId, int k)
    {
        double[] x = logits.Select(v => float.IsNaN(v) ? double.NegativeInfinity : (double)v).ToArray();
        double max = x.Max();
        DistributionStatus status;
        double logSumExp, entropy;
        Func<double, double> logProbability;
        if (double.IsPositiveInfinity(max))
        {
            int infinities = x.Count(double.IsPositiveInfinity);
            status = DistributionStatus.PositiveInfinity;
            logSumExp = double.PositiveInfinity;
            entropy = Math.Log(infinities);
            logProbability = v => double.IsPositiveInfinity(v) ? -Math.Log(infinities) : double.NegativeInfinity;
        }
        else if (double.IsNegativeInfinity(max))
        {
            status = DistributionStatus.NoFiniteLogits;
            logSumExp = double.NegativeInfinity;
            entropy = Math.Log(x.Length);
            logProbability = _ => -Math.Log(x.Length);
        }
        else
        {
            status = DistributionStatus.Regular;
            double sum = x.Sum(v => Math.Exp(v - max));
            double lse = max + Math.Log(sum);
            logSumExp = lse;
            // H = Σ p (lse − x); terms with p = 0 contribute 0 (also for −∞).
            entropy = x.Where(v => v > double.NegativeInfinity).Sum(v => Math.Exp(v - max) / sum * (Math.Log(sum) - (v - max)));
            logProbability = v => v - lse;
        }

        double chosenLogProbability = double.NaN;
        int rank = -1;
        if (chosenTokenId >= 0)
        {
            double chosen = x[chosenTokenId];
            chosenLogProbability = logProbability(chosen);
            rank = x.Count(v => v > chosen);
        }

        // NaN ranks after −∞ (the kernel's NaN rule), then lower id first.
        var top = Enumerable.Range(0, x.Length)
            .OrderByDescending(i => x[i]).ThenBy(i => float.IsNaN(logits[i])).ThenBy(i => i)
            .Take(k)
            .Select(i => (i, logProbability(x[i])))
            .ToArray();
        return new ReferenceStatistics(max, logSumExp, entropy, chosenLogProbability, rank, top, status);
    }
}
