using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

using UQEngine.Kernels;

namespace UQEngine.Kernels.Legacy;

internal static partial class LegacyTokenStatisticsKernel
{
    /// <summary>Logits per hot-loop iteration of the Vector512 path: two vectors share one top-k test.</summary>
    private const int Block512 = 2 * 16;

    /// <summary>Logits between flushes of the float partial sums into double: 64 per lane keeps float rounding of S and T below 1e-7.</summary>
    private const int FlushInterval512 = 32 * Block512;

    /// <summary>
    /// Pass 1 at memory speed: the maximum (NaN ignored) and <see cref="TopKLowerBound512"/> from the maxima of 64
    /// interleaved buckets (4 accumulators × 16 lanes), so pass 2 starts with a near-final top-k threshold instead of
    /// taking the slow path for every logit that would have improved a still-warming heap.
    /// </summary>
    private static (float Max, float TopKBound) MaximumAndTopKBound512(ReadOnlySpan<float> logits, int k)
    {
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        var max0 = Vector512.Create(float.NegativeInfinity);
        var max1 = max0;
        var max2 = max0;
        var max3 = max0;
        int i = 0;
        for (; i <= length - 64; i += 64)
        {
            max0 = MaxIgnoringNaN(Vector512.LoadUnsafe(ref origin, (nuint)i), max0);
            max1 = MaxIgnoringNaN(Vector512.LoadUnsafe(ref origin, (nuint)(i + 16)), max1);
            max2 = MaxIgnoringNaN(Vector512.LoadUnsafe(ref origin, (nuint)(i + 32)), max2);
            max3 = MaxIgnoringNaN(Vector512.LoadUnsafe(ref origin, (nuint)(i + 48)), max3);
        }
        for (; i <= length - 16; i += 16)
        {
            max0 = MaxIgnoringNaN(Vector512.LoadUnsafe(ref origin, (nuint)i), max0);
        }
        var lanesMax = MaxIgnoringNaN(MaxIgnoringNaN(max0, max1), MaxIgnoringNaN(max2, max3));
        float max = Math.Max(HorizontalMax(lanesMax), MaximumScalar(logits, i));
        return (max, TopKLowerBound512(max0, max1, max2, max3, k));
    }

