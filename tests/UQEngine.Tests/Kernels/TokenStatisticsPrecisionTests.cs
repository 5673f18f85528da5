using UQEngine.Kernels;

namespace UQEngine.Tests.Kernels;

/// <summary>
/// Every forced path against a double-precision oracle that keeps full relative precision when one token dominates
/// (<see cref="PreciseReference"/>): entropy, log-sum-exp and the chosen log-probability within
/// max(1e-6·|expected|, 1e-12). The relative bound is what a confident step needs: its entropy is ~1e-5 nats, so
/// the old absolute 2e-6 bound let a 20% error through.
/// </summary>
public sealed class TokenStatisticsPrecisionTests(ITestOutputHelper output)
{
    private const double RelativeTolerance = 1e-6;
    private const double AbsoluteTolerance = 1e-12;

    public static TheoryData<int> Widths => new(
        new[] { KernelWidth.Scalar, KernelWidth.Vector128, KernelWidth.Vector256, KernelWidth.Vector512 }.Select(w => (int)w));

    [Theory]
    [MemberData(nameof(Widths))]
    public void EveryPathKeepsRelativePrecisionOnRandomAndAdversarialLogits(int widthBits)
    {
        var width = (KernelWidth)widthBits;
        Assert.SkipUnless(TokenStatisticsKernel.IsSupported(width), $"{width} is not hardware accelerated on this machine");

        double worstDominantEntropy = 0;
        int checkedCases = 0;
        var failures = new List<string>();
        foreach (var (name, logits, dominant) in Cases())
        {
            var random = new Random(logits.Length);
            foreach (int chosen in new[] { dominant, random.Next(logits.Length), -1 })
            {
                var expected = PreciseReference.Compute(logits, chosen);
                var top = new TopToken[5];
                var actual = TokenStatisticsKernel.Compute(logits, chosen, top, width);
                string where = $"{name}, V={logits.Length}, chosen={chosen}, {width}";
                Assert.Equal(expected.Status, actual.Status);
                Check(expected.Entropy, actual.Entropy, $"entropy ({where})", failures);
                Check(expected.LogSumExp, actual.LogSumExp, $"log-sum-exp ({where})", failures);
                if (chosen >= 0)
                {
                    Check(expected.ChosenLogProbability, actual.ChosenLogProbability, $"chosen log-prob ({where})", failures);
                }
                // Relative error where it is the binding bound (below 1e-6 nats the 1e-12 floor is).
                if (dominant >= 0 && expected.Status == DistributionStatus.Regular && expected.Entropy >= 1e-6)
                {
                    worstDominantEntropy = Math.Max(worstDominantEntropy, Math.Abs(actual.Entropy - expected.Entropy) / expected.Entropy);
                }
                checkedCases++;
            }
        }
        output.WriteLine($"{width}: {checkedCases} cases; worst relative entropy error on dominant steps with H ≥ 1e-6 {worstDominantEntropy:E2}");
        Assert.True(checkedCases > 1000, "the generator should produce well over a thousand cases");
        // All failures at once: one number per metric says more than the first miss.
        Assert.True(failures.Count == 0, $"{failures.Count} values out of tolerance, e.g.:\n" + string.Join("\n", failures.Take(10)));
    }

