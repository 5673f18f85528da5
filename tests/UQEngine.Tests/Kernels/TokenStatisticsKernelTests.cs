using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>
/// The fused kernel against <see cref="ReferenceStatistics"/> (double precision) on every code path.
/// Error budget: each exp term is off by ≤ 1.5e-7 relative (<see cref="VectorExpTests"/>), partial sums move to double
/// every 64 logits per lane, and the results are rounded to float (6e-8 relative). Measured worst cases over the random
/// and language-model-like suites: 6e-8 (lse, relative), 1.6e-7 nats (entropy), 8e-8 (log-probability, relative to
/// lse); the bounds below leave a 12–17× margin. They are deliberately tighter than the 1e-5 / 1e-4 a consumer needs:
/// a dropped or double-counted logit, a wrong reference point, or float-only accumulation over 150k logits (~1e-6)
/// all fail them. Tiny entropies of confident steps are held to a relative bound in
/// <see cref="TokenStatisticsPrecisionTests"/>.
/// </summary>
public sealed class TokenStatisticsKernelTests
{
    /// <summary>|Δlse| ≤ 1e-6·max(1, |lse|): lse is reported in float, whose rounding alone is 6e-8·|lse|.</summary>
    private const double RelativeLogSumExpTolerance = 1e-6;

    /// <summary>|ΔH| ≤ 2e-6 nats: H ∈ [0, ln V ≤ 12] is a sum of two non-negative terms (no cancellation), rounded to float.</summary>
    private const double EntropyTolerance = 2e-6;

    /// <summary>|Δ ln p| ≤ 1e-6·max(1, |x|, |lse|): ln p = x − lse cancels, so its error scales with the operands.</summary>
    private const double RelativeLogProbabilityTolerance = 1e-6;

    /// <summary>
    /// The benchmark baselines only need to show they compute the same quantities: the TensorPrimitives one sums in
    /// float (≈1e-6 relative at 32k terms), so they are held to the looser 1e-5 (lse, ln p) and 1e-4 (entropy).
    /// </summary>
    private const double BaselineToleranceFactor = 10;

    // Theory parameters carry the width in bits (1 = scalar, 128, 256, 512): KernelWidth is internal to the library.
    private static readonly KernelWidth[] AllWidths = [KernelWidth.Scalar, KernelWidth.Vector128, KernelWidth.Vector256, KernelWidth.Vector512];

    public static TheoryData<int> Widths => new(AllWidths.Select(w => (int)w));

