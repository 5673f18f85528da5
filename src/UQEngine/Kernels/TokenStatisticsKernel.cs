using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UQEngine.Kernels;

/// <summary>
/// Fused per-step token statistics: one streaming pass over a step's logits yields max logit, log-sum-exp, entropy,
/// the chosen token's log-probability and rank, and the top-k tokens. Allocation-free; safe to call from a hot loop
/// and from several threads at once (no shared state).
/// </summary>
/// <remarks>
/// <para>
/// Math: with m the running maximum, the pass keeps S = Σ e^{x−m} and T = Σ e^{x−m}·(x−m), rescaling both when m grows
/// (online softmax; T is kept relative to m so it cannot overflow even for logits near ±3.4e38). At the end
/// LogSumExp = m + ln S and Entropy = ln S − T/S (= lse − E_p[x]).
/// </para>
/// <para>
/// Vectorization: Vector512 when accelerated, else Vector256, else scalar. Each lane keeps its own m, S, T; the lanes
/// are merged in double at the end and the last V mod width logits go through the scalar path. The hot loop holds no
/// branch but one per two vectors: a block only leaves it when some lane's logit exceeds min(lane max, current k-th
/// best), which after the first few thousand logits is rare; the chosen token's rank is a compare + popcount per
/// vector. Float partial sums are flushed into double totals every 64 logits per lane.
/// </para>
/// <para>
/// Exponential: the vector paths use <see cref="PolynomialExp"/> (max relative error 2.5e-7 ≈ 2 ulp on its domain
/// [−87, 0], tested), because the runtime's <c>Vector512.Exp</c> widens to double and alone costs more than this whole
/// kernel; the scalar path uses <see cref="Math.Exp(double)"/> and double sums.
/// </para>
/// <para>Accuracy (tested against a double-precision reference): |ΔLogSumExp| ≤ 1e-5·max(1, |lse|), |ΔEntropy| ≤ 1e-4 nats.</para>
/// </remarks>
public static partial class TokenStatisticsKernel
{
    /// <summary>
    /// Floor for exponents d = x − m. e^{−87} ≈ 1.6e-38 vanishes next to S ≥ 1 in float, so clamping changes no result;
    /// it keeps d inside the vector exp's domain [−87, 0] and turns −∞ (and NaN) logits into a finite, negligible term
    /// instead of 0·(−∞) = NaN in T.
    /// </summary>
    private const float UnderflowExponent = -87f;

    /// <summary>
    /// Computes the statistics of p = softmax(<paramref name="logits"/>) in one pass and writes the top-k tokens.
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
        var accumulator = new ScalarAccumulator(float.NegativeInfinity, 0, 0);
        int greaterCount = 0;
        int next = 0;
        if (width == KernelWidth.Vector512)
        {
            next = AccumulateVector512<TExp>(logits, chosenLogit, ref selector, out accumulator, out greaterCount);
        }
        else if (width == KernelWidth.Vector256)
        {
            next = AccumulateVector256<TExp>(logits, chosenLogit, ref selector, out accumulator, out greaterCount);
        }
        AccumulateScalar(logits, next, chosenLogit, ref selector, ref accumulator, ref greaterCount);

