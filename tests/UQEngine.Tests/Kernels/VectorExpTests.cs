using System.Runtime.Intrinsics;
using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>Accuracy of the kernel's polynomial exp over its whole domain [−87, 0], against double-precision exp.</summary>
public sealed class VectorExpTests
{
    /// <summary>The documented bound: 2.5e-7 relative, about 2 ulp of float (the fit itself is 2e-9; the rest is float rounding).</summary>
    private const double MaxRelativeError = 2.5e-7;

    [Fact]
    public void Vector512ExpIsAccurateOnItsDomain()
    {
        Assert.SkipUnless(Vector512.IsHardwareAccelerated, "Vector512 is not hardware accelerated on this machine");
        double worst = WorstRelativeError(16, (input, output) =>
            PolynomialExp.Exp(Vector512.Create(input)).CopyTo(output));
        Assert.True(worst <= MaxRelativeError, $"max relative error {worst:E3}");
    }

    [Fact]
    public void Vector256ExpIsAccurateOnItsDomain()
    {
        Assert.SkipUnless(Vector256.IsHardwareAccelerated, "Vector256 is not hardware accelerated on this machine");
        double worst = WorstRelativeError(8, (input, output) =>
            PolynomialExp.Exp(Vector256.Create(input)).CopyTo(output));
        Assert.True(worst <= MaxRelativeError, $"max relative error {worst:E3}");
    }

    [Fact]
    public void ExpOfZeroIsExactlyOne()
    {
        Assert.Equal(Vector256<float>.One, PolynomialExp.Exp(Vector256<float>.Zero));
        if (Vector512.IsHardwareAccelerated)
        {
            Assert.Equal(Vector512<float>.One, PolynomialExp.Exp(Vector512<float>.Zero));
        }
    }

    /// <summary>Dense sweep of [−87, 0] (every float near the reduction boundaries ±ln2/2 included by density).</summary>
    private static double WorstRelativeError(int width, Action<float[], float[]> exp)
    {
        const int Samples = 4_000_000;
        var input = new float[width];
        var output = new float[width];
        double worst = 0;
        for (int start = 0; start <= Samples; start += width)
        {
            for (int lane = 0; lane < width; lane++)
            {
                input[lane] = -87f * Math.Min(start + lane, Samples) / Samples;
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