    /// <summary>
    /// Seeded vectors: V from 1 to 256k across every vector-width boundary; a dominant token at gaps 10–80 above the
    /// rest (alone, tied, beside −∞ and NaN); plain Gaussians; all-equal, all −∞, all NaN, +∞. Dominant is the
    /// dominant token's id, or −1.
    /// </summary>
    private static IEnumerable<(string Name, float[] Logits, int Dominant)> Cases()
    {
        int[] sizes = [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1000, 4099, 32000, 151936, 262144];
        float[] gaps = [10f, 15f, 20f, 30f, 40f, 60f, 80f];
        foreach (int size in sizes)
        {
            var random = new Random(size * 31 + 7);
            bool large = size > 5000; // fewer variants of the big ones keep the test to a few seconds
            foreach (float gap in large ? gaps.Where((_, i) => i % 2 == 0) : gaps)
            {
                float[] baseLogits = KernelTestData.Gaussian(size, 1.0, random.Next(), mean: random.NextDouble() * 40 - 20);
                float top = baseLogits.Max();
                int dominant = random.Next(size);

                float[] alone = (float[])baseLogits.Clone();
                alone[dominant] = top + gap;
                yield return ($"dominant gap {gap}", alone, dominant);

                if (size >= 3)
                {
                    float[] tied = (float[])alone.Clone();
                    tied[(dominant + 1 + random.Next(size - 1)) % size] = alone[dominant];
                    yield return ($"dominant gap {gap}, tied", tied, dominant);
                }

                float[] masked = (float[])alone.Clone();
                for (int i = 0; i < size; i++)
                {
                    if (i != dominant && random.Next(4) == 0)
                    {
                        masked[i] = random.Next(2) == 0 ? float.NegativeInfinity : float.NaN;
                    }
                }
                yield return ($"dominant gap {gap}, −∞ and NaN", masked, dominant);

                if (!large)
                {
                    // A large offset: the max lane's value is far from 1 ulp of the logits themselves.
                    float[] offset = alone.Select(v => v + 3000f).ToArray();
                    yield return ($"dominant gap {gap}, offset 3000", offset, dominant);
                }
            }

            yield return ("gaussian σ=3", KernelTestData.Gaussian(size, 3.0, random.Next()), -1);
            if (!large)
            {
                yield return ("gaussian σ=0.01", KernelTestData.Gaussian(size, 0.01, random.Next()), -1);
                yield return ("all equal", Enumerable.Repeat(1.25f, size).ToArray(), -1);
                yield return ("all −∞", Enumerable.Repeat(float.NegativeInfinity, size).ToArray(), -1);
                yield return ("all NaN", Enumerable.Repeat(float.NaN, size).ToArray(), -1);
                float[] withInfinity = KernelTestData.Gaussian(size, 3.0, random.Next());
                withInfinity[random.Next(size)] = float.PositiveInfinity;
                yield return ("one +∞", withInfinity, -1);
            }
        }
    }

    /// <summary>Infinite expectations must match exactly; finite ones within max(1e-6 relative, 1e-12).</summary>
    private static void Check(double expected, float actual, string what, List<string> failures)
    {
        if (!double.IsFinite(expected))
        {
            if (!((float)expected).Equals(actual))
            {
                failures.Add($"{what}: expected {expected}, got {actual}");
            }
            return;
        }
        double tolerance = Math.Max(RelativeTolerance * Math.Abs(expected), AbsoluteTolerance);
        double error = Math.Abs(actual - expected);
        if (!(error <= tolerance))
        {
            failures.Add($"{what}: expected {expected:R}, got {actual:R} (|Δ| = {error:E2} > {tolerance:E2})");
        }
    }
}

/// <summary>
/// Oracle in double that keeps relative precision for tiny entropies: with m the max and s = Σ e^{x−m} over every
/// logit but one copy of m, ln S = log1p(s) and H = log1p(s) − T/(1+s) (T ≤ 0, so both terms are ≥ 0).
/// NaN is −∞; degenerate steps follow <see cref="DistributionStatus"/>.
/// </summary>
internal sealed record PreciseReference(double LogSumExp, double Entropy, double ChosenLogProbability, DistributionStatus Status)
{
    public static PreciseReference Compute(float[] logits, int chosen)
    {
        double[] x = logits.Select(v => float.IsNaN(v) ? double.NegativeInfinity : v).ToArray();
        double max = x.Max();
        if (!double.IsFinite(max))
        {
            var generic = ReferenceStatistics.Compute(logits, chosen, 0);
            return new PreciseReference(generic.LogSumExp, generic.Entropy, generic.ChosenLogProbability, generic.Status);
        }

        int maxIndex = Array.IndexOf(x, max);
        double s = 0, t = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (i != maxIndex && x[i] > double.NegativeInfinity)
            {
                double d = x[i] - max; // exact: the difference of two floats fits a double
                double e = Math.Exp(d);
                s += e;
                t += d * e;
            }
        }
        double logSum = Log1P(s);
        double chosenLogProbability = chosen < 0 ? double.NaN
            : x[chosen] > double.NegativeInfinity ? (x[chosen] - max) - logSum : double.NegativeInfinity;
        return new PreciseReference(max + logSum, logSum - t / (1 + s), chosenLogProbability, DistributionStatus.Regular);
    }

    /// <summary>ln(1 + s) to full relative precision (Goldberg's trick: the rounding of 1 + s cancels).</summary>
    private static double Log1P(double s)
    {
        double u = 1 + s;
        return u == 1 ? s : Math.Log(u) * s / (u - 1);
    }
}
