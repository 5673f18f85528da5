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

    private static double[] Conventional(double[] s)
    {
        Sar.ApplyTokenConventions(s, []);
        return s;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _encoder.Dispose();
        _generator.Dispose();
        _context.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
