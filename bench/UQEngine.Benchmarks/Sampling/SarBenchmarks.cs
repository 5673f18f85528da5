using BenchmarkDotNet.Attributes;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Benchmarks.Sampling;

/// <summary>
/// SAR's cost against plain sampling, and the token-relevance pass against one generation, each next to the naive
/// sequential way, on the synthetic llama of DecodeBenchmarks (256 wide, 4 layers, 32000-token vocabulary), one
/// decode thread, contexts of 1024 cells and 32 sequences.
/// <list type="bullet">
/// <item>Samples5: K = 5 samples of <see cref="AnswerTokens"/> tokens, decoded together in a plain context (no hidden
/// states): the baseline of SAR, what sampling costs without it.</item>
/// <item>Sar5Final / Sar5L3 / Sar5L2: the same samples with their states captured while decoding, then the
/// hidden-state similarity matrix and every sample's token relevance (<see cref="AnswerEncoder"/>: the samples' own KV
/// cells and states reused, every variant's prefix shared, all suffixes batched), then SAR; reading the final hidden
/// state (an LM-head row per token), the input of layer 3 (the last), or the input of layer 2 (the middle, the
/// default: the graph stops there).</item>
/// <item>Sar5Naive: 5 generations one after another, every answer and every "answer without token t" re-encoded from
/// scratch in full (<see cref="AnswerEncoder.EncodeNaive"/>, final states), then SAR.</item>
/// <item>GenerateAnswer: one greedy generation of n = <see cref="AnswerTokens"/> tokens (plain context; the baseline
/// of relevance).</item>
/// <item>RelevanceFinal / RelevanceL3 / RelevanceL2: the relevance pass for that answer without a cache (prompt
/// once, answer once, all n variants' suffixes batched).</item>
/// <item>RelevanceNaive: n + 1 full re-encodings of prompt + variant.</item>
/// </list>
/// </summary>
public class SarBenchmarks
{
    public const int AnswerTokens = 16;
    private const string PromptText = "Answer the following question with a short phrase only.\n\nQuestion: What is the capital of France?\nAnswer:";

    /// <summary>One context reading one kind of hidden state, with its generator and encoder.</summary>
    private sealed class Setup(LlamaModel model, int? layer, int threads) : IDisposable
    {
        public int? Layer { get; } = layer;
        public LlamaContext Context { get; } = model.CreateContext(new ContextOptions
        {
            ContextSize = 1024, Threads = threads, MaxSequences = 32,
            FinalHiddenState = layer is null, HiddenLayers = layer is int l ? [l] : [], EarlyExit = layer is not null,
        });
        private Generator? _generator;
        private AnswerEncoder? _encoder;
        public Generator Generator => _generator ??= new Generator(Context);
        public AnswerEncoder Encoder => _encoder ??= new AnswerEncoder(Context, Layer);

        public void Dispose()
        {
            _encoder?.Dispose();
            _generator?.Dispose();
            Context.Dispose();
        }
    }

    private string _folder = "";
    private LlamaModel _model = null!;
    private LlamaContext _plainContext = null!;
    private Generator _plain = null!;
    private Setup _final = null!, _l3 = null!, _l2 = null!;
    private int[] _prompt = [];
    private int[] _answer = [];
    private GenerationOptions _sampling = null!;

