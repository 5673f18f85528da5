using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace UQEngine.Kernels;

/// <summary>
/// The vector passes, written once and instantiated per width through <see cref="IVectorWidth{TVector}"/>
/// (<see cref="Width128"/>, <see cref="Width256"/>, <see cref="Width512"/>).
/// </summary>
public static partial class TokenStatisticsKernel
{
    /// <summary>Vectors per hot-loop block: two share one top-k test.</summary>
    private const int VectorsPerBlock = 2;

    /// <summary>Blocks between flushes of the float partial sums into double: 64 logits per lane keeps float rounding of S and T below 1e-7.</summary>
    private const int BlocksPerFlush = 32;

    /// <summary>Independent max accumulators in pass 1 (hides the compare latency; 4·width buckets for the top-k bound).</summary>
    private const int MaxAccumulators = 4;

    /// <summary>
    /// Pass 1 at memory speed: the maximum (NaN ignored) and <see cref="TopKLowerBound{TW, TV}"/> from the maxima of
    /// 4·width interleaved buckets, so pass 2 starts with a near-final top-k threshold instead of taking the slow path
    /// for every logit that would have improved a still-warming heap.
    /// </summary>
    private static (float Max, float TopKBound, bool NonFinite) MaximumAndTopKBound<TW, TV>(ReadOnlySpan<float> logits, int k)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
    {
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        int width = TW.Count;
        var max0 = TW.Create(float.NegativeInfinity);
        var max1 = max0;
        var max2 = max0;
        var max3 = max0;
        // Plain sums of the logits: NaN or ±∞ anywhere makes them non-finite (one add per load, off pass 2's path).
        // Only an overflow of finite logits (|x| near 1e34 and up) could do the same; that is ruled out by an exact scan.
        var sum0 = TW.Create(0f);
        var sum1 = sum0;
        var sum2 = sum0;
        var sum3 = sum0;
        int i = 0;
        for (; i <= length - MaxAccumulators * width; i += MaxAccumulators * width)
        {
            var x0 = TW.Load(ref origin, i);
            var x1 = TW.Load(ref origin, i + width);
            var x2 = TW.Load(ref origin, i + 2 * width);
            var x3 = TW.Load(ref origin, i + 3 * width);
            max0 = MaxIgnoringNaN<TW, TV>(x0, max0);
            max1 = MaxIgnoringNaN<TW, TV>(x1, max1);
            max2 = MaxIgnoringNaN<TW, TV>(x2, max2);
            max3 = MaxIgnoringNaN<TW, TV>(x3, max3);
            sum0 = TW.Add(sum0, x0);
            sum1 = TW.Add(sum1, x1);
            sum2 = TW.Add(sum2, x2);
            sum3 = TW.Add(sum3, x3);
        }
        for (; i <= length - width; i += width)
        {
            var x = TW.Load(ref origin, i);
            max0 = MaxIgnoringNaN<TW, TV>(x, max0);
            sum0 = TW.Add(sum0, x);
        }

        // Lanes first, then one vector's worth of scalars (no NaN here: the accumulators ignore it).
        var lanesMax = MaxIgnoringNaN<TW, TV>(MaxIgnoringNaN<TW, TV>(max0, max1), MaxIgnoringNaN<TW, TV>(max2, max3));
        Span<float> maxima = stackalloc float[MaxAccumulators * width];
        TW.CopyTo(lanesMax, maxima);
        float max = MaximumScalar(logits, i); // the tail
        foreach (float lane in maxima[..width])
        {
            max = lane > max ? lane : max;
        }
        TW.CopyTo(TW.Add(TW.Add(sum0, sum1), TW.Add(sum2, sum3)), maxima);
        bool suspect = false;
        foreach (float lane in maxima[..width])
        {
            suspect |= !float.IsFinite(lane);
        }
        bool nonFinite = suspect ? ContainsNonFinite(logits) : ContainsNonFinite(logits[i..]);
        if (k > 0 && k <= maxima.Length)
        {
            TW.CopyTo(max0, maxima);
            TW.CopyTo(max1, maxima[width..]);
            TW.CopyTo(max2, maxima[(2 * width)..]);
            TW.CopyTo(max3, maxima[(3 * width)..]);
        }
        return (max, TopKLowerBound<TW, TV>(max0, max1, max2, max3, maxima, k), nonFinite);
    }

