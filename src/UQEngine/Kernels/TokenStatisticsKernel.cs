using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace UQEngine.Kernels;

/// <summary>
/// Fused per-step token statistics: max logit, log-sum-exp, entropy, the chosen token's log-probability and rank, and
/// the top-k tokens, from two streaming passes over a step's logits. Allocation-free; safe to call from a hot loop and
/// from several threads at once (no shared state).
/// </summary>
/// <remarks>
/// <para>
/// Math: pass 1 finds m = max x. Pass 2 accumulates s = S − 1 = Σ e^{x−m} over every logit but one copy of m, and
/// T = Σ e^{x−m}·(x−m) (relative to m, so nothing overflows even for logits near ±3.4e38); then ln S = log1p(s),
/// LogSumExp = m + ln S and Entropy = ln S − T/S. Keeping the maximum's own 1 out of s is what keeps a confident
/// step exact: with one token far ahead, s and −T are tiny, and 1 + s in a float lane would round them away (the
/// entropy of such a step was up to 3e-3 off in relative terms, its ln p up to 5e-2). Both ln S and −T/S are ≥ 0,
/// so H has no cancellation.
/// Pass 1 runs at memory speed (about a tenth of pass 2) and buys an exact m, no rescaling when a running max grows,
/// and a top-k threshold known from the start (see below).
/// </para>
/// <para>
/// Vectorization: one loop (<c>TokenStatisticsKernel.Vector.cs</c>) instantiated per width through
/// <see cref="IVectorWidth{TVector}"/>: Vector512 when accelerated, else Vector256, else Vector128 (ARM64 AdvSimd,
/// or SSE with FMA), else scalar; the last V mod width logits go through the scalar code. Pass 1 also keeps the maxima
/// of 4·width interleaved buckets: at least k logits are ≥ the k-th largest bucket maximum, so no logit below it can
/// be in the top-k. Pass 2's hot loop leaves SIMD code only for the few blocks holding a logit above that bound (or
/// the current k-th best) or equal to m; those are added by a masked path that counts copies of m instead of adding
/// their 1, and offered to a k-entry heap. The chosen token's rank is a compare + popcount per vector. Float partial
/// sums are flushed into double every 64 logits per lane.
/// </para>
/// <para>
/// Exponential: the vector paths use <see cref="PolynomialExp"/>, accurate to 1.5e-7 relative (measured 8.6e-8,
/// ≈ 1.4 ulp) on its domain [−87, 0], because the runtime's <c>Vector512.Exp</c> widens to double and alone costs more
/// than this whole kernel; the scalar path uses <see cref="Math.Exp(double)"/> and double sums.
/// </para>
/// <para>
/// Accuracy against a double-precision reference (tested on every path, V from 1 to 256k, dominant tokens 10–80
/// nats ahead): Entropy, LogSumExp and ChosenLogProbability within max(1e-6·|value|, 1e-12), i.e. full relative
/// precision down to the tiny entropies of confident steps; top-k ids and ranks are exact. The vector paths' error is
/// the exp's 1.5e-7 plus the float rounding of x − m (≤ 2^−24·|x − m| relative per term); terms below e^−87 are
/// counted as e^−87 (≤ 1.6e-38 each).
/// </para>
/// <para>
/// Non-finite logits, one rule for the statistics and the greedy pick (<see cref="GreedyToken"/>): NaN counts as −∞
/// everywhere. It is never the maximum, never above another logit, has zero probability in a regular or +∞ step, comes
/// after the −∞ logits in the top-k, and is never the greedy pick. A +∞ logit gives the uniform limit over the +∞
/// logits; a step with no logit above −∞ is uniform over V and flagged <see cref="TokenStatistics.NonFinite"/>.
/// </para>
/// </remarks>
public static partial class TokenStatisticsKernel
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
    /// (zero probability, never above any other logit; see the NaN rule in the remarks); −∞ entries have zero
    /// probability.</param>
    /// <param name="chosenTokenId">The sampled/emitted token id in [0, V), or −1 when unknown (then
    /// <see cref="TokenStatistics.ChosenLogProbability"/> is NaN and <see cref="TokenStatistics.ChosenRank"/> is −1).</param>
    /// <param name="topK">Destination whose length is k (any k ≥ 0; 20 is typical). Entries [0, min(k, V)) receive the
    /// most likely tokens sorted by log-probability descending, ties broken by lower id; logits that are −∞ or NaN only
    /// appear when fewer than k logits are above −∞, with log-probability −∞ (−∞ before NaN, lowest ids first). Entries past
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
        IsSupported(KernelWidth.Vector512) ? KernelWidth.Vector512
        : IsSupported(KernelWidth.Vector256) ? KernelWidth.Vector256
        : IsSupported(KernelWidth.Vector128) ? KernelWidth.Vector128
        : KernelWidth.Scalar;

    /// <summary>
    /// Whether <paramref name="width"/> can run here: the vector paths need hardware acceleration, and Vector128 a
    /// fused multiply-add too (the exp's range reduction is exact only with one; AVX2/AVX-512 machines all have it).
    /// </summary>
    internal static bool IsSupported(KernelWidth width) => width switch
    {
        KernelWidth.Scalar => true,
        KernelWidth.Vector128 => Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.IsSupported),
        KernelWidth.Vector256 => Vector256.IsHardwareAccelerated,
        KernelWidth.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>
    /// The greedy pick under the kernel's NaN rule: the lowest id among the largest logits, NaN skipped (a NaN is −∞
    /// here as in <see cref="Compute(ReadOnlySpan{float}, int, Span{TopToken})"/>, so the pick always has rank 0 and
    /// is the first top-k entry). With no logit above −∞ it is the first −∞ logit; −1 when every logit is NaN.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    public static int GreedyToken(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty; a distribution needs at least one token.", nameof(logits));
        }
        // One vectorized pass; it returns the first NaN if there is one, and only then is a second look needed.
        int first = TensorPrimitives.IndexOfMax(logits);
        if (float.IsNaN(logits[first]))
        {
            return GreedyTokenSkippingNaN(logits);
        }
        if (logits[first] == 0)
        {
            // IndexOfMax ranks +0 above −0; here they tie like everywhere else in the kernel, so the lower id wins.
            int zero = logits[..first].IndexOfAny(0f, -0f);
            return zero >= 0 ? zero : first;
        }
        return first;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // rare: only a broken model emits NaN
    private static int GreedyTokenSkippingNaN(ReadOnlySpan<float> logits)
    {
        int best = -1;
        for (int i = 0; i < logits.Length; i++)
        {
            if (!float.IsNaN(logits[i]) && (best < 0 || logits[i] > logits[best]))
            {
                best = i;
            }
        }
        return best;
    }

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
        (float max, float topKBound, bool nonFinite) = width switch
        {
            KernelWidth.Vector512 => MaximumAndTopKBound<Width512, Vector512<float>>(logits, selector.Capacity),
            KernelWidth.Vector256 => MaximumAndTopKBound<Width256, Vector256<float>>(logits, selector.Capacity),
            KernelWidth.Vector128 => MaximumAndTopKBound<Width128, Vector128<float>>(logits, selector.Capacity),
            _ => (MaximumScalar(logits, 0), float.NegativeInfinity, ContainsNonFinite(logits)),
        };
        if (!float.IsFinite(max))
        {
            return ComputeDegenerate(logits, chosenTokenId, chosenLogit, topK, ref selector, max);
        }

        // Pass 2: s, T, the rank and the top-k.
        var sums = new ExpSums();
        int next = width switch
        {
            KernelWidth.Vector512 => SumVectors<Width512, Vector512<float>, TExp>(logits, max, topKBound, chosenLogit, ref selector, ref sums),
            KernelWidth.Vector256 => SumVectors<Width256, Vector256<float>, TExp>(logits, max, topKBound, chosenLogit, ref selector, ref sums),
            KernelWidth.Vector128 => SumVectors<Width128, Vector128<float>, TExp>(logits, max, topKBound, chosenLogit, ref selector, ref sums),
            _ => 0,
        };
        SumScalar(logits, next, max, chosenLogit, ref selector, ref sums);

        // s = S − 1: the other copies of the maximum add exactly 1 each; one copy (there is at least one) is S's 1.
        double s = sums.Sum + (sums.MaxCount - 1);
        double logSum = LogOnePlus(s);
        // T ≤ 0, so ln S and −T/S are both non-negative: no cancellation, full relative precision when both are tiny.
        double entropy = logSum - sums.ShiftedSum / (1 + s);
        var map = new LogProbabilityMap(DistributionStatus.Regular, max, logSum, 0);
        int topCount = selector.Complete(logits, topK, map);
        return new TokenStatistics(
            max, (float)(max + logSum), (float)entropy,
            chosenTokenId < 0 ? float.NaN : map.Apply(chosenLogit),
            chosenTokenId < 0 ? -1 : sums.GreaterCount,
            chosenTokenId, topCount, DistributionStatus.Regular, nonFinite);
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
            chosenTokenId, topCount, status, hasNonFiniteLogits: true); // a non-finite maximum is itself a non-finite logit
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowChosenOutOfRange(int chosenTokenId, int vocabularySize) =>
        throw new ArgumentOutOfRangeException(
            nameof(chosenTokenId), chosenTokenId, $"Must be -1 (unknown) or a token id in [0, {vocabularySize}).");

    /// <summary>
    /// ln(1 + s) to full relative precision for tiny s: the rounding error of u = 1 + s cancels in ln(u)·s/(u − 1)
    /// (Goldberg's trick; .NET's double.LogP1 is a plain Log(s + 1)).
    /// </summary>
    internal static double LogOnePlus(double s)
    {
        double u = 1 + s;
        return u == 1 ? s : Math.Log(u) * s / (u - 1);
    }

    /// <summary>Pass 2's results.</summary>
    private struct ExpSums
    {
        /// <summary>Σ e^{x−max} over the logits below the maximum (in double).</summary>
        public double Sum;

        /// <summary>T = Σ e^{x−max}(x−max) (in double).</summary>
        public double ShiftedSum;

        /// <summary>How many logits equal the maximum (each e^0 = 1, kept out of <see cref="Sum"/>).</summary>
        public int MaxCount;

        /// <summary>How many logits are above the chosen one (its rank).</summary>
        public int GreaterCount;
    }

    /// <summary>Whether any logit is NaN or ±∞ (exact; vectorized by the runtime).</summary>
    internal static bool ContainsNonFinite(ReadOnlySpan<float> logits)
    {
        foreach (float x in logits)
        {
            if (!float.IsFinite(x))
            {
                return true;
            }
        }
        return false;
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
        ref ExpSums sums)
    {
        double sum = sums.Sum, shiftedSum = sums.ShiftedSum; // locals stay in registers
        int greater = sums.GreaterCount, maxCount = sums.MaxCount;
        for (int i = start; i < logits.Length; i++)
        {
            float x = logits[i];
            greater += x > chosenLogit ? 1 : 0;
            if (x > selector.Threshold)
            {
                selector.Offer(i, x);
            }
            if (x == max)
            {
                maxCount++; // its e^0 = 1 is kept out of s; its T term is 0
            }
            else if (x > float.NegativeInfinity) // skips −∞ and NaN
            {
                double shifted = (double)x - max;
                double weight = Math.Exp(shifted);
                sum += weight;
                shiftedSum += weight * shifted;
            }
        }
        sums.Sum = sum;
        sums.ShiftedSum = shiftedSum;
        sums.GreaterCount = greater;
        sums.MaxCount = maxCount;
    }
}
