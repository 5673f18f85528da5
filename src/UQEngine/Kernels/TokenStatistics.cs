using System.Runtime.InteropServices;

namespace UQEngine.Kernels;

/// <summary>How the softmax distribution of one step was defined.</summary>
public enum DistributionStatus
{
    /// <summary>The largest logit is finite: ordinary softmax, every value is computed as documented.</summary>
    Regular = 0,

    /// <summary>
    /// At least one logit is +∞. The result is the limit of softmax: the mass is split uniformly over the c logits
    /// equal to +∞ (entropy = ln c, each of them has log-probability −ln c, every other token −∞), and
    /// <see cref="TokenStatistics.MaxLogit"/> and <see cref="TokenStatistics.LogSumExp"/> are +∞.
    /// </summary>
    PositiveInfinity = 1,

    /// <summary>
    /// No logit is above −∞ (every logit is −∞ or NaN). Softmax is 0/0 here; it is defined as the limit of "all logits
    /// equal", i.e. uniform over the whole vocabulary V: entropy = ln V and every token has log-probability −ln V, so an
    /// unusable step reads as maximally uncertain rather than certain. <see cref="TokenStatistics.MaxLogit"/> and
    /// <see cref="TokenStatistics.LogSumExp"/> are −∞ and ranks are 0.
    /// </summary>
    NoFiniteLogits = 2,
}

/// <summary>
/// Statistics of one decoding step's next-token distribution p = softmax(logits), computed by
/// <see cref="TokenStatisticsKernel.Compute(ReadOnlySpan{float}, int, Span{TopToken})"/>. All logarithms are natural.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct TokenStatistics
{
    internal TokenStatistics(
        float maxLogit, float logSumExp, float entropy, float chosenLogProbability, int chosenRank, int chosenTokenId,
        int topCount, DistributionStatus status, bool hasNonFiniteLogits = false)
    {
        HasNonFiniteLogits = hasNonFiniteLogits;
        MaxLogit = maxLogit;
        LogSumExp = logSumExp;
        Entropy = entropy;
        ChosenLogProbability = chosenLogProbability;
        ChosenRank = chosenRank;
        ChosenTokenId = chosenTokenId;
        TopCount = topCount;
        Status = status;
    }

    /// <summary>max_i x_i over the logits, NaN ignored; −∞ when no logit is above −∞.</summary>
    public float MaxLogit { get; }

    /// <summary>ln Σ_i e^{x_i}, computed as m + ln Σ_i e^{x_i − m} with m = <see cref="MaxLogit"/> so it never overflows.</summary>
    public float LogSumExp { get; }

    /// <summary>
    /// H = −Σ_i p_i ln p_i in nats, in [0, ln V]; computed as log1p(s) − T/(1 + s) with s = S − 1 = Σ e^{x_i−m} over all
    /// but one copy of m and T = Σ e^{x_i−m}(x_i−m), so a confident step's tiny entropy keeps full relative precision
    /// (within max(1e-6·H, 1e-12) of double precision on every path).
    /// </summary>
    public float Entropy { get; }

    /// <summary>
    /// ln p(chosen) = (x_chosen − m) − ln S, i.e. x_chosen − <see cref="LogSumExp"/> without the rounding of m + ln S,
    /// so the dominant token's small −ln p is exact to relative precision; −∞ if the chosen logit is −∞ or NaN; NaN
    /// when the chosen token is unknown (−1).
    /// </summary>
    public float ChosenLogProbability { get; }

    /// <summary>Number of logits strictly greater than the chosen logit (0 = most likely; ties share a rank); −1 when the chosen token is unknown.</summary>
    public int ChosenRank { get; }

    /// <summary>The chosen token id passed in, or −1 when unknown.</summary>
    public int ChosenTokenId { get; }

    /// <summary>How many leading entries of the caller's top-k span were filled: min(k, V).</summary>
    public int TopCount { get; }

    /// <summary>Whether softmax was regular or one of the documented degenerate limits.</summary>
    public DistributionStatus Status { get; }

    /// <summary>True when <see cref="Status"/> is not <see cref="DistributionStatus.Regular"/>.</summary>
    public bool IsDegenerate => Status != DistributionStatus.Regular;

    /// <summary>
    /// True when no logit was a usable number: every logit is −∞ or NaN (<see cref="DistributionStatus.NoFiniteLogits"/>),
    /// e.g. a model that produced all NaN. The step carries no information (its statistics are the documented uniform
    /// limit) and there is no greedy pick (<see cref="TokenStatisticsKernel.GreedyToken"/> returns −1 for all NaN).
    /// A +∞ logit is not flagged: its step still has a well-defined winner.
    /// </summary>
    public bool NonFinite => Status == DistributionStatus.NoFiniteLogits;

    /// <summary>
    /// True when any logit of the step is NaN, +∞ or −∞ (a broken model, e.g. NaN weights, or an overflow), even when
    /// the rest still gives a regular distribution. <see cref="NonFinite"/> is the stronger case where nothing is usable.
    /// Computed by <see cref="TokenStatisticsKernel"/> in its first pass; the reference implementations leave it false.
    /// </summary>
    public bool HasNonFiniteLogits { get; }

    /// <summary>p(chosen) = e^{<see cref="ChosenLogProbability"/>}; NaN when the chosen token is unknown.</summary>
    public float ChosenProbability => MathF.Exp(ChosenLogProbability);

    /// <inheritdoc/>
    public override string ToString() =>
        $"max={MaxLogit} lse={LogSumExp} H={Entropy} chosen={ChosenTokenId} lp={ChosenLogProbability} rank={ChosenRank} top={TopCount} {Status}{(HasNonFiniteLogits ? " non-finite-logits" : "")}";
}
