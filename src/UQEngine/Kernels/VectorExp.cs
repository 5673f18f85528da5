using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace UQEngine.Kernels;

/// <summary>
/// e^d for the vector paths of <see cref="TokenStatisticsKernel"/>, which only ever exponentiate d = x − m ∈ [−87, 0]
/// (m is the running max and d is clamped at −87). A type parameter so the JIT specializes each kernel per choice.
/// </summary>
internal interface IVectorExp
{
    static abstract Vector512<float> Exp(Vector512<float> d);

    static abstract Vector256<float> Exp(Vector256<float> d);

    static abstract Vector128<float> Exp(Vector128<float> d);
}

/// <summary>
/// Single-precision e^d for d ∈ [−87, 0] in 12 instructions per vector: d = n·ln2 + r with n = round(d/ln2),
/// |r| ≤ ln2/2 (Cody–Waite split of ln2, exact with FMA), e^r by a degree-6 polynomial fitted for minimax relative
/// error (2e-9 in exact arithmetic), and 2^n added straight into the exponent bits.
/// </summary>
/// <remarks>
/// Accuracy: max relative error 8.6e-8 (about 1.4 ulp) against double-precision exp over a sweep of [−87, 0];
/// <c>VectorExpTests</c> asserts ≤ 1.5e-7. e^0 = 1 exactly and e^{−87} is a normal float. The built-in
/// <c>Vector512.Exp</c> reaches about 1 ulp but widens to double, costing ~40 instructions per 16 floats, which made
/// the fused kernel slower than a plain TensorPrimitives.Exp pass (see bench/README.md).
/// Outside the domain: d down to −126·ln2 ≈ −87.3 still gives normal results; below that the exponent trick wraps, so
/// callers must clamp. NaN input gives an unspecified result; callers map NaN away first.
/// </remarks>
internal readonly struct PolynomialExp : IVectorExp
{
    private const float Log2E = 1.44269504f;
    private const float RoundingMagic = 12582912f; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    private const float Ln2High = 0.693359375f; // 9 significant bits: n·Ln2High is exact for |n| < 2^15
    private const float Ln2Low = -2.12194440e-4f; // ln 2 − Ln2High

    // p(r) = 1 + r(C1 + r(C2 + r(C3 + r(C4 + r(C5 + r·C6))))), minimax relative error on [−ln2/2, ln2/2].
    private const float C1 = 1.0000000322588416f;
    private const float C2 = 0.4999999419164445f;
    private const float C3 = 0.1666643079966517f;
    private const float C4 = 0.041668004723378164f;
    private const float C5 = 0.008374195664305589f;
    private const float C6 = 0.0013843606960664539f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> d) => Exp<Width512, Vector512<float>>(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> d) => Exp<Width256, Vector256<float>>(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> d) => Exp<Width128, Vector128<float>>(d);

    /// <summary>The polynomial, written once for every width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Exp<TW, TV>(TV d)
        where TW : struct, IVectorWidth<TV>
        where TV : struct
    {
        var shifted = TW.FusedMultiplyAdd(d, TW.Create(Log2E), TW.Create(RoundingMagic));
        var n = TW.Subtract(shifted, TW.Create(RoundingMagic));
        var r = TW.FusedMultiplyAdd(n, TW.Create(-Ln2High), d);
        r = TW.FusedMultiplyAdd(n, TW.Create(-Ln2Low), r);
        var p = TW.FusedMultiplyAdd(TW.Create(C6), r, TW.Create(C5));
        p = TW.FusedMultiplyAdd(p, r, TW.Create(C4));
        p = TW.FusedMultiplyAdd(p, r, TW.Create(C3));
        p = TW.FusedMultiplyAdd(p, r, TW.Create(C2));
        p = TW.FusedMultiplyAdd(p, r, TW.Create(C1));
        p = TW.FusedMultiplyAdd(p, r, TW.Create(1f));
        // shifted's bits are 0x4B400000 + n; shifting left by 23 leaves exactly n << 23, i.e. multiplies p by 2^n.
        return TW.ScaleByPowerOfTwo(p, shifted);
    }
}

/// <summary>The runtime's <c>Vector512/256/128.Exp</c> (≈1 ulp, computed in double); kept to benchmark against.</summary>
internal readonly struct BuiltInExp : IVectorExp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> d) => Vector512.Exp(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> d) => Vector256.Exp(d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> d) => Vector128.Exp(d);
}
