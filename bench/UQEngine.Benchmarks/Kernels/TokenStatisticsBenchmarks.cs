using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using UQEngine.Kernels;

namespace UQEngine.Benchmarks.Kernels;

/// <summary>
/// One decoding step's token statistics over a realistic logit vector: the fused kernel (public entry point and each
/// forced vector width) against (a) a naive scalar
/// version, (b) separate TensorPrimitives calls, (c) one TensorPrimitives.Exp pass into a scratch buffer (compute floor,
/// the Ratio baseline) and (d) one TensorPrimitives.Sum pass (memory floor). See bench/README.md.
/// </summary>
[MemoryDiagnoser]
[MinColumn, MedianColumn] // the machine may be shared: Min shows the uncontended cost next to the Mean
public class TokenStatisticsBenchmarks
{
    private const int TopK = 20;
    private const int Seed = 20240611;

    private float[] _logits = [];
    private float[] _expScratch = [];
    private float[] _baselineScratch = [];
    private readonly TopToken[] _top = new TopToken[TopK];
    private int _chosenTokenId;

    /// <summary>Vocabulary sizes of Llama-2 (32000), Llama-3 (128256) and Qwen2 (151936).</summary>
    [Params(32000, 128256, 151936)]
    public int VocabularySize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _logits = CreateRealisticLogits(VocabularySize, Seed);
        _expScratch = new float[VocabularySize];
        _baselineScratch = new float[2 * VocabularySize];
        _chosenTokenId = VocabularySize / 3; // an ordinary token: its rank is in the thousands
    }

    /// <summary>N(0, 3²) logits plus a handful of confident candidates at 12–20, like a language model's head.</summary>
    internal static float[] CreateRealisticLogits(int vocabularySize, int seed)
    {
        var random = new Random(seed);
        var logits = new float[vocabularySize];
        for (int i = 0; i < logits.Length; i++)
        {
            // Box–Muller
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            logits[i] = (float)(3.0 * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }
        for (int i = 0; i < 5; i++)
        {
            logits[random.Next(vocabularySize)] = 12f + 2f * i;
        }
        return logits;
    }

    [Benchmark(Description = "Fused k=20")]
    public float FusedTop20() => TokenStatisticsKernel.Compute(_logits, _chosenTokenId, _top).Entropy;

    [Benchmark(Description = "Fused k=0")]
    public float FusedTop0() => TokenStatisticsKernel.Compute(_logits, _chosenTokenId, Span<TopToken>.Empty).Entropy;

    [Benchmark(Description = "Fused k=20, Vector512 path")]
    public float FusedTop20Vector512() => Forced(KernelWidth.Vector512);

    [Benchmark(Description = "Fused k=20, Vector256 path")]
    public float FusedTop20Vector256() => Forced(KernelWidth.Vector256);

    [Benchmark(Description = "Fused k=20, Vector128 path")]
    public float FusedTop20Vector128() => Forced(KernelWidth.Vector128);

    /// <summary>A forced path; NaN where this machine lacks it, so the row shows up as such instead of throwing.</summary>
    private float Forced(KernelWidth width) =>
        TokenStatisticsKernel.IsSupported(width) ? TokenStatisticsKernel.Compute(_logits, _chosenTokenId, _top, width).Entropy : float.NaN;

    [Benchmark(Description = "Fused k=20, built-in vector Exp")]
    public float FusedTop20BuiltInExp() =>
        TokenStatisticsKernel.Compute<BuiltInExp>(_logits, _chosenTokenId, _top, TokenStatisticsKernel.BestWidth).Entropy;

    [Benchmark(Description = "(a) Naive scalar 3-pass k=20")]
    public float NaiveTop20() => NaiveTokenStatistics.Compute(_logits, _chosenTokenId, _top).Entropy;

    [Benchmark(Description = "(b) Separate TensorPrimitives k=20")]
    public float TensorPrimitivesTop20() =>
        TensorPrimitivesTokenStatistics.Compute(_logits, _chosenTokenId, _top, _baselineScratch).Entropy;

    [Benchmark(Baseline = true, Description = "(c) Floor: TensorPrimitives.Exp")]
    public float ExpFloor()
    {
        TensorPrimitives.Exp(_logits, _expScratch);
        return _expScratch[^1];
    }

    [Benchmark(Description = "(d) Floor: TensorPrimitives.Sum")]
    public float SumFloor() => TensorPrimitives.Sum<float>(_logits);
}
