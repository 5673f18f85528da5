using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

using UQEngine.Kernels;

namespace UQEngine.Kernels.Legacy;

/// <summary>
/// Fused per-step token statistics: max logit, log-sum-exp, entropy, the chosen token's log-probability and rank, and
/// the top-k tokens, from two streaming passes over a step's logits. Allocation-free; safe to call from a hot loop and
/// from several threads at once (no shared state).
/// </summary>
/// <remarks>
/// <para>
/// Math: pass 1 finds m = max x. Pass 2 accumulates S = Σ e^{x−m} and T = Σ e^{x−m}·(x−m) (T relative to m, so nothing
/// overflows even for logits near ±3.4e38); then LogSumExp = m + ln S and Entropy = ln S − T/S (= lse − E_p[x]).
/// Pass 1 runs at memory speed (about a tenth of pass 2) and buys three things over a single online-softmax pass: no
/// rescaling when the running max grows, an exact m, and a top-k threshold known from the start (see below). A
/// single-pass online version of this kernel spent more time in those rescale and top-k warm-up events than pass 1 costs.
/// </para>
/// <para>
/// Vectorization: Vector512 when accelerated, else Vector256, else scalar; the last V mod width logits go through the
/// scalar code. Pass 1 also keeps the maxima of 64 (Vector256: 32) interleaved buckets: at least k logits are ≥ the k-th
/// largest bucket maximum, so no logit below it can be in the top-k. Pass 2's hot loop therefore leaves SIMD code only
/// for the few blocks holding a logit above max(that bound, current k-th best), offered to a k-entry heap; the chosen
/// token's rank is a compare + popcount per vector. Float partial sums are flushed into double every 64 logits per lane.
/// </para>
/// <para>
/// Exponential: the vector paths use <see cref="PolynomialExp"/>, accurate to 1.5e-7 relative (measured 8.6e-8,
/// ≈ 1.4 ulp) on its domain [−87, 0], because the runtime's <c>Vector512.Exp</c> widens to double and alone costs more
/// than this whole kernel; the scalar path uses <see cref="Math.Exp(double)"/> and double sums.
/// </para>
/// <para>
/// Accuracy against a double-precision reference (tested): |ΔLogSumExp| ≤ 1e-6·max(1, |lse|), |ΔEntropy| ≤ 2e-6 nats,
/// |Δ ln p| ≤ 1e-6·max(1, |x|, |lse|); top-k ids and ranks are exact.
/// </para>
/// </remarks>
internal static partial class LegacyTokenStatisticsKernel
{
    /// <summary>
    /// Floor for exponents d = x − m. e^{−87} ≈ 1.6e-38 vanishes next to S ≥ 1 in float, so clamping changes no result;
    /// it keeps d inside the vector exp's domain [−87, 0] and turns −∞ and NaN logits into a finite, negligible term
    /// instead of 0·(−∞) = NaN in T.
    /// </summary>
    private const float UnderflowExponent = -87f;

    /// <summary>
    /// Blocks the vector hot loops note as possible top-k holders before handing them to the selector. Pass 1's bound
    /// leaves about k + a few such blocks per call on language-model-like logits; a full list just ends a chunk early.
    /// </summary>
    private const int CandidateBlockCapacity = 32;

