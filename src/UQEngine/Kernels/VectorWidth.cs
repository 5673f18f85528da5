using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace UQEngine.Kernels;

/// <summary>
/// The float-vector operations the kernel's loops use, at one width. The loops are written once against this
/// interface; each struct below instantiates them for its width. Struct type arguments make the JIT compile a
/// separate copy per width with every call inlined, as the runtime's TensorPrimitives does internally
/// (System.Runtime.Intrinsics' own ISimdVector is not public).
/// </summary>
/// <typeparam name="TVector">Vector128/256/512 of float.</typeparam>
internal interface IVectorWidth<TVector> where TVector : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    static abstract bool IsHardwareAccelerated { get; }

    static abstract TVector Create(float value);

    static abstract TVector Load(ref float origin, int index);

    static abstract TVector Add(TVector a, TVector b);

    static abstract TVector Subtract(TVector a, TVector b);

    static abstract TVector Multiply(TVector a, TVector b);

    /// <summary>a·b + c with one rounding.</summary>
    static abstract TVector FusedMultiplyAdd(TVector a, TVector b, TVector c);

    /// <summary>Where <paramref name="mask"/> is set, a; else b.</summary>
    static abstract TVector Select(TVector mask, TVector a, TVector b);

    /// <summary>a with the lanes set in <paramref name="mask"/> zeroed.</summary>
    static abstract TVector ZeroWhere(TVector mask, TVector a);

    static abstract TVector Or(TVector a, TVector b);

    static abstract TVector GreaterThan(TVector a, TVector b);

    static abstract TVector GreaterThanOrEqual(TVector a, TVector b);

    static abstract TVector Equal(TVector a, TVector b);

    /// <summary>Whether any lane of the mask is set.</summary>
    static abstract bool Any(TVector mask);

    /// <summary>How many lanes of the mask are set.</summary>
    static abstract int CountSet(TVector mask);

    /// <summary>
    /// <paramref name="total"/> + the lanes of <paramref name="partial"/> widened to double, where
    /// <paramref name="total"/> holds Count/2 doubles in the vector's bits: a vector add per flush, no horizontal sum.
    /// </summary>
    static abstract TVector AddWidened(TVector total, TVector partial);

    /// <summary>Sum of the Count/2 doubles held in <paramref name="total"/>'s bits (see <see cref="AddWidened"/>).</summary>
    static abstract double SumDoubles(TVector total);

    /// <summary>p·2^n for integral n held in the low mantissa bits of <paramref name="shifted"/> (see <see cref="PolynomialExp"/>).</summary>
    static abstract TVector ScaleByPowerOfTwo(TVector p, TVector shifted);

    static abstract void CopyTo(TVector v, Span<float> destination);

    static abstract TVector Exp<TExp>(TVector d) where TExp : struct, IVectorExp;
}

internal readonly struct Width128 : IVectorWidth<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static bool IsHardwareAccelerated => Vector128.IsHardwareAccelerated;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Create(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float origin, int index) => Vector128.LoadUnsafe(ref origin, (nuint)index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> FusedMultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Select(Vector128<float> mask, Vector128<float> a, Vector128<float> b) => Vector128.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> ZeroWhere(Vector128<float> mask, Vector128<float> a) => Vector128.AndNot(a, mask);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Or(Vector128<float> a, Vector128<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> GreaterThan(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> GreaterThanOrEqual(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Equal(Vector128<float> a, Vector128<float> b) => Vector128.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Any(Vector128<float> mask) => mask != Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int CountSet(Vector128<float> mask) => BitOperations.PopCount(mask.ExtractMostSignificantBits());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> ScaleByPowerOfTwo(Vector128<float> p, Vector128<float> shifted) => (p.AsInt32() + (shifted.AsInt32() << 23)).AsSingle();
    public static void CopyTo(Vector128<float> v, Span<float> destination) => v.CopyTo(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Exp<TExp>(Vector128<float> d) where TExp : struct, IVectorExp => TExp.Exp(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddWidened(Vector128<float> total, Vector128<float> partial)
    {
        (var lower, var upper) = Vector128.Widen(partial);
        return (total.AsDouble() + (lower + upper)).AsSingle();
    }

    public static double SumDoubles(Vector128<float> total) => Vector128.Sum(total.AsDouble());
}

internal readonly struct Width256 : IVectorWidth<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Create(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float origin, int index) => Vector256.LoadUnsafe(ref origin, (nuint)index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> mask, Vector256<float> a, Vector256<float> b) => Vector256.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ZeroWhere(Vector256<float> mask, Vector256<float> a) => Vector256.AndNot(a, mask);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Or(Vector256<float> a, Vector256<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> GreaterThan(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> GreaterThanOrEqual(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Equal(Vector256<float> a, Vector256<float> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Any(Vector256<float> mask) => mask != Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int CountSet(Vector256<float> mask) => BitOperations.PopCount(mask.ExtractMostSignificantBits());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ScaleByPowerOfTwo(Vector256<float> p, Vector256<float> shifted) => (p.AsInt32() + (shifted.AsInt32() << 23)).AsSingle();
    public static void CopyTo(Vector256<float> v, Span<float> destination) => v.CopyTo(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Exp<TExp>(Vector256<float> d) where TExp : struct, IVectorExp => TExp.Exp(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddWidened(Vector256<float> total, Vector256<float> partial)
    {
        (var lower, var upper) = Vector256.Widen(partial);
        return (total.AsDouble() + (lower + upper)).AsSingle();
    }

    public static double SumDoubles(Vector256<float> total) => Vector256.Sum(total.AsDouble());
}

internal readonly struct Width512 : IVectorWidth<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Create(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float origin, int index) => Vector512.LoadUnsafe(ref origin, (nuint)index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> mask, Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> ZeroWhere(Vector512<float> mask, Vector512<float> a) => Vector512.AndNot(a, mask);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Or(Vector512<float> a, Vector512<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> GreaterThan(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> GreaterThanOrEqual(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Equal(Vector512<float> a, Vector512<float> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Any(Vector512<float> mask) => mask != Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int CountSet(Vector512<float> mask) => BitOperations.PopCount(mask.ExtractMostSignificantBits());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> ScaleByPowerOfTwo(Vector512<float> p, Vector512<float> shifted) => (p.AsInt32() + (shifted.AsInt32() << 23)).AsSingle();
    public static void CopyTo(Vector512<float> v, Span<float> destination) => v.CopyTo(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Exp<TExp>(Vector512<float> d) where TExp : struct, IVectorExp => TExp.Exp(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddWidened(Vector512<float> total, Vector512<float> partial)
    {
        (var lower, var upper) = Vector512.Widen(partial);
        return (total.AsDouble() + (lower + upper)).AsSingle();
    }

    public static double SumDoubles(Vector512<float> total) => Vector512.Sum(total.AsDouble());
}
