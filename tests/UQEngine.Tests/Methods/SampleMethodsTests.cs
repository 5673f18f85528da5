using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Kernels;
using UQEngine.Tests.Gguf;
using UQEngine.Uncertainty;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods;

/// <summary>The sampling methods as harness methods: wiring of settings into the formulas, and end to end on the synthetic model.</summary>
[Trait("Category", "Integration")]
public sealed class SampleMethodsTests
{
    /// <summary>The catalog's sample-consistency methods.</summary>
    private static readonly IReadOnlyList<string> SampleMethodNames = [.. MethodCatalog.Default.Methods.Where(m => m.Descriptor.Family == MethodFamily.SampleConsistency).Select(m => m.Descriptor.Name)];

    /// <summary>Statistics handed in directly, so an estimator's output can be checked against a calculation by hand.</summary>
    private sealed class FixedStatistics(Dictionary<string, object> values) : IStatisticSource
    {
        public EvaluationItem Item { get; } = new() { Id = "x", Question = "q", Kind = EvaluationItemKind.OpenAnswer, Answer = "a" };
        public T Get<T>(string name) => (T)values[name];
    }

    private static GeneratedToken Token(int id, string text, double logp) => new(0, 0, id, text, (float)logp, 1f, 0, []);

    private static GenerationResult Generation(string text, params GeneratedToken[] tokens) =>
        new(0, text, tokens, FinishReason.Stop, default(TokenProbabilityScores), 3, null);

    /// <summary>Three samples: "paris" twice (p = 0.5, 0.2), "rome" once (p = 0.1); samples 0 and 1 similar (0.8), the rest 0.1.</summary>
    private static FixedStatistics ThreeSamples()
    {
        var gens = new[]
        {
            Generation(" paris", Token(1, " paris", Math.Log(0.5))),
            Generation(" paris", Token(1, " paris", Math.Log(0.2))),
            Generation(" rome", Token(2, " rome", Math.Log(0.1))),
        };
        var set = SampleSet.From("Q:", [9], gens);
        var s = SquareMatrix.FromRows([1, 0.8, 0.1], [0.8, 1, 0.1], [0.1, 0.1, 1]);
        return new FixedStatistics(new()
        {
            [SampleStatisticNames.Samples] = set,
            [SampleStatisticNames.SampleSimilarity] = new SentenceSimilarityResult(s, null),
            [SampleStatisticNames.SampleRelevance] = new SentenceSimilarityResult(s, [[0.3], [0.3], [0.3]]),
        });
    }

    private static IUncertaintyEstimator Method(SampleSettings settings, string name)
    {
        var r = new UncertaintyMethodRegistry();
        SampleMethods.Register(r, settings);
        return r.Resolve(name).Single();
    }

    [Fact]
    public void Semantic_entropy_uses_the_threshold_and_the_summed_class_likelihoods()
    {
        var st = ThreeSamples();
        // Threshold 0.5: classes {0, 1} and {2}. log P(c0) = log(0.5 + 0.2) = log 0.7, log P(c1) = log 0.1.
        // Monte-Carlo mean over samples: −(log 0.7 + log 0.7 + log 0.1) / 3.
        double expected = -(2 * Math.Log(0.7) + Math.Log(0.1)) / 3;
        Assert.Equal(expected, Method(new SampleSettings { ClusterThreshold = 0.5 }, "semantic_entropy").Estimate(st).Uncertainty, 1e-6);
        // Threshold 0.9: three classes, each its own sample: −(log 0.5 + log 0.2 + log 0.1) / 3.
        Assert.Equal(-(Math.Log(0.5) + Math.Log(0.2) + Math.Log(0.1)) / 3, Method(new SampleSettings { ClusterThreshold = 0.9 }, "semantic_entropy").Estimate(st).Uncertainty, 1e-6);
        Assert.Equal(2, Method(new SampleSettings { ClusterThreshold = 0.5 }, "num_sem_sets").Estimate(st).Uncertainty);
        Assert.Equal(3, Method(new SampleSettings { ClusterThreshold = 0.9 }, "num_sem_sets").Estimate(st).Uncertainty);
    }

    [Fact]
    public void Sentence_sar_and_sar_use_the_sar_temperature()
    {
        var st = ThreeSamples();
        double t = 0.5;
        // SentenceSAR = (1/3) Σ_i −log(p_i + Σ_{j≠i} S_ij p_j / t)
        double[] p = [0.5, 0.2, 0.1];
        double[,] s = { { 1, 0.8, 0.1 }, { 0.8, 1, 0.1 }, { 0.1, 0.1, 1 } };
        double expected = 0;
        for (int i = 0; i < 3; i++)
        {
            double inner = p[i];
            for (int j = 0; j < 3; j++) if (j != i) inner += s[i, j] * p[j] / t;
            expected -= Math.Log(inner) / 3;
        }
        // Token log-probabilities are stored as float (as the kernel reports them): 1e-6, not 1e-12.
        Assert.Equal(expected, Method(new SampleSettings { SarTemperature = t }, "sentence_sar").Estimate(st).Uncertainty, 1e-6);
        // One-token samples: relevance 1 after the convention, TokenSAR_i = −log p_i, so SAR = SentenceSAR here.
        Assert.Equal(expected, Method(new SampleSettings { SarTemperature = t }, "sar").Estimate(st).Uncertainty, 1e-6);
        // The default t = 0.001 gives another value: the setting is what reached the formula.
        Assert.NotEqual(expected, Method(new SampleSettings(), "sentence_sar").Estimate(st).Uncertainty, 3);
    }