    /// <summary>
    /// Computes the statistics of p = softmax(<paramref name="logits"/>) and writes the top-k tokens.
    /// </summary>
    /// <param name="logits">The step's logits over the whole vocabulary (length V ≥ 1). NaN entries are treated as −∞
    /// (zero probability, never above any other logit); −∞ entries have zero probability.</param>
    /// <param name="chosenTokenId">The sampled/emitted token id in [0, V), or −1 when unknown (then
    /// <see cref="TokenStatistics.ChosenLogProbability"/> is NaN and <see cref="TokenStatistics.ChosenRank"/> is −1).</param>
    /// <param name="topK">Destination whose length is k (any k ≥ 0; 20 is typical). Entries [0, min(k, V)) receive the
    /// most likely tokens sorted by log-probability descending, ties broken by lower id; logits that are −∞ or NaN only
    /// appear when fewer than k logits are above −∞, with log-probability −∞ (lowest ids first). Entries past
    /// min(k, V) are set to (−1, −∞). k = 0 skips top-k work.</param>
    /// <returns>
    /// The statistics. <see cref="TokenStatistics.Status"/> is <see cref="DistributionStatus.Regular"/> whenever the
    /// maximum logit is finite; a +∞ logit or a vector with no logit above −∞ gives the defined limits documented on
    /// <see cref="DistributionStatus"/>. No field is NaN except ChosenLogProbability for an unknown chosen token.
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chosenTokenId"/> is not −1 and not in [0, V).</exception>
    public static TokenStatistics Compute(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK) =>
        Compute(logits, chosenTokenId, topK, BestWidth);

    /// <summary>The widest vector path this machine accelerates.</summary>
    internal static KernelWidth BestWidth { get; } =
        Vector512.IsHardwareAccelerated ? KernelWidth.Vector512
        : Vector256.IsHardwareAccelerated ? KernelWidth.Vector256
        : KernelWidth.Scalar;

    /// <summary>Whether <paramref name="width"/> can run here (the vector paths need hardware acceleration).</summary>
    internal static bool IsSupported(KernelWidth width) => width switch
    {
        KernelWidth.Scalar => true,
        KernelWidth.Vector256 => Vector256.IsHardwareAccelerated,
        KernelWidth.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>Same contract as the public overload, forced to one code path (tests and benchmarks).</summary>
    internal static TokenStatistics Compute(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK, KernelWidth width) =>
        Compute<PolynomialExp>(logits, chosenTokenId, topK, width);

    /// <summary>Same contract, with the vector exponential chosen by <typeparamref name="TExp"/> (benchmarks compare the built-in one).</summary>
    internal static TokenStatistics Compute<TExp>(ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK, KernelWidth width)
        where TExp : struct, IVectorExp
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty; a distribution needs at least one token.", nameof(logits));
        }
        if (chosenTokenId < -1 || chosenTokenId >= logits.Length)
        {
            ThrowChosenOutOfRange(chosenTokenId, logits.Length);
        }
        if (!IsSupported(width))
        {
            throw new PlatformNotSupportedException($"{width} is not hardware accelerated on this machine.");
        }

        // NaN counts as −∞. For an unknown token, +∞ makes the rank compare always false.
        float chosenLogit = chosenTokenId < 0 ? float.PositiveInfinity
            : float.IsNaN(logits[chosenTokenId]) ? float.NegativeInfinity
            : logits[chosenTokenId];
        var selector = new TopKSelector(topK, logits.Length);

        // Pass 1: the maximum, and a lower bound for the k-th best logit.
        (float max, float topKBound) = width switch
        {
            KernelWidth.Vector512 => MaximumAndTopKBound512(logits, selector.Capacity),
            KernelWidth.Vector256 => MaximumAndTopKBound256(logits, selector.Capacity),
            _ => (MaximumScalar(logits, 0), float.NegativeInfinity),
        };
        if (!float.IsFinite(max))
        {
            return ComputeDegenerate(logits, chosenTokenId, chosenLogit, topK, ref selector, max);
        }

        // Pass 2: S = Σ e^{x−max}, T = Σ e^{x−max}(x−max), the rank and the top-k.
        var sums = new ExpSums();
        int greaterCount = 0;
        int next = width switch
        {
            KernelWidth.Vector512 => SumVector512<TExp>(logits, max, topKBound, chosenLogit, ref selector, ref sums, ref greaterCount),
            KernelWidth.Vector256 => SumVector256<TExp>(logits, max, topKBound, chosenLogit, ref selector, ref sums, ref greaterCount),
            _ => 0,
        };
        SumScalar(logits, next, max, chosenLogit, ref selector, ref sums, ref greaterCount);

