using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

using UQEngine.Kernels;

namespace UQEngine.Kernels.Legacy;

internal static partial class LegacyTokenStatisticsKernel
{
    /// <summary>Logits per hot-loop iteration of the Vector256 path: two vectors share one top-k test.</summary>
    private const int Block256 = 2 * 8;

    /// <summary>Logits between flushes of the float partial sums into double: 64 per lane keeps float rounding of S and T below 1e-7.</summary>
    private const int FlushInterval256 = 32 * Block256;

    /// <summary>
    /// Pass 1 at memory speed: the maximum (NaN ignored) and <see cref="TopKLowerBound256"/> from the maxima of 32
    /// interleaved buckets (4 accumulators × 8 lanes), so pass 2 starts with a near-final top-k threshold instead of
    /// taking the slow path for every logit that would have improved a still-warming heap.
    /// </summary>
    private static (float Max, float TopKBound) MaximumAndTopKBound256(ReadOnlySpan<float> logits, int k)
    {
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        var max0 = Vector256.Create(float.NegativeInfinity);
        var max1 = max0;
        var max2 = max0;
        var max3 = max0;
        int i = 0;
        for (; i <= length - 32; i += 32)
        {
            max0 = MaxIgnoringNaN(Vector256.LoadUnsafe(ref origin, (nuint)i), max0);
            max1 = MaxIgnoringNaN(Vector256.LoadUnsafe(ref origin, (nuint)(i + 8)), max1);
            max2 = MaxIgnoringNaN(Vector256.LoadUnsafe(ref origin, (nuint)(i + 16)), max2);
            max3 = MaxIgnoringNaN(Vector256.LoadUnsafe(ref origin, (nuint)(i + 24)), max3);
        }
        for (; i <= length - 8; i += 8)
        {
            max0 = MaxIgnoringNaN(Vector256.LoadUnsafe(ref origin, (nuint)i), max0);
        }
        var lanesMax = MaxIgnoringNaN(MaxIgnoringNaN(max0, max1), MaxIgnoringNaN(max2, max3));
        float max = Math.Max(HorizontalMax(lanesMax), MaximumScalar(logits, i));
        return (max, TopKLowerBound256(max0, max1, max2, max3, k));
    }

