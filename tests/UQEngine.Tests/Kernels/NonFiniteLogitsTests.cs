using UQEngine.Kernels;
using UQEngine.Uncertainty;

namespace UQEngine.Tests.Kernels;

/// <summary>
/// A step whose logits hold any NaN or ±∞ is flagged <see cref="TokenStatistics.HasNonFiniteLogits"/> on every kernel
/// path, wherever the value sits (unrolled body, single-vector loop, scalar tail), and only then: large finite logits
/// whose plain sum overflows are not flagged. The flag is counted by <see cref="TokenProbabilityAccumulator"/>.
/// </summary>
public sealed class NonFiniteLogitsTests
{
    public static TheoryData<int, int, float> Cases()
    {
        var data = new TheoryData<int, int, float>();
        foreach (var width in new[] { KernelWidth.Scalar, KernelWidth.Vector128, KernelWidth.Vector256, KernelWidth.Vector512 })
        {
            foreach (int position in new[] { 0, 5, 63, 64 * 4 + 3, 999 })
            {
                foreach (float value in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                {
                    data.Add((int)width, position, value);
                }
            }
        }
        return data;
    }

    private static float[] Logits(int count = 1000)
    {
        var random = new Random(7);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 20 - 10))];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnyNonFiniteLogitIsFlagged(int width, int position, float value)
    {
        if (!TokenStatisticsKernel.IsSupported((KernelWidth)width)) return;
        var logits = Logits();
        var clean = TokenStatisticsKernel.Compute(logits, 1, new TopToken[5], (KernelWidth)width);
        Assert.False(clean.HasNonFiniteLogits);

        logits[position] = value;
        var stats = TokenStatisticsKernel.Compute(logits, 1, new TopToken[5], (KernelWidth)width);
        Assert.True(stats.HasNonFiniteLogits, $"{(KernelWidth)width}: {value} at {position} not flagged");
    }

    [Theory]
    [InlineData((int)KernelWidth.Scalar)]
    [InlineData((int)KernelWidth.Vector128)]
    [InlineData((int)KernelWidth.Vector256)]
    [InlineData((int)KernelWidth.Vector512)]
    public void HugeFiniteLogitsAreNotFlagged(int widthId)
    {
        var width = (KernelWidth)widthId;
        if (!TokenStatisticsKernel.IsSupported(width)) return;
        var logits = Enumerable.Repeat(3e38f, 4096).ToArray(); // their sum overflows; none is non-finite
        var stats = TokenStatisticsKernel.Compute(logits, 0, new TopToken[3], width);
        Assert.False(stats.HasNonFiniteLogits);
        Assert.Equal(DistributionStatus.Regular, stats.Status);
    }

    [Fact]
    public void AllNaNStepIsFlaggedAndCounted()
    {
        var accumulator = new TokenProbabilityAccumulator();
        var nan = Enumerable.Repeat(float.NaN, 300).ToArray();
        var stats = TokenStatisticsKernel.Compute(nan, 0, new TopToken[2]);
        Assert.True(stats.NonFinite);
        Assert.True(stats.HasNonFiniteLogits);
        accumulator.Add(stats);
        accumulator.Add(TokenStatisticsKernel.Compute(Logits(300), 0, new TopToken[2]));
        Assert.Equal(1, accumulator.NonFiniteCount);
        Assert.Equal(1, accumulator.Result.NonFiniteStepCount);
        Assert.Equal(2, accumulator.Result.TokenCount);
    }
}