        // S ≥ 1 (the maximum contributes e^0) and T ≤ 0, so ln S and −T/S are both non-negative: no cancellation.
        double logSum = Math.Log(sums.Sum);
        double logSumExp = max + logSum;
        double entropy = logSum - sums.ShiftedSum / sums.Sum;
        var map = new LogProbabilityMap(DistributionStatus.Regular, max, logSum, 0);
        int topCount = selector.Complete(logits, topK, map);
        return new TokenStatistics(
            max, (float)logSumExp, (float)entropy,
            chosenTokenId < 0 ? float.NaN : map.Apply(chosenLogit),
            chosenTokenId < 0 ? -1 : greaterCount,
            chosenTokenId, topCount, DistributionStatus.Regular);
    }

    /// <summary>The documented limits when the maximum is ±∞; a plain scalar pass, since such steps are rare.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TokenStatistics ComputeDegenerate(
        ReadOnlySpan<float> logits, int chosenTokenId, float chosenLogit, Span<TopToken> topK, ref TopKSelector selector,
        float max)
    {
        int greaterCount = 0;
        int infinities = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            greaterCount += x > chosenLogit ? 1 : 0;
            infinities += float.IsPositiveInfinity(x) ? 1 : 0;
            if (x > selector.Threshold)
            {
                selector.Offer(i, x);
            }
        }

        DistributionStatus status = float.IsPositiveInfinity(max) ? DistributionStatus.PositiveInfinity : DistributionStatus.NoFiniteLogits;
        // +∞: uniform over the +∞ logits. No logit above −∞: uniform over the whole vocabulary.
        double entropy = Math.Log(status == DistributionStatus.PositiveInfinity ? infinities : logits.Length);
        var map = new LogProbabilityMap(status, max, 0, (float)-entropy);
        int topCount = selector.Complete(logits, topK, map);
        return new TokenStatistics(
            max, max, (float)entropy,
            chosenTokenId < 0 ? float.NaN : map.Apply(chosenLogit),
            chosenTokenId < 0 ? -1 : greaterCount,
            chosenTokenId, topCount, status);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowChosenOutOfRange(int chosenTokenId, int vocabularySize) =>
        throw new ArgumentOutOfRangeException(
            nameof(chosenTokenId), chosenTokenId, $"Must be -1 (unknown) or a token id in [0, {vocabularySize}).");

    /// <summary>S = Σ e^{x−max} and T = Σ e^{x−max}(x−max) in double.</summary>
    private struct ExpSums
    {
        public double Sum;
        public double ShiftedSum;
    }

    /// <summary>max over logits[start..], NaN ignored (a compare is false for NaN); −∞ if none is above −∞.</summary>
    private static float MaximumScalar(ReadOnlySpan<float> logits, int start)
    {
        float max = float.NegativeInfinity;
        for (int i = start; i < logits.Length; i++)
        {
            if (logits[i] > max)
            {
                max = logits[i];
            }
        }
        return max;
    }

    /// <summary>Scalar pass 2 over logits[start..] (the whole scalar path, or the vector paths' tail).</summary>
    private static void SumScalar(
        ReadOnlySpan<float> logits, int start, float max, float chosenLogit, ref TopKSelector selector,
        ref ExpSums sums, ref int greaterCount)
    {
        double sum = sums.Sum, shiftedSum = sums.ShiftedSum; // locals stay in registers
        int greater = greaterCount;
        for (int i = start; i < logits.Length; i++)
        {
            float x = logits[i];
            greater += x > chosenLogit ? 1 : 0;
            if (x > selector.Threshold)
            {
                selector.Offer(i, x);
            }
            if (x > float.NegativeInfinity) // skips −∞ and NaN
            {
                double shifted = (double)x - max;
                double weight = Math.Exp(shifted);
                sum += weight;
                shiftedSum += weight * shifted;
            }
        }
        sums.Sum = sum;
        sums.ShiftedSum = shiftedSum;
        greaterCount = greater;
    }
}