    /// <summary>Width × vocabulary size × (seed, std): near-uniform, LLM-like and very peaked logits.</summary>
    public static TheoryData<int, int, int, double> RandomCases
    {
        get
        {
            var data = new TheoryData<int, int, int, double>();
            foreach (var width in AllWidths)
            {
                foreach (int size in KernelTestData.VocabularySizes)
                {
                    data.Add((int)width, size, 1, 0.01);
                    data.Add((int)width, size, 2, 3.0);
                    data.Add((int)width, size, 3, 30.0);
                }
            }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void RandomLogitsMatchReference(int widthBits, int vocabularySize, int seed, double standardDeviation)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        float[] logits = KernelTestData.Gaussian(vocabularySize, standardDeviation, seed);
        int chosen = new Random(seed).Next(vocabularySize);

        AssertMatchesReference(logits, chosen, 20, width);
        AssertMatchesReference(logits, chosen, 0, width);
        AssertMatchesReference(logits, -1, 5, width);
        AssertMatchesReference(logits, 0, 1, width);
        AssertMatchesReference(logits, vocabularySize - 1, 20, width);
    }

    public static TheoryData<int, int> LanguageModelCases
    {
        get
        {
            var data = new TheoryData<int, int>();
            foreach (var width in AllWidths)
            {
                foreach (int size in new[] { 32000, 128256, 151936 })
                {
                    data.Add((int)width, size);
                }
            }
            return data;
        }
    }

    /// <summary>
    /// Like a model's head: N(0, 3²) plus a few confident tokens holding most of the mass. The lanes holding those have
    /// S ≈ 1 while ~10⁵ terms of ~1e-9 arrive, which float-only accumulation rounds away (≈1e-5 error in lse).
    /// </summary>
    [Theory]
    [MemberData(nameof(LanguageModelCases))]
    public void LanguageModelLikeLogitsMatchReference(int widthBits, int vocabularySize)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        float[] logits = KernelTestData.LanguageModelLike(vocabularySize, seed: 7);
        AssertMatchesReference(logits, vocabularySize / 3, 20, width);
        AssertMatchesReference(logits, Array.IndexOf(logits, logits.Max()), 0, width);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void OffsetLogitsMatchReference(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        // A large common offset: only the differences matter, and lse must carry the offset.
        float[] logits = KernelTestData.Gaussian(32000, 3.0, seed: 4, mean: 5000);
        AssertMatchesReference(logits, 123, 20, width);
    }

    /// <summary>Adversarial inputs, by name, each built for a given vocabulary size.</summary>
    private static readonly Dictionary<string, Func<int, float[]>> AdversarialCases = new()
    {
        ["huge gaussian (std 1e30)"] = n => Scaled(KernelTestData.Gaussian(n, 1.0, 10), 1e30f),
        ["normal with scattered ±1e30"] = n => Scatter(KernelTestData.Gaussian(n, 3.0, 11), 12, every: 7, 1e30f, -1e30f),
        ["normal with scattered ±3e38"] = n => Scatter(KernelTestData.Gaussian(n, 3.0, 13), 14, every: 5, 3e38f, -3e38f),
        ["only ±3e38"] = n => Enumerable.Range(0, n).Select(i => i % 3 == 0 ? 3e38f : -3e38f).ToArray(),
        ["float.MaxValue and float.MinValue"] = n => Enumerable.Range(0, n).Select(i => i % 2 == 0 ? float.MinValue : float.MaxValue).ToArray(),
        ["half −∞"] = n => Scatter(KernelTestData.Gaussian(n, 3.0, 15), 16, every: 2, float.NegativeInfinity),
        ["−∞ prefix (lanes start empty)"] = n => Prefix(KernelTestData.Gaussian(n, 3.0, 17), 40, float.NegativeInfinity),
        ["−∞ except one"] = n => OnlyOneFinite(n, float.NegativeInfinity),
        ["all equal (ties)"] = n => Enumerable.Repeat(0.5f, n).ToArray(),
        ["all equal huge"] = n => Enumerable.Repeat(3e38f, n).ToArray(),
        ["all equal very negative"] = n => Enumerable.Repeat(-1e30f, n).ToArray(),
        ["coarse ties (step 0.5)"] = n => KernelTestData.Gaussian(n, 3.0, 18).Select(v => MathF.Round(v * 2) / 2).ToArray(),
        ["one dominant"] = n => Prefix(KernelTestData.Gaussian(n, 1.0, 19), 0, 0).Select((v, i) => i == n / 2 ? 100f : v).ToArray(),
        ["maximum in the tail"] = n => KernelTestData.Gaussian(n, 3.0, 20).Select((v, i) => i == n - 1 ? 50f : v).ToArray(),
        ["ascending (max grows every block)"] = n => Enumerable.Range(0, n).Select(i => i * 0.01f).ToArray(),
        ["descending"] = n => Enumerable.Range(0, n).Select(i => -i * 0.01f).ToArray(),
        ["scattered NaN"] = n => Scatter(KernelTestData.Gaussian(n, 3.0, 21), 22, every: 10, float.NaN),
        ["NaN prefix"] = n => Prefix(KernelTestData.Gaussian(n, 3.0, 23), 40, float.NaN),
        ["NaN and −∞ mixed"] = n => Scatter(Scatter(KernelTestData.Gaussian(n, 3.0, 24), 25, every: 4, float.NaN), 26, every: 4, float.NegativeInfinity),
        ["single +∞"] = n => KernelTestData.Gaussian(n, 3.0, 27).Select((v, i) => i == n / 3 ? float.PositiveInfinity : v).ToArray(),
        ["several +∞ with NaN and −∞"] = n => Scatter(Scatter(Scatter(KernelTestData.Gaussian(n, 3.0, 28), 29, every: 6, float.PositiveInfinity), 30, every: 6, float.NaN), 31, every: 6, float.NegativeInfinity),
        ["all −∞"] = n => Enumerable.Repeat(float.NegativeInfinity, n).ToArray(),
        ["all NaN"] = n => Enumerable.Repeat(float.NaN, n).ToArray(),
        ["−∞ and NaN only"] = n => Enumerable.Range(0, n).Select(i => i % 2 == 0 ? float.NaN : float.NegativeInfinity).ToArray(),
        ["subnormal magnitudes"] = n => KernelTestData.Gaussian(n, 1e-40, 32),
    };

    public static TheoryData<int, string, int> AdversarialCaseNames
    {
        get
        {
            var data = new TheoryData<int, string, int>();
            foreach (var width in AllWidths)
            {
                foreach (string name in AdversarialCases.Keys)
                {
                    foreach (int size in new[] { 1, 17, 33, 1000, 32000 })
                    {
                        data.Add((int)width, name, size);
                    }
                }
            }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(AdversarialCaseNames))]
    public void AdversarialLogitsMatchReference(int widthBits, string caseName, int vocabularySize)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        float[] logits = AdversarialCases[caseName](vocabularySize);
        foreach (int chosen in new[] { 0, vocabularySize - 1, vocabularySize / 2, -1 })
        {
            AssertMatchesReference(logits, chosen, 20, width);
        }
        AssertMatchesReference(logits, 0, 0, width);
        AssertMatchesReference(logits, vocabularySize - 1, vocabularySize + 3, width); // k > V
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void DegenerateResultsFollowTheDocumentedLimits(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        var top = new TopToken[3];

        float[] twoInfinities = [1f, float.PositiveInfinity, 2f, float.PositiveInfinity, float.NaN];
        var stats = TokenStatisticsKernel.Compute(twoInfinities, 1, top, width);
        Assert.Equal(DistributionStatus.PositiveInfinity, stats.Status);
        Assert.True(stats.IsDegenerate);
        Assert.False(stats.NonFinite); // +∞ still has a winner
        Assert.Equal(float.PositiveInfinity, stats.MaxLogit);
        Assert.Equal(float.PositiveInfinity, stats.LogSumExp);
        Assert.Equal(MathF.Log(2), stats.Entropy, 6);
        Assert.Equal(-MathF.Log(2), stats.ChosenLogProbability, 6);
        Assert.Equal(0.5f, stats.ChosenProbability, 6);
        Assert.Equal(0, stats.ChosenRank);
        Assert.Equal([1, 3, 2], top.Select(t => t.TokenId));
        Assert.Equal(float.NegativeInfinity, top[2].LogProbability);

        float[] nothing = [float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity];
        stats = TokenStatisticsKernel.Compute(nothing, 2, top, width);
        Assert.Equal(DistributionStatus.NoFiniteLogits, stats.Status);
        Assert.Equal(float.NegativeInfinity, stats.MaxLogit);
        Assert.Equal(float.NegativeInfinity, stats.LogSumExp);
        Assert.Equal(MathF.Log(4), stats.Entropy, 6);
        Assert.Equal(-MathF.Log(4), stats.ChosenLogProbability, 6);
        Assert.Equal(0, stats.ChosenRank);
        Assert.True(stats.NonFinite);
        // −∞ before NaN (NaN ranks last, so top-1 is what the greedy pick takes), lower id first.
        Assert.Equal([1, 3, 0], top.Select(t => t.TokenId));
        Assert.Equal(1, TokenStatisticsKernel.GreedyToken(nothing));
        Assert.All(top, t => Assert.Equal(-MathF.Log(4), t.LogProbability, 6));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void UnknownChosenTokenGivesNaNAndMinusOne(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        var stats = TokenStatisticsKernel.Compute(KernelTestData.Gaussian(100, 3, 5), -1, Span<TopToken>.Empty, width);
        Assert.Equal(-1, stats.ChosenTokenId);
        Assert.Equal(-1, stats.ChosenRank);
        Assert.True(float.IsNaN(stats.ChosenLogProbability));
        Assert.True(float.IsNaN(stats.ChosenProbability));
        Assert.Equal(0, stats.TopCount);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void InvalidArgumentsThrow(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        SkipUnlessSupported(width);
        var top = new TopToken[2];
        Assert.Throws<ArgumentException>("logits", () => TokenStatisticsKernel.Compute([], -1, top, width));
        Assert.Throws<ArgumentOutOfRangeException>("chosenTokenId", () => TokenStatisticsKernel.Compute([1f, 2f], 2, top, width));
        Assert.Throws<ArgumentOutOfRangeException>("chosenTokenId", () => TokenStatisticsKernel.Compute([1f, 2f], -2, top, width));
    }

    [Fact]
    public void PublicOverloadUsesTheWidestAcceleratedPath()
    {
        float[] logits = KernelTestData.Gaussian(5000, 3, 6);
        var top = new TopToken[20];
        var expectedTop = new TopToken[20];
        var stats = TokenStatisticsKernel.Compute(logits, 7, top);
        var expected = TokenStatisticsKernel.Compute(logits, 7, expectedTop, TokenStatisticsKernel.BestWidth);
        Assert.Equal(expected.ToString(), stats.ToString());
        Assert.Equal(expectedTop, top);
    }

    [Fact]
    public void ComputeDoesNotAllocate()
    {
        float[] logits = KernelTestData.Gaussian(32000, 3, 8);
        var top = new TopToken[20];
        var widths = AllWidths.Where(TokenStatisticsKernel.IsSupported).ToArray();
        for (int warmup = 0; warmup < 50; warmup++)
        {
            foreach (var width in widths)
            {
                TokenStatisticsKernel.Compute(logits, 17, top, width);
            }
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            foreach (var width in widths)
            {
                TokenStatisticsKernel.Compute(logits, 17, top, width);
            }
            TokenStatisticsKernel.Compute(logits, 17, top);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>The benchmark baselines must compute the same thing, or the comparison means nothing.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(32000)]
    public void BaselinesMatchReferenceOnFiniteLogits(int vocabularySize)
    {
        float[] logits = KernelTestData.Gaussian(vocabularySize, 3, 9);
        int chosen = vocabularySize / 2;
        var expected = ReferenceStatistics.Compute(logits, chosen, 20);

        var naiveTop = new TopToken[20];
        AssertStatistics(expected, NaiveTokenStatistics.Compute(logits, chosen, naiveTop), naiveTop, 20, logits, chosen, BaselineToleranceFactor);

        var tensorTop = new TopToken[20];
        var scratch = new float[2 * vocabularySize];
        AssertStatistics(expected, TensorPrimitivesTokenStatistics.Compute(logits, chosen, tensorTop, scratch), tensorTop, 20, logits, chosen, BaselineToleranceFactor);
    }

    [Fact]
    public void BuiltInExpVariantMatchesReference()
    {
        foreach (var width in AllWidths.Where(TokenStatisticsKernel.IsSupported))
        {
            float[] logits = KernelTestData.Gaussian(32000, 3, 12);
            var top = new TopToken[20];
            var actual = TokenStatisticsKernel.Compute<BuiltInExp>(logits, 5, top, width);
            AssertStatistics(ReferenceStatistics.Compute(logits, 5, 20), actual, top, 20, logits, 5);
        }
    }

    private static void AssertMatchesReference(float[] logits, int chosen, int k, KernelWidth width)
    {
        var top = new TopToken[k];
        Array.Fill(top, new TopToken(12345, 42f)); // garbage the kernel must overwrite
        var actual = TokenStatisticsKernel.Compute(logits, chosen, top, width);
        AssertStatistics(ReferenceStatistics.Compute(logits, chosen, k), actual, top, k, logits, chosen);
    }

    private static void AssertStatistics(
        ReferenceStatistics expected, TokenStatistics actual, TopToken[] top, int k, float[] logits, int chosen,
        double toleranceFactor = 1)
    {
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal((float)expected.MaxLogit, actual.MaxLogit);
        AssertClose(expected.LogSumExp, actual.LogSumExp, toleranceFactor * RelativeLogSumExpTolerance * Math.Max(1, Math.Abs(expected.LogSumExp)), "LogSumExp");
        AssertClose(expected.Entropy, actual.Entropy, toleranceFactor * EntropyTolerance, "Entropy");
        Assert.False(float.IsNaN(actual.Entropy));
        Assert.False(float.IsNaN(actual.LogSumExp));
        Assert.Equal(chosen, actual.ChosenTokenId);
        Assert.Equal(expected.ChosenRank, actual.ChosenRank);
        if (chosen < 0)
        {
            Assert.True(float.IsNaN(actual.ChosenLogProbability));
        }
        else
        {
            AssertClose(expected.ChosenLogProbability, actual.ChosenLogProbability, toleranceFactor * LogProbabilityTolerance(logits[chosen], expected.LogSumExp), "ChosenLogProbability");
        }

        int filled = Math.Min(k, logits.Length);
        Assert.Equal(filled, actual.TopCount);
        for (int i = 0; i < filled; i++)
        {
            Assert.True(expected.Top[i].TokenId == top[i].TokenId,
                $"top[{i}]: expected id {expected.Top[i].TokenId}, got {top[i].TokenId} (logit {logits[top[i].TokenId]} vs {logits[expected.Top[i].TokenId]})");
            AssertClose(expected.Top[i].LogProbability, top[i].LogProbability, toleranceFactor * LogProbabilityTolerance(logits[top[i].TokenId], expected.LogSumExp), $"top[{i}].LogProbability");
        }
        for (int i = filled; i < k; i++)
        {
            Assert.Equal(new TopToken(-1, float.NegativeInfinity), top[i]);
        }
    }

    private static double LogProbabilityTolerance(float logit, double logSumExp)
    {
        double scale = 1;
        if (float.IsFinite(logit))
        {
            scale = Math.Max(scale, Math.Abs(logit));
        }
        if (double.IsFinite(logSumExp))
        {
            scale = Math.Max(scale, Math.Abs(logSumExp));
        }
        return RelativeLogProbabilityTolerance * scale;
    }

    /// <summary>Values that are infinite (or NaN) in float must match exactly; finite ones within the tolerance.</summary>
    private static void AssertClose(double expected, float actual, double tolerance, string what)
    {
        float expectedAsFloat = (float)expected;
        if (!float.IsFinite(expectedAsFloat))
        {
            Assert.True(expectedAsFloat.Equals(actual), $"{what}: expected {expectedAsFloat}, got {actual}");
            return;
        }
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: expected {expected:R}, got {actual:R} (|Δ| = {Math.Abs(expected - actual):E2} > {tolerance:E2})");
    }

    private static void SkipUnlessSupported(KernelWidth width) =>
        Assert.SkipUnless(TokenStatisticsKernel.IsSupported(width), $"{width} is not hardware accelerated on this machine");

    private static float[] Scaled(float[] values, float factor) => values.Select(v => v * factor).ToArray();

    /// <summary>Overwrites about one in <paramref name="every"/> entries, at seeded random positions, with the given values in turn.</summary>
    private static float[] Scatter(float[] values, int seed, int every, params float[] replacements)
    {
        var random = new Random(seed);
        int count = Math.Max(1, values.Length / every);
        for (int i = 0; i < count; i++)
        {
            values[random.Next(values.Length)] = replacements[i % replacements.Length];
        }
        return values;
    }

    private static float[] Prefix(float[] values, int length, float value)
    {
        values.AsSpan(0, Math.Min(length, values.Length)).Fill(value);
        return values;
    }

    private static float[] OnlyOneFinite(int length, float fill)
    {
        var values = Enumerable.Repeat(fill, length).ToArray();
        values[length * 2 / 3] = -5f;
        return values;
    }
}
