using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UQEngine.Kernels;

public static partial class TokenStatisticsKernel
{
    /// <summary>Logits per hot-loop iteration of the Vector256 path: two vectors amortize the event test and keep every constant in a register.</summary>
    private const int Block256 = 2 * 8;

    /// <summary>Logits between flushes of the float partial sums into the double totals: 64 per lane, which keeps float rounding of S and T below 1e-7.</summary>
    private const int FlushInterval256 = 32 * Block256;

    /// <summary>
    /// Per-lane online-softmax state of the Vector256 path: running max m and the sums S = Σ e^{x−m},
    /// T = Σ e^{x−m}(x−m). The hot loop adds into float partial sums, which are flushed into double totals every
    /// <see cref="FlushInterval256"/> logits, so a lane whose sum is ~1 does not round away millions of ~1e-9 terms.
    /// </summary>
    private struct Lanes256
    {
        public Vector256<float> Max;
        public Vector256<float> PartialSum;
        public Vector256<float> PartialShiftedSum;
        public Vector256<double> SumLower, SumUpper;
        public Vector256<double> ShiftedSumLower, ShiftedSumUpper;

        public void Flush()
        {
            (var lower, var upper) = Vector256.Widen(PartialSum);
            SumLower += lower;
            SumUpper += upper;
            (lower, upper) = Vector256.Widen(PartialShiftedSum);
            ShiftedSumLower += lower;
            ShiftedSumUpper += upper;
            PartialSum = Vector256<float>.Zero;
            PartialShiftedSum = Vector256<float>.Zero;
        }

        /// <summary>
        /// Moves the reference point to <paramref name="newMax"/> ≥ Max: e^{x−new} = s·e^{x−old} and
        /// x−new = (x−old) + δ with δ = old − new ≤ 0, s = e^δ. A lane that only saw −∞ has δ clamped to −87, s ≈ 0,
        /// and its sums were ≈ 0 anyway. Flushes first so only the double totals need rescaling.
        /// </summary>
        public void Rescale<TExp>(Vector256<float> newMax) where TExp : struct, IVectorExp
        {
            Flush();
            var delta = ClampExponent(Max - newMax);
            (var scaleLower, var scaleUpper) = Vector256.Widen(TExp.Exp(delta));
            (var deltaLower, var deltaUpper) = Vector256.Widen(delta);
            ShiftedSumLower = scaleLower * Vector256.FusedMultiplyAdd(deltaLower, SumLower, ShiftedSumLower);
            ShiftedSumUpper = scaleUpper * Vector256.FusedMultiplyAdd(deltaUpper, SumUpper, ShiftedSumUpper);
            SumLower *= scaleLower;
            SumUpper *= scaleUpper;
            Max = newMax;
        }
    }

    /// <summary>
    /// Vector256 pass over whole vectors; returns the index where the scalar tail starts. The hot loop
    /// (<see cref="ScanBlocks256{TExp}"/>) has no call and no rare work in it: it stops at the first block holding a
    /// logit that could raise a lane max or enter the top-k, and this method handles that block before resuming.
    /// </summary>
    private static int AccumulateVector256<TExp>(
        ReadOnlySpan<float> logits, float chosenLogit, ref TopKSelector selector,
        out ScalarAccumulator accumulator, out int greaterCount)
        where TExp : struct, IVectorExp
    {
        const int Width = 8; // Vector256<float>.Count
        ref float origin = ref MemoryMarshal.GetReference(logits);
        int length = logits.Length;
        int blocksEnd = length - length % Block256;
        var chosen = Vector256.Create(chosenLogit);
        var lanes = new Lanes256 { Max = Vector256.Create(float.NegativeInfinity) };
        int greater = 0;

        int i = 0;
        while (i < blocksEnd)
        {
            // A lane triggers on x > min(lane max, k-th best so far); both bars only rise, so events thin out fast.
            var trigger = Vector256.Min(lanes.Max, Vector256.Create(selector.Threshold));
            int chunkEnd = Math.Min(blocksEnd, i + FlushInterval256);
            i = ScanBlocks256<TExp>(ref origin, i, chunkEnd, ref lanes, trigger, chosen, ref greater);
            lanes.Flush();
            if (i < chunkEnd)
            {
                for (int end = i + Block256; i < end; i += Width)
                {
                    AddVectorWithEvents256<TExp>(logits, i, ref lanes, ref selector, chosen, ref greater);
                }
            }
        }
        for (; i <= length - Width; i += Width)
        {
            AddVectorWithEvents256<TExp>(logits, i, ref lanes, ref selector, chosen, ref greater);
        }
        lanes.Flush();

        accumulator = new ScalarAccumulator(float.NegativeInfinity, 0, 0);
        for (int lane = 0; lane < Width / 2; lane++)
        {
            accumulator.Merge(lanes.Max.GetElement(lane), lanes.SumLower.GetElement(lane), lanes.ShiftedSumLower.GetElement(lane));
            accumulator.Merge(lanes.Max.GetElement(lane + Width / 2), lanes.SumUpper.GetElement(lane), lanes.ShiftedSumUpper.GetElement(lane));
        }
        greaterCount = greater;
        return i;
    }

