using BenchmarkDotNet.Attributes;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Uncertainty.Methods;
using UQEngine.Uncertainty.Sampling;
using UQEngine.Uncertainty.Sampling.Similarity;

namespace UQEngine.Benchmarks.Sampling;

/// <summary>
/// SAR's cost against plain sampling, and the token-relevance pass against one generation, each next to the naive
/// sequential way, on the synthetic llama of DecodeBenchmarks (256 wide, 4 layers, 32000-token vocabulary), one
/// decode thread. All cases share one context with final hidden states and 32 sequences (what `eval` creates for the
/// sampling methods).
/// <list type="bullet">
/// <item>Samples5: K = 5 samples of <see cref="AnswerTokens"/> tokens, decoded together (the baseline of SAR).</item>
/// <item>Sar5: the same samples, then the hidden-state similarity matrix and every sample's token relevance with
/// prefix reuse (<see cref="AnswerEncoder"/>), then SAR.</item>
/// <item>Sar5Naive: 5 generations one after another, every answer and every "answer without token t" re-encoded from
/// scratch (<see cref="AnswerEncoder.EncodeNaive"/>), then SAR.</item>
/// <item>GenerateAnswer: one greedy generation of n = <see cref="AnswerTokens"/> tokens (the baseline of relevance).</item>
/// <item>Relevance: the relevance pass for that answer (prompt once, answer once, all n variants' suffixes batched).</item>
/// <item>RelevanceNaive: n + 1 full re-encodings of prompt + variant.</item>
/// <item>Sar5Layer, RelevanceLayer: the same with the states entering the last layer (<c>--hidden-layer 3</c>), read
/// for every token without an LM-head row per token, in a second context of the same model.</item>
/// </list>
/// </summary>
public class SarBenchmarks
{
    public const int AnswerTokens = 16;
    private const string PromptText = "Answer the following question with a short phrase only.\n\nQuestion: What is the capital of France?\nAnswer:";