    /// <summary>
    /// The k-th largest of the bucket maxima, one ulp lower: the buckets are disjoint, so at least k logits are ≥ the
    /// k-th largest maximum, and a logit not above the bound cannot be in the top-k (a tie with it still can, hence the
    /// ulp). −∞ when k is 0 or above the bucket count.
    /// </summary>
    private static float TopKLowerBound<TW, TV>(TV a, TV b, TV c, TV d, ReadOnlySpan<float> maxima, int k)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
    {
        if (k == 0 || k > maxima.Length)
        {
            return float.NegativeInfinity;
        }
        // The largest value v with at least k maxima ≥ v, by counting with compares.
        float bound = float.NegativeInfinity;
        foreach (float candidate in maxima)
        {
            if (candidate > bound)
            {
                var v = TW.Create(candidate);
                int atLeast = TW.CountSet(TW.GreaterThanOrEqual(a, v)) + TW.CountSet(TW.GreaterThanOrEqual(b, v))
                            + TW.CountSet(TW.GreaterThanOrEqual(c, v)) + TW.CountSet(TW.GreaterThanOrEqual(d, v));
                if (atLeast >= k)
                {
                    bound = candidate;
                }
            }
        }
        return float.IsNegativeInfinity(bound) ? bound : float.BitDecrement(bound);
    }

    /// <summary>
    /// Pass 2 over whole vectors with the maximum known: s, T, the count of logits equal to the maximum and of those
    /// above the chosen one (see <see cref="ExpSums"/>); returns where the scalar tail starts. The hot loop
    /// (<see cref="ScanBlocks{TW, TV, TExp}"/>) skips every block holding a possible top-k entry or a copy of the
    /// maximum; this method adds those blocks, leaving the maximum's terms out of s, and offers them to the selector.
    /// </summary>
    private static int SumVectors<TW, TV, TExp>(
        ReadOnlySpan<float> logits, float max, float topKBound, float chosenLogit, ref TopKSelector selector,
        ref ExpSums sums)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
        where TExp : struct, IVectorExp
    {
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int width = TW.Count;
        int block = VectorsPerBlock * width;
        int length = logits.Length;
        int blocksEnd = length - length % block;
        var maxVector = TW.Create(max);
        var chosen = TW.Create(chosenLogit);
        var partialSum = TW.Create(0f);
        var partialShiftedSum = partialSum;
        var sum = partialSum; // doubles in float-vector bits (IVectorWidth.AddWidened)
        var shiftedSum = partialSum;
        int greater = 0, maxCount = 0;
        Span<int> candidateBlocks = stackalloc int[CandidateBlockCapacity];
        // Any block holding the maximum has a logit above this, so the hot loop never adds a copy of it.
        float belowMax = float.BitDecrement(max);

        int i = 0;
        while (i < blocksEnd)
        {
            var threshold = TW.Create(Math.Min(Math.Max(topKBound, selector.Threshold), belowMax));
            int chunkEnd = Math.Min(blocksEnd, i + BlocksPerFlush * block);
            int candidates = 0;
            i = ScanBlocks<TW, TV, TExp>(
                ref origin, i, chunkEnd, maxVector, threshold, chosen, ref partialSum, ref partialShiftedSum, ref greater,
                candidateBlocks, ref candidates);
            // In increasing id order, as the selector requires; its own threshold drops most of each block.
            foreach (int start in candidateBlocks[..candidates])
            {
                selector.OfferBlock(logits.Slice(start, block), start);
                AddExcludingMaximum<TW, TV, TExp>(
                    TW.Load(ref origin, start), maxVector, chosen, ref partialSum, ref partialShiftedSum, ref greater, ref maxCount);
                AddExcludingMaximum<TW, TV, TExp>(
                    TW.Load(ref origin, start + width), maxVector, chosen, ref partialSum, ref partialShiftedSum, ref greater, ref maxCount);
            }
            Flush<TW, TV>(ref partialSum, ref sum);
            Flush<TW, TV>(ref partialShiftedSum, ref shiftedSum);
        }
        for (; i <= length - width; i += width)
        {
            var x = TW.Load(ref origin, i);
            if (TW.Any(TW.GreaterThan(x, TW.Create(Math.Max(topKBound, selector.Threshold)))))
            {
                selector.OfferBlock(logits.Slice(i, width), i);
            }
            AddExcludingMaximum<TW, TV, TExp>(x, maxVector, chosen, ref partialSum, ref partialShiftedSum, ref greater, ref maxCount);
        }
        Flush<TW, TV>(ref partialSum, ref sum);
        Flush<TW, TV>(ref partialShiftedSum, ref shiftedSum);

        // Every lane shares the reference point max, so the lanes simply add.
        sums.Sum += TW.SumDoubles(sum);
        sums.ShiftedSum += TW.SumDoubles(shiftedSum);
        sums.MaxCount += maxCount;
        sums.GreaterCount += greater;
        return i;
    }