    /// <summary>Decode threads of every context (1 by default: the ratios then do not depend on a co-tenant's use of the other core).</summary>
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void GlobalSetup()
    {
        string path = BenchModel.Write(out _folder);
        _model = LlamaModel.Load(path);
        _plainContext = _model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = Threads, MaxSequences = 32 });
        _plain = new Generator(_plainContext);
        _final = new Setup(_model, null, Threads);
        _l3 = new Setup(_model, 3, Threads);
        _l2 = new Setup(_model, 2, Threads);
        _sampling = new GenerationOptions { MaxTokens = AnswerTokens, Sampling = new SamplingOptions { Temperature = 1f, Seed = 5 } };
        _prompt = _plain.TokenizePrompt(PromptText, _sampling);
        _answer = [.. _plain.Generate(_prompt, 1, Greedy(), null, default)[0].Tokens.Select(t => t.TokenId)];
        if (_answer.Length != AnswerTokens) throw new InvalidOperationException($"the greedy answer has {_answer.Length} tokens, not {AnswerTokens}");
    }

    private static GenerationOptions Greedy() => new() { MaxTokens = AnswerTokens };

    [Benchmark(Baseline = true)]
    public int Samples5() => _plain.Generate(_prompt, 5, _sampling, null, default).Count;

    /// <summary>What the <c>sar</c> method does per item: samples with states captured, then relevance from the cache.</summary>
    private double Sar5(Setup s)
    {
        var options = _sampling with { CaptureHiddenStates = true, HiddenStateLayer = s.Layer };
        var set = SampleSet.From(PromptText, _prompt, s.Generator.Generate(_prompt, 5, options, null, default));
        var r = new HiddenStateSimilarity(s.Encoder).Compute(set.Answers, tokenSimilarity: true);
        if (s.Encoder.LastReusedAnswers != 5) throw new InvalidOperationException("the samples were not reused from the cache");
        return Sar.Compute(set.TokenLogProbabilities, [.. r.TokenSimilarity!.Select(Conventional)], r.Matrix);
    }

    [Benchmark] public double Sar5Final() => Sar5(_final);
    [Benchmark] public double Sar5L3() => Sar5(_l3);
    [Benchmark] public double Sar5L2() => Sar5(_l2);

    [Benchmark]
    public double Sar5Naive()
    {
        var generations = new List<GenerationResult>();
        for (int i = 0; i < 5; i++)
            generations.Add(_final.Generator.Generate(_prompt, 1, _sampling with { Sampling = _sampling.Sampling with { Seed = 5 + (uint)i } }, null, default)[0]);
        var set = SampleSet.From(PromptText, _prompt, generations);
        var encoded = _final.Encoder.EncodeNaive(_prompt, [.. set.Answers.Answers.Select(a => a.TokenIds)], ablations: true);
        var matrix = EmbeddingSimilarity.Matrix([.. encoded.Select(e => e.Embedding)], CosineMapping.ClampNegative);
        var tokens = encoded.Select(e => Conventional([.. e.Ablations.Select(v => EmbeddingSimilarity.Cosine(e.Embedding, v, CosineMapping.ClampNegative))])).ToList();
        return Sar.Compute(set.TokenLogProbabilities, tokens, matrix);
    }

    [Benchmark]
    public int GenerateAnswer() => _plain.Generate(_prompt, 1, Greedy(), null, default)[0].Tokens.Count;

    [Benchmark] public int RelevanceFinal() => _final.Encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;
    [Benchmark] public int RelevanceL3() => _l3.Encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;
    [Benchmark] public int RelevanceL2() => _l2.Encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    [Benchmark]
    public int RelevanceNaive() => _final.Encoder.EncodeNaive(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    /// <summary>
    /// The ratios without BenchmarkDotNet (`-- sar-ratios ROUNDS`): every case once per round, rounds interleaved,
    /// so a co-tenant's load lands on all cases alike; prints the median per case, the ratios of interest, and where
    /// one more SAR call spends its time inside llama_decode.
    /// </summary>
    public static void RunRatios(int rounds, int threads = 1)
    {
        var bench = new SarBenchmarks { Threads = threads };
        bench.GlobalSetup();
        try
        {
            var cases = new (string Name, Action Run)[]
            {
                ("Samples5", () => bench.Samples5()), ("Sar5Final", () => bench.Sar5Final()), ("Sar5L3", () => bench.Sar5L3()),
                ("Sar5L2", () => bench.Sar5L2()), ("Sar5Naive", () => bench.Sar5Naive()),
                ("GenerateAnswer", () => bench.GenerateAnswer()), ("RelevanceFinal", () => bench.RelevanceFinal()),
                ("RelevanceL3", () => bench.RelevanceL3()), ("RelevanceL2", () => bench.RelevanceL2()), ("RelevanceNaive", () => bench.RelevanceNaive()),
            };
            foreach (var c in cases) c.Run(); // warm-up (and the early-exit self-checks)
            var times = cases.ToDictionary(c => c.Name, _ => new List<double>());
            for (int r = 0; r < rounds; r++)
                foreach (var c in cases)
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    c.Run();
                    times[c.Name].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            double Median(string name) { var v = times[name].Order().ToList(); return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2; }
            Console.WriteLine($"| case | median ms ({rounds} interleaved rounds, {threads} thread(s)) | min ms | max ms |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var c in cases) Console.WriteLine($"| {c.Name} | {Median(c.Name):F1} | {times[c.Name].Min():F1} | {times[c.Name].Max():F1} |");
            Console.WriteLine();
            string Ratio(string a, string b) => $"{a} / {b} = {Median(a) / Median(b):F2}";
            Console.WriteLine($"SAR (target <= 1.5): {Ratio("Sar5L2", "Samples5")} (default); {Ratio("Sar5L3", "Samples5")}; {Ratio("Sar5Final", "Samples5")}; {Ratio("Sar5Naive", "Samples5")}; {Ratio("Sar5Naive", "Sar5L2")}");
            Console.WriteLine($"Relevance (target <= 1): {Ratio("RelevanceL2", "GenerateAnswer")} (default); {Ratio("RelevanceL3", "GenerateAnswer")}; {Ratio("RelevanceFinal", "GenerateAnswer")}; {Ratio("RelevanceNaive", "GenerateAnswer")}; {Ratio("RelevanceNaive", "RelevanceL2")}");
            foreach (var (name, context, run) in new (string, LlamaContext, Action)[]
                     { ("Samples5", bench._plainContext, () => bench.Samples5()), ("Sar5Final", bench._final.Context, () => bench.Sar5Final()), ("Sar5L3", bench._l3.Context, () => bench.Sar5L3()), ("Sar5L2", bench._l2.Context, () => bench.Sar5L2()) })
            {
                context.Counters.Reset();
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                run();
                double total = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                var c = context.Counters.Snapshot();
                Console.WriteLine($"{name}, one more call: {total:F1} ms; llama_decode {c.Calls} calls: batches where every token is an output (sampling steps; final-state variants) {c.GeneratedTokens} tokens {c.GenerationSeconds * 1000:F1} ms, other batches (prompt; layer-input variants and last tokens) {c.PromptTokens} tokens {c.PromptSeconds * 1000:F1} ms");
            }
            Console.WriteLine($"early exit verified: layer 3 {bench._l3.Context.EarlyExitChecks.GetValueOrDefault(3)}, layer 2 {bench._l2.Context.EarlyExitChecks.GetValueOrDefault(2)}");
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
        _l2.Dispose();
        _l3.Dispose();
        _final.Dispose();
        _plain.Dispose();
        _plainContext.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
