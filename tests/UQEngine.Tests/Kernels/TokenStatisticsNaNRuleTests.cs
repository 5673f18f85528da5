using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>
/// One NaN rule for the step: NaN is −∞, so the greedy pick never lands on it and always agrees with the kernel's
/// top-1 and rank 0; all-NaN logits leave no pick and flag the step <see cref="TokenStatistics.NonFinite"/>.
/// </summary>
public sealed class TokenStatisticsNaNRuleTests
{
    private const float NaN = float.NaN;
    private const float Inf = float.PositiveInfinity;
    private const float NegInf = float.NegativeInfinity;

    public static TheoryData<float[], int> GreedyCases => new()
    {
        { [NaN, 1f, 3f, 3f, NaN], 2 },   // NaN first (IndexOfMax would return 0), tie → lower id
        { [1f, 2f, NaN], 1 },
        { [NegInf, NaN, NegInf], 0 },
        { [NaN, NegInf, NaN], 1 },        // nothing above −∞: the first −∞, never a NaN
        { [2f, Inf, NaN, Inf], 1 },
        { [-0f, 0f, -1f], 0 },            // ±0 tie like any other tie
        { [-1f, 0f, -0f], 1 },
        { [NaN, -0f, 0f], 1 },
        { [NaN, NaN, NaN], -1 },          // no pick
        { [NaN], -1 },
        { [5f], 0 },
    };

    [Theory]
    [MemberData(nameof(GreedyCases))]
    public void GreedyTokenSkipsNaNAndTakesTheLowestIdAmongTheLargest(float[] logits, int expected) =>
        Assert.Equal(expected, TokenStatisticsKernel.GreedyToken(logits));

    [Fact]
    public void GreedyTokenRejectsAnEmptySpan() =>
        Assert.Throws<ArgumentException>("logits", () => TokenStatisticsKernel.GreedyToken([]));

    public static TheoryData<int> Widths => new(
        new[] { KernelWidth.Scalar, KernelWidth.Vector128, KernelWidth.Vector256, KernelWidth.Vector512 }.Select(w => (int)w));

    /// <summary>Seeded vectors with NaN, ±∞ and ties in every position; the pick must be the kernel's top-1 at rank 0.</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void GreedyPickIsTheKernelsTopOneAtRankZero(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        Assert.SkipUnless(TokenStatisticsKernel.IsSupported(width), $"{width} is not hardware accelerated on this machine");
        var random = new Random(2024);
        float[] specials = [NaN, NaN, NegInf, Inf, 0f, -0f];
        int picks = 0;
        for (int round = 0; round < 600; round++)
        {
            int size = 1 + random.Next(round < 500 ? 70 : 5000);
            float[] logits = KernelTestData.Gaussian(size, 2.0, random.Next());
            int specialCount = random.Next(4) == 0 ? size : random.Next(1 + size / 3);
            for (int j = 0; j < specialCount; j++)
            {
                // Rounds 0–99 draw only NaN and −∞, so all-NaN and nothing-above-−∞ steps occur too.
                float special = round < 100 ? specials[random.Next(3)] : specials[random.Next(specials.Length)];
                logits[random.Next(size)] = random.Next(5) == 0 ? MathF.Round(logits[0]) : special;
            }

            int greedy = TokenStatisticsKernel.GreedyToken(logits);
            var top = new TopToken[1];
            var stats = TokenStatisticsKernel.Compute(logits, greedy, top, width);
            if (logits.All(float.IsNaN))
            {
                Assert.Equal(-1, greedy);
                Assert.True(stats.NonFinite);
                continue;
            }
            Assert.False(float.IsNaN(logits[greedy]), $"round {round}: greedy picked a NaN");
            Assert.Equal(top[0].TokenId, greedy);
            Assert.Equal(0, stats.ChosenRank);
            Assert.Equal(top[0].LogProbability, stats.ChosenLogProbability);
            Assert.Equal(logits.All(v => !(v > NegInf)), stats.NonFinite);
            picks++;
        }
        Assert.True(picks > 400, $"only {picks} rounds had a pick");
    }

    /// <summary>A NaN logit never moves the statistics: the step equals the same step with −∞ in its place.</summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void NaNLogitsCountAsMinusInfinity(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        Assert.SkipUnless(TokenStatisticsKernel.IsSupported(width), $"{width} is not hardware accelerated on this machine");
        float[] withNaN = KernelTestData.LanguageModelLike(4099, seed: 5);
        var random = new Random(6);
        for (int j = 0; j < 300; j++)
        {
            withNaN[random.Next(withNaN.Length)] = NaN;
        }
        float[] withMinusInfinity = withNaN.Select(v => float.IsNaN(v) ? NegInf : v).ToArray();
        int nanId = Array.FindIndex(withNaN, float.IsNaN);

        foreach (int chosen in new[] { nanId, 0, TokenStatisticsKernel.GreedyToken(withNaN) })
        {
            var a = TokenStatisticsKernel.Compute(withNaN, chosen, Span<TopToken>.Empty, width);
            var b = TokenStatisticsKernel.Compute(withMinusInfinity, chosen, Span<TopToken>.Empty, width);
            Assert.Equal(b.ToString(), a.ToString());
        }
        var nanStats = TokenStatisticsKernel.Compute(withNaN, nanId, Span<TopToken>.Empty, width);
        Assert.Equal(NegInf, nanStats.ChosenLogProbability);
        Assert.Equal(withNaN.Count(v => v > NegInf), nanStats.ChosenRank);
    }
}