    /// <summary>
    /// Hot loop: adds whole blocks in [<paramref name="start"/>, <paramref name="end"/>) to the partial sums and the
    /// rank count until a block holds a logit above <paramref name="trigger"/>; returns that block's (unprocessed)
    /// index, or <paramref name="end"/>. Compares are false for NaN, so NaN never triggers, never counts toward the
    /// rank and never enters the top-k.
    /// </summary>
    private static int ScanBlocks256<TExp>(
        ref float origin, int start, int end, ref Lanes256 state, Vector256<float> trigger, Vector256<float> chosen,
        ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        // Locals, not the ref'd struct, so the JIT keeps the state in registers for the whole loop.
        var laneMax = state.Max;
        var sum = state.PartialSum;
        var shiftedSum = state.PartialShiftedSum;
        int greater = greaterCount;
        int i = start;
        for (; i < end; i += Block256)
        {
            var x0 = Vector256.LoadUnsafe(ref origin, (nuint)i);
            var x1 = Vector256.LoadUnsafe(ref origin, (nuint)(i + 8));
            if ((Vector256.GreaterThan(x0, trigger) | Vector256.GreaterThan(x1, trigger)) != Vector256<float>.Zero)
            {
                break;
            }
            // Counted on the integer ports (mask → popcount), which this FP-bound loop leaves idle.
            greater += BitOperations.PopCount(Vector256.GreaterThan(x0, chosen).ExtractMostSignificantBits())
                     + BitOperations.PopCount(Vector256.GreaterThan(x1, chosen).ExtractMostSignificantBits());
            var d0 = ClampExponent(x0 - laneMax);
            var d1 = ClampExponent(x1 - laneMax);
            var e0 = TExp.Exp(d0);
            var e1 = TExp.Exp(d1);
            sum += e0 + e1;
            shiftedSum += Vector256.FusedMultiplyAdd(e0, d0, e1 * d1);
        }
        state.PartialSum = sum;
        state.PartialShiftedSum = shiftedSum;
        greaterCount = greater;
        return i;
    }

    /// <summary>Cold path for one vector: raises lane maxima (rescaling the sums), offers top-k candidates, then adds it.</summary>
    private static void AddVectorWithEvents256<TExp>(
        ReadOnlySpan<float> logits, int index, ref Lanes256 state, ref TopKSelector selector, Vector256<float> chosen,
        ref int greaterCount)
        where TExp : struct, IVectorExp
    {
        var x = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(logits), (nuint)index);
        var grows = Vector256.GreaterThan(x, state.Max);
        if (grows != Vector256<float>.Zero)
        {
            state.Rescale<TExp>(Vector256.ConditionalSelect(grows, x, state.Max));
        }
        if (Vector256.GreaterThanAny(x, Vector256.Create(selector.Threshold)))
        {
            selector.OfferBlock(logits.Slice(index, 8), index);
        }
        greaterCount += BitOperations.PopCount(Vector256.GreaterThan(x, chosen).ExtractMostSignificantBits());
        var d = ClampExponent(x - state.Max);
        var e = TExp.Exp(d);
        state.PartialSum += e;
        state.PartialShiftedSum = Vector256.FusedMultiplyAdd(e, d, state.PartialShiftedSum);
    }

    /// <summary>max(d, <see cref="UnderflowExponent"/>), also mapping NaN (a NaN logit, or −∞ − (−∞)) to the floor: the compare is false for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ClampExponent(Vector256<float> delta)
    {
        var floor = Vector256.Create(UnderflowExponent);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(delta, floor), delta, floor);
    }
}