    [Fact]
    public void Graph_methods_and_lexical_similarity_read_the_shared_matrix_and_texts()
    {
        var st = ThreeSamples();
        // DegMat = 1 − Σ W / K² = 1 − (3 + 2·0.8 + 4·0.1) / 9 = 1 − 5/9.
        Assert.Equal(1 - 5.0 / 9, Method(new SampleSettings(), "degmat").Estimate(st).Uncertainty, 12);
        // Lexical: ROUGE-L of (paris, paris) = 1, of (paris, rome) = 0 twice: −(1 + 0 + 0)/3.
        Assert.Equal(-1.0 / 3, Method(new SampleSettings(), "lexical_similarity").Estimate(st).Uncertainty, 12);
        double eig = Method(new SampleSettings(), "eigv_laplacian").Estimate(st).Uncertainty;
        Assert.InRange(eig, 1.0, 3.0); // between one and three semantic sets
    }

    [Fact]
    public void Trim_keeps_the_tokens_that_reach_into_the_cut_text()
    {
        // "Hel" + "lo" + "\nmore": the stop cut the text at "Hello"; the third token starts at the cut and is dropped.
        var g = Generation("Hello", Token(5, "Hel", -0.1), Token(6, "lo", -0.2), Token(7, "\nmore", -0.3));
        var (answer, logp, ll) = SampleSet.Trim(g);
        Assert.Equal([5, 6], answer.TokenIds);
        Assert.Equal(["Hel", "lo"], answer.Pieces);
        Assert.Equal([-0.1, -0.2], logp.Select(v => Math.Round(v, 6)));
        Assert.Equal(-0.3, ll, 6);
        // "ok\n" in one token: kept, its piece cut to the text.
        var (a2, _, _) = SampleSet.Trim(Generation("ok", Token(8, "ok\n", -0.5)));
        Assert.Equal(["ok"], a2.Pieces);
        // Stopped at once: no token, but the likelihood is that of stopping.
        var (a3, l3, ll3) = SampleSet.Trim(Generation("", Token(9, "\n", -2.0)));
        Assert.Empty(a3.TokenIds);
        Assert.Empty(l3);
        Assert.Equal(-2.0, ll3, 6);
    }

    [Fact]
    public void Bad_settings_are_refused_with_the_setting_named()
    {
        var r = new UncertaintyMethodRegistry();
        Assert.Contains("cluster threshold", Assert.Throws<ArgumentException>(() => SampleMethods.Register(r, new SampleSettings { ClusterThreshold = 1.5 })).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentException>(() => SampleMethods.Register(r, new SampleSettings { Temperature = 0 })).Message);
        Assert.Contains("embedding model", Assert.Throws<ArgumentException>(() => SampleMethods.Register(r, new SampleSettings { Similarity = SimilarityBackend.Embedding })).Message);
        Assert.Contains("samples", Assert.Throws<ArgumentException>(() => SampleMethods.Register(r, new SampleSettings { Samples = 0 })).Message);
    }

    [Fact]
    public void Every_sampling_method_is_in_the_default_registry()
    {
        var registry = UncertaintyMethodRegistry.CreateDefault();
        Assert.Equal(SampleMethodNames.Count, registry.Resolve(SampleMethodNames).Count);
    }

    private const string Items = """
        {"id":"o1","question":"Who wrote Hamlet?","answer":"William Shakespeare"}
        {"id":"o2","question":"What colour is the sky?","answer":"blue"}
        {"id":"m1","question":"What is 2+2?","options":["3","4","5","6"],"answer":"B"}
        """;

