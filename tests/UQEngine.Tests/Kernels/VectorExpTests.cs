using System.Runtime.Intrinsics;
using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>Accuracy of the kernel's polynomial exp over its whole domain [−87, 0], against double-precision exp.</summary>
public sealed class VectorExpTests
{
    /// <summary>
    /// The documented bound, about 2.5 ulp: the measured worst case is 8.6e-8 (1.4 ulp, at d ≈ −5.2); the fit itself is
    /// 2e-9, the rest is float rounding of the reduction and the polynomial.
    /// </summary>
    private const double MaxRelativeError = 1.5e-7;

    [Fact]
    public void Vector512ExpIsAccurateOnItsDomain()
    {
        Assert.SkipUnless(Vector512.IsHardwareAccelerated, "Vector512 is not hardware accelerated on this machine");
        double worst = WorstRelativeError(16, (input, output) => PolynomialExp.Exp(Vector512.Create(input)).CopyTo(output));
        Assert.True(worst <= MaxRelativeError, $"max relative error {worst:E3}");
    }

    [Fact]
    public void Vector256ExpIsAccurateOnItsDomain()
    {
        Assert.SkipUnless(Vector256.IsHardwareAccelerated, "Vector256 is not hardware accelerated on this machine");
        double worst = WorstRelativeError(8, (input, output) => PolynomialExp.Exp(Vector256.Create(input)).CopyTo(output));
        Assert.True(worst <= MaxRelativeError, $"max relative error {worst:E3}");
    }

    [Fact]
    public void ExpOfZeroIsExactlyOneAndTheDomainEndsAreNormal()
    {
        Assert.Equal(Vector256<float>.One, PolynomialExp.Exp(Vector256<float>.Zero));
        float atFloor = PolynomialExp.Exp(Vector256.Create(-87f)).GetElement(0);
        Assert.True(float.IsNormal(atFloor), $"e^-87 gave {atFloor}");
        Assert.True(Math.Abs(atFloor - Math.Exp(-87)) / Math.Exp(-87) <= MaxRelativeError);
    }

    /// <summary>
    /// Every 127th float bit pattern in [−87, 0] (8.8 million values, spread evenly in magnitude from 1e-45 to 87),
    /// which crosses every reduction interval [(n − ½)ln 2, (n + ½)ln 2] many times.
    /// </summary>
    private static double WorstRelativeError(int width, Action<float[], float[]> exp)
    {
        var input = new float[width];
        var output = new float[width];
        double worst = 0;
        uint bits = 0;
        uint last = BitConverter.SingleToUInt32Bits(87f);
        while (bits <= last)
        {
            for (int lane = 0; lane < width; lane++)
            {
                input[lane] = -BitConverter.UInt32BitsToSingle(Math.Min(bits, last));
                bits += 127;
            }
            exp(input, output);
            for (int lane = 0; lane < width; lane++)
            {
                double expected = Math.Exp(input[lane]);
                worst = Math.Max(worst, Math.Abs(output[lane] - expected) / expected);
            }
        }
        return worst;
    }
}