        return Finish(logits, chosenTokenId, topK, ref selector, accumulator, greaterCount);
    }

    private static TokenStatistics Finish(
        ReadOnlySpan<float> logits, int chosenTokenId, Span<TopToken> topK, ref TopKSelector selector,
        in ScalarAccumulator accumulator, int greaterCount)
    {
        float maxLogit = accumulator.Max;
        int chosenRank = chosenTokenId < 0 ? -1 : greaterCount;
        float chosenLogit = chosenTokenId < 0 ? float.NaN : logits[chosenTokenId];
        DistributionStatus status;
        double logSumExp;
        double entropy;
        float uniformLogProbability = 0;
        if (float.IsFinite(maxLogit))
        {
            status = DistributionStatus.Regular;
            // S ≥ 1 (the maximum contributes e^0) and T ≤ 0, so both terms are non-negative: no cancellation.
            double logSum = Math.Log(accumulator.Sum);
            logSumExp = maxLogit + logSum;
            entropy = logSum - accumulator.ShiftedSum / accumulator.Sum;
        }
        else if (float.IsPositiveInfinity(maxLogit))
        {
            status = DistributionStatus.PositiveInfinity;
            int infinities = CountPositiveInfinities(logits);
            logSumExp = double.PositiveInfinity;
            entropy = Math.Log(infinities);
            uniformLogProbability = (float)-entropy;
        }
        else
        {
            status = DistributionStatus.NoFiniteLogits;
            logSumExp = double.NegativeInfinity;
            entropy = Math.Log(logits.Length);
            uniformLogProbability = (float)-entropy;
        }

        var map = new LogProbabilityMap(status, logSumExp, uniformLogProbability);
        int topCount = selector.Complete(logits, topK, map);
        float chosenLogProbability = chosenTokenId < 0 ? float.NaN : map.Apply(chosenLogit);
        return new TokenStatistics(
            maxLogit, (float)logSumExp, (float)entropy, chosenLogProbability, chosenRank, chosenTokenId, topCount, status);
    }

    private static int CountPositiveInfinities(ReadOnlySpan<float> logits)
    {
        int count = 0;
        foreach (float x in logits)
        {
            if (float.IsPositiveInfinity(x))
            {
                count++;
            }
        }
        return count;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowChosenOutOfRange(int chosenTokenId, int vocabularySize) =>
        throw new ArgumentOutOfRangeException(
            nameof(chosenTokenId), chosenTokenId, $"Must be -1 (unknown) or a token id in [0, {vocabularySize}).");

    /// <summary>Online-softmax state in double: running max and the sums S, T relative to it.</summary>
    [StructLayout(LayoutKind.Auto)]
    private struct ScalarAccumulator(float max, double sum, double shiftedSum)
    {
        public float Max = max;
        public double Sum = sum;
        public double ShiftedSum = shiftedSum;

        /// <summary>Merges one lane's (m, S, T) into this state.</summary>
        public void Merge(float laneMax, double laneSum, double laneShiftedSum)
        {
            if (!(laneMax > float.NegativeInfinity))
            {
                return; // the lane saw only −∞/NaN: its sums hold only clamped, negligible terms
            }
            if (laneMax > Max)
            {
                Rescale(laneMax);
            }
            if (!float.IsFinite(Max))
            {
                return; // a +∞ logit makes the sums irrelevant: Finish takes the +∞ limit
            }
            double delta = (double)laneMax - Max; // ≤ 0
            double scale = Math.Exp(delta);
            Sum += scale * laneSum;
            ShiftedSum += scale * (laneShiftedSum + delta * laneSum);
        }

        /// <summary>Moves the reference point from Max up to <paramref name="newMax"/>.</summary>
        public void Rescale(float newMax)
        {
            if (Sum != 0 && float.IsFinite(newMax))
            {
                double delta = (double)Max - newMax; // < 0
                double scale = Math.Exp(delta);
                ShiftedSum = scale * (ShiftedSum + delta * Sum);
                Sum *= scale;
            }
            Max = newMax;
        }
    }

    /// <summary>Scalar online pass over logits[start..]; also the tail of the vector paths.</summary>
    private static void AccumulateScalar(
        ReadOnlySpan<float> logits, int start, float chosenLogit, ref TopKSelector selector,
        ref ScalarAccumulator accumulator, ref int greaterCount)
    {
        ScalarAccumulator state = accumulator; // local copy stays in registers
        int greater = greaterCount;
        for (int i = start; i < logits.Length; i++)
        {
            float x = logits[i];
            if (x > chosenLogit)
            {
                greater++;
            }
            if (x > selector.Threshold)
            {
                selector.Offer(i, x);
            }
            if (x > state.Max)
            {
                state.Rescale(x);
                state.Sum += 1; // e^0, and (x − m)·e^0 = 0
            }
            else if (x > float.NegativeInfinity)
            {
                double shifted = (double)x - state.Max;
                double weight = Math.Exp(shifted);
                state.Sum += weight;
                state.ShiftedSum += weight * shifted;
            }
        }
        accumulator = state;
        greaterCount = greater;
    }
}