    /// <summary>
    /// The k-th largest of the 64 bucket maxima, one ulp lower: the buckets are disjoint, so at least k logits are ≥
    /// the k-th largest maximum, and a logit not above the bound cannot be in the top-k (a tie with it still can, hence
    /// the ulp). −∞ when k is 0 or above 64.
    /// </summary>
    private static float TopKLowerBound512(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, int k)
    {
        if (k == 0 || k > 64)
        {
            return float.NegativeInfinity;
        }
        Span<float> maxima = stackalloc float[64];
        a.CopyTo(maxima);
        b.CopyTo(maxima[16..]);
        c.CopyTo(maxima[32..]);
        d.CopyTo(maxima[48..]);
        // The largest value v with at least k maxima ≥ v, by counting with compares: at most 64 × 4 vector compares.
        float bound = float.NegativeInfinity;
        foreach (float candidate in maxima)
        {
            if (candidate > bound)
            {
                var v = Vector512.Create(candidate);
                int atLeast = BitOperations.PopCount(Vector512.GreaterThanOrEqual(a, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector512.GreaterThanOrEqual(b, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector512.GreaterThanOrEqual(c, v).ExtractMostSignificantBits())
                            + BitOperations.PopCount(Vector512.GreaterThanOrEqual(d, v).ExtractMostSignificantBits());
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
    /// (<see cref="ScanBlocks512{TExp}"/>) has no call in it: it only notes the blocks holding a possible top-k entry,
    /// which this method offers to the selector after each chunk.
    /// </summary>
    private static int SumVector512<TExp>(
        ReadOnlySpan<float> logits, float max, float topKBound, float chosenLogit, ref TopKSelector selector,
        ref ExpSums sums, ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        const int Width = 16; // Vector512<float>.Count
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        int blocksEnd = length - length % Block512;
        var maxVector = Vector512.Create(max);
        var chosen = Vector512.Create(chosenLogit);
        var partialSum = Vector512<float>.Zero;
        var partialShiftedSum = Vector512<float>.Zero;
        Vector512<double> sum = default, shiftedSum = default;
        int greater = 0;
        Span<int> candidateBlocks = stackalloc int[CandidateBlockCapacity];

        int i = 0;
        while (i < blocksEnd)
        {
            var threshold = Vector512.Create(Math.Max(topKBound, selector.Threshold));
            int chunkEnd = Math.Min(blocksEnd, i + FlushInterval512);
            int candidates = 0;
            i = ScanBlocks512<TExp>(
                ref origin, i, chunkEnd, maxVector, threshold, chosen, ref partialSum, ref partialShiftedSum, ref greater,
                candidateBlocks, ref candidates);
            // In increasing id order, as the selector requires; its own threshold drops most of each block.
            foreach (int block in candidateBlocks[..candidates])
            {
                selector.OfferBlock(logits.Slice(block, Block512), block);
            }
            Flush(ref partialSum, ref sum);
            Flush(ref partialShiftedSum, ref shiftedSum);
        }
        for (; i <= length - Width; i += Width)
        {
            var x = Vector512.LoadUnsafe(ref origin, (nuint)i);
            if (Vector512.GreaterThanAny(x, Vector512.Create(Math.Max(topKBound, selector.Threshold))))
            {
                selector.OfferBlock(logits.Slice(i, Width), i);
            }
            AddVector512<TExp>(x, maxVector, chosen, ref partialSum, ref partialShiftedSum, ref greater);
        }
        Flush(ref partialSum, ref sum);
        Flush(ref partialShiftedSum, ref shiftedSum);

        // Every lane shares the reference point max, so the lanes simply add.
        sums.Sum += Vector512.Sum(sum);
        sums.ShiftedSum += Vector512.Sum(shiftedSum);
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
    private static int ScanBlocks512<TExp>(
        ref float origin, int start, int end, Vector512<float> max, Vector512<float> threshold, Vector512<float> chosen,
        ref Vector512<float> partialSum, ref Vector512<float> partialShiftedSum, ref int greaterCount,
        Span<int> candidateBlocks, ref int candidateCount)
        where TExp : struct, IVectorExp
    {
        // Locals, not the refs, so the JIT keeps them in registers for the whole loop.
        var sum = partialSum;
        var shiftedSum = partialShiftedSum;
        int greater = greaterCount;
        int candidates = candidateCount;
        int i = start;
        for (; i < end; i += Block512)
        {
            var x0 = Vector512.LoadUnsafe(ref origin, (nuint)i);
            var x1 = Vector512.LoadUnsafe(ref origin, (nuint)(i + 16));
            if ((Vector512.GreaterThan(x0, threshold) | Vector512.GreaterThan(x1, threshold)) != Vector512<float>.Zero)
            {
                if (candidates == candidateBlocks.Length)
                {
                    break;
                }
                candidateBlocks[candidates++] = i;
            }
            // Counted on the integer ports (mask → popcount), which this FP-bound loop leaves idle.
            greater += BitOperations.PopCount(Vector512.GreaterThan(x0, chosen).ExtractMostSignificantBits())
                     + BitOperations.PopCount(Vector512.GreaterThan(x1, chosen).ExtractMostSignificantBits());
            var d0 = ClampExponent(x0 - max);
            var d1 = ClampExponent(x1 - max);
            var e0 = TExp.Exp(d0);
            var e1 = TExp.Exp(d1);
            sum += e0 + e1;
            shiftedSum += Vector512.FusedMultiplyAdd(e0, d0, e1 * d1);
        }
        partialSum = sum;
        partialShiftedSum = shiftedSum;
        greaterCount = greater;
        candidateCount = candidates;
        return i;
    }

    /// <summary>Adds one vector's terms and rank count (the slow path's version of the hot loop body).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddVector512<TExp>(
        Vector512<float> x, Vector512<float> max, Vector512<float> chosen,
        ref Vector512<float> partialSum, ref Vector512<float> partialShiftedSum, ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        greaterCount += BitOperations.PopCount(Vector512.GreaterThan(x, chosen).ExtractMostSignificantBits());
        var d = ClampExponent(x - max);
        var e = TExp.Exp(d);
        partialSum += e;
        partialShiftedSum = Vector512.FusedMultiplyAdd(e, d, partialShiftedSum);
    }

    private static void Flush(ref Vector512<float> partial, ref Vector512<double> total)
    {
        (var lower, var upper) = Vector512.Widen(partial);
        total += lower + upper;
        partial = Vector512<float>.Zero;
    }

    /// <summary>max(d, <see cref="UnderflowExponent"/>), also mapping NaN (from a NaN logit) to the floor: the compare is false for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ClampExponent(Vector512<float> delta)
    {
        var floor = Vector512.Create(UnderflowExponent);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(delta, floor), delta, floor);
    }

    /// <summary>Lane-wise max that keeps <paramref name="accumulator"/> where <paramref name="x"/> is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MaxIgnoringNaN(Vector512<float> x, Vector512<float> accumulator) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, accumulator), x, accumulator);

    private static float HorizontalMax(Vector512<float> v)
    {
        float max = float.NegativeInfinity;
        for (int lane = 0; lane < Vector512<float>.Count; lane++)
        {
            max = Math.Max(max, v.GetElement(lane)); // no NaN here: the accumulators ignore it
        }
        return max;
    }
}