    /// <summary>
    /// The k-th largest of the 32 bucket maxima, one ulp lower: the buckets are disjoint, so at least k logits are ≥
    /// the k-th largest maximum, and a logit not above the bound cannot be in the top-k (a tie with it still can, hence
    /// the ulp). −∞ when k is 0 or above 32.
    /// </summary>
    private static float TopKLowerBound256(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d, int k)
    {
        if (k == 0 || k > 32)
        {
            return float.NegativeInfinity;
        }
        Span<float> maxima = stackalloc float[32];
        a.CopyTo(maxima);
        b.CopyTo(maxima[8..]);
        c.CopyTo(maxima[16..]);
        d.CopyTo(maxima[24..]);
        // The largest value v with at least k maxima ≥ v, by counting with compares: at most 32 × 4 vector compares.
        float bound = float.NegativeInfinity;
        foreach (float candidate in maxima)
        {
            if (candidate > bound)
            {
                var v = Vector256.Create(candidate);
                int atLeast = BitOperations.PopCount(Vector256.GreaterThanOrEqual(a, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector256.GreaterThanOrEqual(b, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector256.GreaterThanOrEqual(c, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector256.GreaterThanOrEqual(d, v).ExtractMostSignificantBits());
                if (atLeast >= k)
                {
                    bound = candidate;
                }
            }
        }
        return float.IsNegativeInfinity(bound) ? bound : float.BitDecrement(bound);
    }

    /// <summary>
    /// Pass 2 over whole vectors with the maximum known: per lane S = Σ e^{x−max}, T = Σ e^{x−max}(x−max) and the
    /// count of logits above the chosen one; returns the index where the scalar tail starts. The hot loop
    /// (<see cref="ScanBlocks256{TExp}"/>) has no call in it: it only notes the blocks holding a possible top-k entry,
    /// which this method offers to the selector after each chunk.
    /// </summary>
    private static int SumVector256<TExp>(
        ReadOnlySpan<float> logits, float max, float topKBound, float chosenLogit, ref TopKSelector selector,
        ref ExpSums sums, ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        const int Width = 8; // Vector256<float>.Count
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        int blocksEnd = length - length % Block256;
        var maxVector = Vector256.Create(max);
        var chosen = Vector256.Create(chosenLogit);
        var partialSum = Vector256<float>.Zero;
        var partialShiftedSum = Vector256<float>.Zero;
        Vector256<double> sum = default, shiftedSum = default;
        int greater = 0;
        Span<int> candidateBlocks = stackalloc int[CandidateBlockCapacity];

        int i = 0;
        while (i < blocksEnd)
        {
            var threshold = Vector256.Create(Math.Max(topKBound, selector.Threshold));
            int chunkEnd = Math.Min(blocksEnd, i + FlushInterval256);
            int candidates = 0;
            i = ScanBlocks256<TExp>(
                ref origin, i, chunkEnd, maxVector, threshold, chosen, ref partialSum, ref partialShiftedSum, ref greater,
                candidateBlocks, ref candidates);
            // In increasing id order, as the selector requires; its own threshold drops most of each block.
            foreach (int block in candidateBlocks[..candidates])
            {
                selector.OfferBlock(logits.Slice(block, Block256), block);
            }
            Flush(ref partialSum, ref sum);
            Flush(ref partialShiftedSum, ref shiftedSum);
        }
        for (; i <= length - Width; i += Width)
        {
            var x = Vector256.LoadUnsafe(ref origin, (nuint)i);
            if (Vector256.GreaterThanAny(x, Vector256.Create(Math.Max(topKBound, selector.Threshold))))
            {
                selector.OfferBlock(logits.Slice(i, Width), i);
            }
            AddVector256<TExp>(x, maxVector, chosen, ref partialSum, ref partialShiftedSum, ref greater);
        }
        Flush(ref partialSum, ref sum);
        Flush(ref partialShiftedSum, ref shiftedSum);

        // Every lane shares the reference point max, so the lanes simply add.
        sums.Sum += Vector256.Sum(sum);
        sums.ShiftedSum += Vector256.Sum(shiftedSum);
        greaterCount += greater;
        return i;
    }

    /// <summary>
    /// Hot loop: adds whole blocks in [<paramref name="start"/>, <paramref name="end"/>) to the partial sums and the
    /// rank count, and appends the index of every block holding a logit above <paramref name="threshold"/> to
    /// <paramref name="candidateBlocks"/>. Returns <paramref name="end"/>, or the index of the first unprocessed block
    /// if the candidate list filled up. Compares are false for NaN, so NaN is never a candidate and never counts toward
    /// the rank.
    /// </summary>
    private static int ScanBlocks256<TExp>(
        ref float origin, int start, int end, Vector256<float> max, Vector256<float> threshold, Vector256<float> chosen,
        ref Vector256<float> partialSum, ref Vector256<float> partialShiftedSum, ref int greaterCount,
        Span<int> candidateBlocks, ref int candidateCount)
        where TExp : struct, IVectorExp
    {
        // Locals, not the refs, so the JIT keeps them in registers for the whole loop.
        var sum = partialSum;
        var shiftedSum = partialShiftedSum;
        int greater = greaterCount;
        int candidates = candidateCount;
        int i = start;
        for (; i < end; i += Block256)
        {
            var x0 = Vector256.LoadUnsafe(ref origin, (nuint)i);
            var x1 = Vector256.LoadUnsafe(ref origin, (nuint)(i + 8));
            if ((Vector256.GreaterThan(x0, threshold) | Vector256.GreaterThan(x1, threshold)) != Vector256<float>.Zero)
            {
                if (candidates == candidateBlocks.Length)
                {
                    break;
                }
                candidateBlocks[candidates++] = i;
            }
            // Counted on the integer ports (mask → popcount), which this FP-bound loop leaves idle.
            greater += BitOperations.PopCount(Vector256.GreaterThan(x0, chosen).ExtractMostSignificantBits())
                     + BitOperations.PopCount(Vector256.GreaterThan(x1, chosen).ExtractMostSignificantBits());
            var d0 = ClampExponent(x0 - max);
            var d1 = ClampExponent(x1 - max);
            var e0 = TExp.Exp(d0);
            var e1 = TExp.Exp(d1);
            sum += e0 + e1;
            shiftedSum += Vector256.FusedMultiplyAdd(e0, d0, e1 * d1);
        }
        partialSum = sum;
        partialShiftedSum = shiftedSum;
        greaterCount = greater;
        candidateCount = candidates;
        return i;
    }

    /// <summary>Adds one vector's terms and rank count (the slow path's version of the hot loop body).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddVector256<TExp>(
        Vector256<float> x, Vector256<float> max, Vector256<float> chosen,
        ref Vector256<float> partialSum, ref Vector256<float> partialShiftedSum, ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        greaterCount += BitOperations.PopCount(Vector256.GreaterThan(x, chosen).ExtractMostSignificantBits());
        var d = ClampExponent(x - max);
        var e = TExp.Exp(d);
        partialSum += e;
        partialShiftedSum = Vector256.FusedMultiplyAdd(e, d, partialShiftedSum);
    }

    private static void Flush(ref Vector256<float> partial, ref Vector256<double> total)
    {
        (var lower, var upper) = Vector256.Widen(partial);
        total += lower + upper;
        partial = Vector256<float>.Zero;
    }

    /// <summary>max(d, <see cref="UnderflowExponent"/>), also mapping NaN (from a NaN logit) to the floor: the compare is false for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ClampExponent(Vector256<float> delta)
    {
        var floor = Vector256.Create(UnderflowExponent);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(delta, floor), delta, floor);
    }

    /// <summary>Lane-wise max that keeps <paramref name="accumulator"/> where <paramref name="x"/> is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MaxIgnoringNaN(Vector256<float> x, Vector256<float> accumulator) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, accumulator), x, accumulator);

    private static float HorizontalMax(Vector256<float> v)
    {
        float max = float.NegativeInfinity;
        for (int lane = 0; lane < Vector256<float>.Count; lane++)
        {
            max = Math.Max(max, v.GetElement(lane)); // no NaN here: the accumulators ignore it
        }
        return max;
    }
}