    private string _folder = "";
    private LlamaModel _model = null!;
    private LlamaContext _context = null!;
    private Generator _generator = null!;
    private AnswerEncoder _encoder = null!;
    private LlamaContext _layerContext = null!;
    private Generator _layerGenerator = null!;
    private AnswerEncoder _layerEncoder = null!;
    private int[] _prompt = [];
    private int[] _answer = [];
    private GenerationOptions _sampling = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("uqengine-bench-").FullName;
        string path = Path.Combine(_folder, "bench.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions
        {
            OutputPath = path, Seed = 11, VocabularySize = 32000,
            EmbeddingLength = 256, LayerCount = 4, HeadCount = 4, HeadCountKv = 4, FeedForwardLength = 768, ContextLength = 1024,
        });
        _model = LlamaModel.Load(path);
        _context = _model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = 1, FinalHiddenState = true, MaxSequences = 32 });
        _generator = new Generator(_context);
        _encoder = new AnswerEncoder(_context);
        _layerContext = _model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = 1, HiddenLayers = [3], MaxSequences = 32 });
        _layerGenerator = new Generator(_layerContext);
        _layerEncoder = new AnswerEncoder(_layerContext, layer: 3);
        _sampling = new GenerationOptions { MaxTokens = AnswerTokens, Sampling = new SamplingOptions { Temperature = 1f, Seed = 5 } };
        _prompt = _generator.TokenizePrompt(PromptText, _sampling);
        _answer = [.. _generator.Generate(_prompt, 1, Greedy(), null, default)[0].Tokens.Select(t => t.TokenId)];
        if (_answer.Length != AnswerTokens) throw new InvalidOperationException($"the greedy answer has {_answer.Length} tokens, not {AnswerTokens}");
    }

    private static GenerationOptions Greedy() => new() { MaxTokens = AnswerTokens };

    [Benchmark(Baseline = true)]
    public int Samples5() => _generator.Generate(_prompt, 5, _sampling, null, default).Count;

    [Benchmark]
    public double Sar5()
    {
        var set = SampleSet.From(PromptText, _prompt, _generator.Generate(_prompt, 5, _sampling, null, default));
        var r = new HiddenStateSimilarity(_encoder).Compute(set.Answers, tokenSimilarity: true);
        return Sar.Compute(set.TokenLogProbabilities, [.. r.TokenSimilarity!.Select(Conventional)], r.Matrix);
    }

    [Benchmark]
    public double Sar5Layer()
    {
        var set = SampleSet.From(PromptText, _prompt, _layerGenerator.Generate(_prompt, 5, _sampling, null, default));
        var r = new HiddenStateSimilarity(_layerEncoder).Compute(set.Answers, tokenSimilarity: true);
        return Sar.Compute(set.TokenLogProbabilities, [.. r.TokenSimilarity!.Select(Conventional)], r.Matrix);
    }

    [Benchmark]
    public int RelevanceLayer() => _layerEncoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    [Benchmark]
    public double Sar5Naive()
    {
        var generations = new List<GenerationResult>();
        for (int i = 0; i < 5; i++)
            generations.Add(_generator.Generate(_prompt, 1, _sampling with { Sampling = _sampling.Sampling with { Seed = 5 + (uint)i } }, null, default)[0]);
        var set = SampleSet.From(PromptText, _prompt, generations);
        var encoded = _encoder.EncodeNaive(_prompt, [.. set.Answers.Answers.Select(a => a.TokenIds)], ablations: true);
        var matrix = EmbeddingSimilarity.Matrix([.. encoded.Select(e => e.Embedding)], CosineMapping.ClampNegative);
        var tokens = encoded.Select(e => Conventional([.. e.Ablations.Select(v => EmbeddingSimilarity.Cosine(e.Embedding, v, CosineMapping.ClampNegative))])).ToList();
        return Sar.Compute(set.TokenLogProbabilities, tokens, matrix);
    }

    [Benchmark]
    public int GenerateAnswer() => _generator.Generate(_prompt, 1, Greedy(), null, default)[0].Tokens.Count;

    [Benchmark]
    public int Relevance() => _encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    [Benchmark]
    public int RelevanceNaive() => _encoder.EncodeNaive(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    /// <summary>
    /// The ratios without BenchmarkDotNet (`-- sar-ratios ROUNDS`): every case once per round, rounds interleaved,
    /// so a co-tenant's load lands on all cases alike; prints the median per case and the ratios of interest.
    /// </summary>
    public static void RunRatios(int rounds)
    {
        var bench = new SarBenchmarks();
        bench.Setup();
        try
        {
            var cases = new (string Name, Action Run)[]
            {
                ("Samples5", () => bench.Samples5()), ("Sar5", () => bench.Sar5()), ("Sar5Layer", () => bench.Sar5Layer()), ("Sar5Naive", () => bench.Sar5Naive()),
                ("GenerateAnswer", () => bench.GenerateAnswer()), ("Relevance", () => bench.Relevance()), ("RelevanceLayer", () => bench.RelevanceLayer()), ("RelevanceNaive", () => bench.RelevanceNaive()),
            };
            foreach (var c in cases) c.Run(); // warm-up
            var times = cases.ToDictionary(c => c.Name, _ => new List<double>());
            for (int r = 0; r < rounds; r++)
                foreach (var c in cases)
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    c.Run();
                    times[c.Name].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            double Median(string name) { var v = times[name].Order().ToList(); return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2; }
            Console.WriteLine($"| case | median ms ({rounds} interleaved rounds) | min ms | max ms |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var c in cases) Console.WriteLine($"| {c.Name} | {Median(c.Name):F1} | {times[c.Name].Min():F1} | {times[c.Name].Max():F1} |");
            Console.WriteLine();
            Console.WriteLine($"Sar5 / Samples5 = {Median("Sar5") / Median("Samples5"):F2} (target <= 1.5); Sar5Layer / Samples5 = {Median("Sar5Layer") / Median("Samples5"):F2}; Sar5Naive / Samples5 = {Median("Sar5Naive") / Median("Samples5"):F2}; Sar5Naive / Sar5 = {Median("Sar5Naive") / Median("Sar5"):F2}");
            Console.WriteLine($"Relevance / GenerateAnswer = {Median("Relevance") / Median("GenerateAnswer"):F2} (target <= 1); RelevanceLayer / GenerateAnswer = {Median("RelevanceLayer") / Median("GenerateAnswer"):F2}; RelevanceNaive / GenerateAnswer = {Median("RelevanceNaive") / Median("GenerateAnswer"):F2}; RelevanceNaive / Relevance = {Median("RelevanceNaive") / Median("Relevance"):F2}");
        }
        finally { bench.Cleanup(); }
    }

    private static double[] Conventional(double[] s)
    {
        Sar.ApplyTokenConventions(s, []);
        return s;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _layerEncoder.Dispose();
        _layerGenerator.Dispose();
        _layerContext.Dispose();
        _encoder.Dispose();
        _generator.Dispose();
        _context.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
