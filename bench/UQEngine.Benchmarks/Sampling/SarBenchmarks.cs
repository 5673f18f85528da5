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
            FinalHiddenState = layer is null, HiddenLayers = layer is int l ? [l] : [], EarlyExit = true, // as SampleSettings.ContextOptionsFor: the relevance pass stops at the state it reads
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

    private string? _folder;
    private LlamaModel _model = null!;
    private LlamaContext _plainContext = null!;
    private Generator _plain = null!;
    private Setup _final = null!;
    // The last and the middle layer's inputs (layers 3 and 2 of the default model); null where llama.cpp gives none.
    private Setup? _l3, _l2;
    private int[] _prompt = [];
    private int[] _answer = [];
    private GenerationOptions _sampling = null!;

    /// <summary>Decode threads of every context (1 by default: the ratios then do not depend on a co-tenant's use of the other core).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>Another model to run (a family's bench size); null: the synthetic llama, written and deleted by the run.</summary>
    public string? ModelPath { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        string path = ModelPath ?? BenchModel.Write(out _folder);
        _model = LlamaModel.Load(path);
        _plainContext = _model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = Threads, MaxSequences = 32 });
        _plain = new Generator(_plainContext);
        _final = new Setup(_model, null, Threads);
        int layers = _model.Facts.LayerCount;
        if (LlamaContext.ExposesLayerInputs(_model.Facts.Architecture))
        {
            _l3 = new Setup(_model, layers - 1, Threads);
            _l2 = new Setup(_model, layers / 2, Threads);
        }
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
    [Benchmark] public double Sar5L3() => Sar5(_l3 ?? throw NoLayerInputs());
    [Benchmark] public double Sar5L2() => Sar5(_l2 ?? throw NoLayerInputs());

    private InvalidOperationException NoLayerInputs() => new($"no layer inputs can be read for '{_model.Facts.Architecture}'");

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
    [Benchmark] public int RelevanceL3() => (_l3 ?? throw NoLayerInputs()).Encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;
    [Benchmark] public int RelevanceL2() => (_l2 ?? throw NoLayerInputs()).Encoder.Encode(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    [Benchmark]
    public int RelevanceNaive() => _final.Encoder.EncodeNaive(_prompt, [_answer], ablations: true)[0].Ablations.Length;

    /// <summary>
    /// The ratios without BenchmarkDotNet (`-- sar-ratios ROUNDS`): every case once per round, rounds interleaved,
    /// so a co-tenant's load lands on all cases alike; prints the median per case, the ratios of interest, and where
    /// one more SAR call spends its time inside llama_decode.
    /// </summary>
    /// <param name="modelPath">Another model (<see cref="ModelPath"/>); cases it cannot run (layer inputs llama.cpp does
    /// not give) are left out, and so is Sar5Naive, which takes minutes per round at real sizes.</param>
    public static void RunRatios(int rounds, int threads = 1, string? modelPath = null)
    {
        var bench = new SarBenchmarks { Threads = threads, ModelPath = modelPath };
        bench.GlobalSetup();
        try
        {
            bool layers = bench._l2 is not null;
            var all = new (string Name, Action Run, bool Include)[]
            {
                ("Samples5", () => bench.Samples5(), true), ("Sar5Final", () => bench.Sar5Final(), true), ("Sar5L3", () => bench.Sar5L3(), layers),
                ("Sar5L2", () => bench.Sar5L2(), layers), ("Sar5Naive", () => bench.Sar5Naive(), modelPath is null),
                ("GenerateAnswer", () => bench.GenerateAnswer(), true), ("RelevanceFinal", () => bench.RelevanceFinal(), true),
                ("RelevanceL3", () => bench.RelevanceL3(), layers), ("RelevanceL2", () => bench.RelevanceL2(), layers), ("RelevanceNaive", () => bench.RelevanceNaive(), true),
            };
            var cases = all.Where(c => c.Include).Select(c => (c.Name, c.Run)).ToArray();
            if (modelPath is not null)
                Console.WriteLine($"model: {modelPath} ({bench._model.Facts.Architecture}, {bench._model.Facts.LayerCount} layers, vocabulary {bench._model.Vocabulary.Count}); " +
                                  (layers ? $"L3 = layer {bench._l3!.Layer}, L2 = layer {bench._l2!.Layer}" : "no layer inputs: final states only"));
            foreach (var c in cases) c.Run(); // warm-up (and the early-exit self-checks)
            var times = cases.ToDictionary(c => c.Name, _ => new List<double>());
            for (int r = 0; r < rounds; r++)
                foreach (var c in cases)
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    c.Run();
                    times[c.Name].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            double Median(string name) => UQEngine.Evaluation.Metrics.Bootstrap.Median(times[name]);
            Console.WriteLine($"| case | median ms ({rounds} interleaved rounds, {threads} thread(s)) | min ms | max ms |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var c in cases) Console.WriteLine($"| {c.Name} | {Median(c.Name):F1} | {times[c.Name].Min():F1} | {times[c.Name].Max():F1} |");
            Console.WriteLine();
            string Ratios(params (string A, string B)[] pairs) =>
                string.Join("; ", pairs.Where(p => times.ContainsKey(p.A) && times.ContainsKey(p.B)).Select(p => $"{p.A} / {p.B} = {Median(p.A) / Median(p.B):F2}"));
            Console.WriteLine("SAR (target <= 1.5): " + Ratios(("Sar5L2", "Samples5"), ("Sar5L3", "Samples5"), ("Sar5Final", "Samples5"), ("Sar5Naive", "Samples5"), ("Sar5Naive", "Sar5L2")) + (layers ? " (Sar5L2: the default)" : " (Sar5Final: the default here)"));
            Console.WriteLine("Relevance (target <= 1): " + Ratios(("RelevanceL2", "GenerateAnswer"), ("RelevanceL3", "GenerateAnswer"), ("RelevanceFinal", "GenerateAnswer"), ("RelevanceNaive", "GenerateAnswer"), ("RelevanceNaive", "RelevanceL2"), ("RelevanceNaive", "RelevanceFinal")));
            var breakdown = new List<(string, LlamaContext, Action)> { ("Samples5", bench._plainContext, () => bench.Samples5()), ("Sar5Final", bench._final.Context, () => bench.Sar5Final()) };
            if (layers) breakdown.AddRange([("Sar5L3", bench._l3!.Context, () => bench.Sar5L3()), ("Sar5L2", bench._l2!.Context, () => bench.Sar5L2())]);
            foreach (var (name, context, run) in breakdown)
            {
                context.Counters.Reset();
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                run();
                double total = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                var c = context.Counters.Snapshot();
                Console.WriteLine($"{name}, one more call: {total:F1} ms; llama_decode {c.Calls} calls: batches where every token is an output (sampling steps; final-state variants) {c.GeneratedTokens} tokens {c.GenerationSeconds * 1000:F1} ms, other batches (prompt; layer-input variants and last tokens) {c.PromptTokens} tokens {c.PromptSeconds * 1000:F1} ms");
            }
            if (layers)
                Console.WriteLine($"early exit verified: layer {bench._l3!.Layer} {bench._l3.Context.EarlyExitChecks.GetValueOrDefault(bench._l3.Layer!.Value)}, layer {bench._l2!.Layer} {bench._l2.Context.EarlyExitChecks.GetValueOrDefault(bench._l2.Layer!.Value)}");
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
        _l2?.Dispose();
        _l3?.Dispose();
        _final.Dispose();
        _plain.Dispose();
        _plainContext.Dispose();
        _model.Dispose();
        if (_folder is not null) Directory.Delete(_folder, recursive: true);
    }
}