    [Theory]
    [InlineData(SimilarityBackend.Hidden)]
    [InlineData(SimilarityBackend.RougeL)]
    public void Every_sampling_method_runs_in_the_harness_with_statistics_shared(SimilarityBackend backend)
    {
        using var dir = new TempDirectory();
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var settings = new SampleSettings { Samples = 3, Similarity = backend, Paraphrases = 2, ResponsesPerInput = 2, MaxTokens = 5 };
        SampleMethods.Register(registry, settings);
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(settings.ContextOptionsFor(new ContextOptions { ContextSize = 1024 }, model.Facts));
        if (backend == SimilarityBackend.Hidden) Assert.Equal([1], context.HiddenLayers); // the middle of 2 layers, not the final state
        Assert.False(context.Options.FinalHiddenState);
        using var generator = new Generator(context);
        var run = new EvaluationRunner(generator, registry).Run(JsonlDatasetReader.Parse(new StringReader(Items), "t.jsonl", "t"), new EvaluationRunOptions
        {
            OutputFolder = dir.Path, Methods = ["sar", .. SampleMethodNames], Seed = 3, BootstrapResamples = 20,
            Statistics = new StatisticSettings { AnswerMaxTokens = 5 },
        });
        Assert.Equal(3, run.Items.Count);
        foreach (var item in run.Items)
            foreach (string m in SampleMethodNames)
            {
                Assert.True(item.Methods.ContainsKey(m), $"{m} missing on {item.Id}");
                Assert.True(double.IsFinite(item.Methods[m].Uncertainty), $"{m} on {item.Id}: {item.Methods[m].Uncertainty}");
            }
        // Computed once per item and shared by the nine methods that read them.
        var timing = run.Summary.Timing.Statistics;
        Assert.Equal(3, timing[SampleStatisticNames.Samples].Items);
        Assert.Equal(3, timing[SampleStatisticNames.SampleRelevance].Items);
        Assert.All(run.Items, i => Assert.InRange(i.Methods["num_sem_sets"].Uncertainty, 1, 3));
        Assert.All(run.Items, i => Assert.InRange(i.Methods["lexical_similarity"].Uncertainty, -1, 0));
    }

    [Fact]
    public void The_hidden_state_read_is_the_middle_layer_input_unless_told_otherwise()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        var llama4 = model.Facts with { LayerCount = 4 };
        Assert.Equal(2, new SampleSettings().ReadLayer(llama4));
        Assert.Equal(1, new SampleSettings().ReadLayer(model.Facts)); // 2 layers
        Assert.Equal(3, new SampleSettings { HiddenLayer = 3 }.ReadLayer(llama4));
        Assert.Null(new SampleSettings { FinalHiddenState = true }.ReadLayer(llama4));
        Assert.Null(new SampleSettings().ReadLayer(llama4 with { Architecture = "bert" })); // no layer inputs there: final
        Assert.Equal("middle", new SampleSettings().Describe()["sampling.hidden_layer"]);
        Assert.Equal("final", new SampleSettings { FinalHiddenState = true }.Describe()["sampling.hidden_layer"]);
        Assert.Throws<ArgumentException>(() => new SampleSettings { FinalHiddenState = true, HiddenLayer = 1 }.Validate());

        // The context keeps what it already exposes and adds what the backend reads.
        var options = new SampleSettings().ContextOptionsFor(new ContextOptions { HiddenLayers = [0] }, llama4);
        Assert.Equal([0, 2], options.HiddenLayers);
        Assert.False(options.FinalHiddenState);
        Assert.True(options.EarlyExit);
        Assert.True(options.MaxSequences >= 32);
        Assert.Equal(41, new SampleSettings { Samples = 40 }.ContextOptionsFor(new ContextOptions(), llama4).MaxSequences); // a spare beside the samples
        Assert.Equal(256, new SampleSettings { Samples = 256 }.ContextOptionsFor(new ContextOptions(), llama4).MaxSequences); // llama.cpp's limit
        Assert.Contains("at most 256 samples", Assert.Throws<ArgumentException>(() => new SampleSettings { Samples = 257 }.Validate()).Message);
        Assert.True(new SampleSettings { FinalHiddenState = true }.ContextOptionsFor(new ContextOptions(), llama4).FinalHiddenState);
        var lexical = new SampleSettings { Similarity = SimilarityBackend.RougeL }.ContextOptionsFor(new ContextOptions(), llama4);
        Assert.False(lexical.FinalHiddenState);
        Assert.Empty(lexical.HiddenLayers);
    }

    [Fact]
    public void Inv_entropy_inputs_are_the_question_and_the_first_paraphrases_or_gaap_s_selection_from_a_larger_pool()
    {
        const string question = "What pet does Zaibath have?";
        string[] pool =
        [
            "Which animal does Zaibath keep?", "", "What pet belongs to Zaibath?", "Zaibath keeps which animal as a pet?",
            "Name the pet of Zaibath.", "What animal lives with Zaibath?", "Which creature is Zaibath's pet?", "Tell me Zaibath's pet.",
        ];
        var plain = new SampleSettings { Paraphrases = 3 };
        Assert.Equal(3, plain.PerturbationPool);
        // As sampled: the question, then the first three, an empty paraphrase standing for the question.
        Assert.Equal([question, pool[0], question, pool[2]], InvEntropyStatistic.PerturbedInputs(question, pool[..3], plain, seed: 7));

        var gaap = plain with { Perturbation = InputPerturbation.Gaap };
        Assert.Equal(6, gaap.PerturbationPool); // two paraphrases sampled per one kept
        var inputs = InvEntropyStatistic.PerturbedInputs(question, pool[..6], gaap, seed: 7);
        var expected = Gaap.Select(question, [.. pool[..6].Select(p => p.Length == 0 ? question : p)], 3, new RougeLSimilarity(), new GaapOptions(Seed: 7)).Selected;
        Assert.Equal([question, .. expected], inputs);
        Assert.Equal("gaap x2", gaap.Describe()["sampling.perturbation"]);
        Assert.Throws<ArgumentException>(() => (gaap with { GaapPoolFactor = 0 }).Validate());
    }
}