    /// <summary>
    /// Hot loop: adds whole blocks in [<paramref name="start"/>, <paramref name="end"/>) to the partial sums and the
    /// rank count, except blocks holding a logit above <paramref name="threshold"/>, whose index it appends to
    /// <paramref name="candidateBlocks"/> for the caller. Returns <paramref name="end"/>, or the first unprocessed
    /// block if the list filled up. Compares are false for NaN, so NaN is never a candidate nor counted in the rank.
    /// </summary>
    private static int ScanBlocks<TW, TV, TExp>(
        ref float origin, int start, int end, TV max, TV threshold, TV chosen,
        ref TV partialSum, ref TV partialShiftedSum, ref int greaterCount, Span<int> candidateBlocks, ref int candidateCount)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
        where TExp : struct, IVectorExp
    {
        int width = TW.Count;
        // Locals, not the refs, so the JIT keeps them in registers for the whole loop.
        var sum = partialSum;
        var shiftedSum = partialShiftedSum;
        int greater = greaterCount;
        int candidates = candidateCount;
        int i = start;
        for (; i < end; i += VectorsPerBlock * width)
        {
            var x0 = TW.Load(ref origin, i);
            var x1 = TW.Load(ref origin, i + width);
            if (TW.Any(TW.Or(TW.GreaterThan(x0, threshold), TW.GreaterThan(x1, threshold))))
            {
                if (candidates == candidateBlocks.Length)
                {
                    break;
                }
                candidateBlocks[candidates++] = i;
                continue;
            }
            // Counted on the integer ports (mask → popcount), which this FP-bound loop leaves idle.
            greater += TW.CountSet(TW.GreaterThan(x0, chosen)) + TW.CountSet(TW.GreaterThan(x1, chosen));
            var d0 = ClampExponent<TW, TV>(TW.Subtract(x0, max));
            var d1 = ClampExponent<TW, TV>(TW.Subtract(x1, max));
            var e0 = TW.Exp<TExp>(d0);
            var e1 = TW.Exp<TExp>(d1);
            sum = TW.Add(sum, TW.Add(e0, e1));
            shiftedSum = TW.Add(shiftedSum, TW.FusedMultiplyAdd(e0, d0, TW.Multiply(e1, d1)));
        }
        partialSum = sum;
        partialShiftedSum = shiftedSum;
        greaterCount = greater;
        candidateCount = candidates;
        return i;
    }

    /// <summary>
    /// Adds one vector's terms and rank count, leaving logits equal to the maximum out of s and counting them instead:
    /// 1 + tiny terms in one float lane would round the tiny terms away. Their T term is 0·1 = 0 either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddExcludingMaximum<TW, TV, TExp>(
        TV x, TV max, TV chosen, ref TV partialSum, ref TV partialShiftedSum, ref int greaterCount, ref int maxCount)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
        where TExp : struct, IVectorExp
    {
        greaterCount += TW.CountSet(TW.GreaterThan(x, chosen));
        var isMax = TW.Equal(x, max);
        maxCount += TW.CountSet(isMax);
        var d = ClampExponent<TW, TV>(TW.Subtract(x, max));
        var e = TW.Exp<TExp>(d);
        partialSum = TW.Add(partialSum, TW.ZeroWhere(isMax, e));
        partialShiftedSum = TW.FusedMultiplyAdd(e, d, partialShiftedSum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush<TW, TV>(ref TV partial, ref TV total)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
    {
        total = TW.AddWidened(total, partial);
        partial = TW.Create(0f);
    }

    /// <summary>max(d, <see cref="UnderflowExponent"/>), also mapping NaN (from a NaN logit) to the floor: the compare is false for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ClampExponent<TW, TV>(TV delta)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
    {
        var floor = TW.Create(UnderflowExponent);
        return TW.Select(TW.GreaterThanOrEqual(delta, floor), delta, floor);
    }

    /// <summary>Lane-wise max that keeps <paramref name="accumulator"/> where <paramref name="x"/> is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV MaxIgnoringNaN<TW, TV>(TV x, TV accumulator)
        where TW : struct, IVectorWidth<TV>
        where TV : struct =>
        TW.Select(TW.GreaterThan(x, accumulator), x, accumulator);
}
