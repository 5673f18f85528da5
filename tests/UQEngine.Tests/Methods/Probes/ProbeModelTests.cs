using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Datasets;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;
using UQEngine.Tests.Gguf;
using UQEngine.Methods;

using UQEngine.Tests.Evaluation.Probes;

namespace UQEngine.Tests.Methods.Probes;

/// <summary>Probes on the synthetic models (random weights): the machinery, not knowledge, is what is tested.</summary>
[Trait("Category", "Integration")]
public sealed class ProbeModelTests
{
    private static readonly Lazy<string> OtherModel = new(() =>
    {
        string path = TestModels.TempFile("synthetic-other.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = path, Seed = 99, EmbeddingLength = 32, LayerCount = 3, FeedForwardLength = 64 });
        return path;
    });

    private const string Prompt = "Hello world, the";

    /// <summary>Items of two families whose prompts differ in content: the label a probe can read from hidden states.</summary>
    internal static List<EvaluationItem> FamilyItems(int perFamily)
    {
        string[] red = ["red apple", "red fire", "red rose", "red blood", "red brick", "red wine", "red ruby", "red sun"];
        string[] blue = ["blue sea", "blue sky", "blue ice", "blue jeans", "blue whale", "blue moon", "blue ink", "blue bird"];
        var items = new List<EvaluationItem>();
        for (int i = 0; i < perFamily; i++)
            foreach (var (family, words) in new[] { ("red", red), ("blue", blue) })
                items.Add(new EvaluationItem
                {
                    Id = $"{family}{i}", Kind = EvaluationItemKind.OpenAnswer, Answer = family,
                    Question = $"{words[i % words.Length]}, {words[(i + 3) % words.Length]}, {words[(i + 5) % words.Length]}: all {family} {family} {family}, number {i}.",
                    Metadata = new Dictionary<string, string> { ["family"] = family, ["split"] = i % 3 == 2 ? "test" : "train" },
                });
        return items;
    }

    private static ProbeFile Wrap(LlamaModel model, ProbeFeatureSpec spec, ProbeWeights weights) => new()
    {
        Model = ModelIdentity.Of(model), Features = spec, Dimension = spec.Dimension(model.Facts.EmbeddingSize), Weights = weights,
        TokenFeatureNames = spec.TokenProbabilityFeatures ? AnswerTokenStatistics.Names : [],
    };

    [Fact]
    public void Last_token_features_at_the_final_layer_are_the_last_captured_hidden_state()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        int final = ProbeLayers.Final(model.Facts);
        using var context = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 256 }, [0, final], model.Facts));
        using var generator = new Generator(context);
        var options = new GenerationOptions { MaxTokens = 6, CaptureHiddenStates = true };
        var (answer, features) = ProbeFeatureExtractor.Generate(generator, Prompt, options, [0, final]);
        Assert.Equal(answer.HiddenStates!.Count, features.Steps);
        Assert.Equal(answer.HiddenStates[^1], features.Vector(new ProbeFeatureSpec(final, HiddenFeatureKind.LastToken, false)));
        var mean = features.Vector(new ProbeFeatureSpec(final, HiddenFeatureKind.MeanOverAnswer, false));
        for (int j = 0; j < mean.Length; j++)
            Assert.Equal(answer.HiddenStates.Average(h => h[j]), mean[j], 5);
        // Token features: mean / min log-prob and mean / max entropy over every step (the ending step too).
        var withTokens = features.Vector(new ProbeFeatureSpec(0, HiddenFeatureKind.LastToken, true));
        Assert.Equal(model.Facts.EmbeddingSize + 4, withTokens.Length);
        Assert.True(withTokens[^4] <= 0 && withTokens[^3] <= withTokens[^4] && withTokens[^1] >= withTokens[^2]);
        Assert.Throws<InvalidOperationException>(() => features.Vector(new ProbeFeatureSpec(1, HiddenFeatureKind.LastToken, false)));
    }

    [Theory]
    [InlineData(ProbeKind.Logistic, HiddenFeatureKind.LastToken, false)]
    [InlineData(ProbeKind.Logistic, HiddenFeatureKind.MeanOverAnswer, true)]
    [InlineData(ProbeKind.Mlp, HiddenFeatureKind.MeanOverAnswer, true)]
    [InlineData(ProbeKind.Mlp, HiddenFeatureKind.LastToken, false)]
    public void The_decode_time_score_equals_the_probe_applied_to_the_recorded_features(ProbeKind kind, HiddenFeatureKind feature, bool tokens)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        const int layer = 1;
        var spec = new ProbeFeatureSpec(layer, feature, tokens);
        using var context = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 512 }, [layer], model.Facts));
        using var generator = new Generator(context);
        var items = FamilyItems(6);
        var examples = GradedExamples.Generate(generator, items, [layer], new GradedExampleOptions { AnswerMaxTokens = 5 });
        var labels = items.Select(i => i.Metadata["family"] == "red").ToList();
        var weights = ProbeTrainer.Train([.. examples.Select(e => e.Features.Vector(spec))], labels, new ProbeTrainingOptions { Kind = kind, HiddenUnits = 4, CalibrationFraction = 0.25 });
        var probe = Wrap(model, spec, weights);

        var scorer = new ProbeScorer(probe);
        var recorder = new AnswerFeatureRecorder([layer], model.Facts.EmbeddingSize);
        var options = new GenerationOptions { MaxTokens = 7, OnStep = (in DecodeStep s) => { scorer.Observe(s); recorder.Observe(s); } };
        foreach (string prompt in new[] { Prompt, "Tell me about the blue sea number 3." })
        {
            scorer.Reset(); recorder.Reset();
            generator.Generate(prompt, options);
            var reading = scorer.Result();
            double expected = weights.Logit(recorder.Result().Vector(spec));
            Assert.Equal(expected, reading.Logit, 4);
            Assert.Equal(weights.Confidence(expected), reading.Confidence, 5);
            Assert.Equal(recorder.Result().Steps, reading.TokenConfidences.Count);
            Assert.Equal(reading.Confidence, reading.TokenConfidences[^1], 12);
        }
    }

    [Fact]
    public void A_probe_file_round_trips_and_refuses_another_model_naming_both()
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        var (x, y) = ProbeTrainingTests.Blobs(80, model.Facts.EmbeddingSize, 5, 4, 0.4, seed: 9);
        foreach (var kind in new[] { ProbeKind.Logistic, ProbeKind.Mlp })
        {
            var spec = new ProbeFeatureSpec(2, HiddenFeatureKind.MeanOverAnswer, false);
            var probe = Wrap(model, spec, ProbeTrainer.Train(x, y, new ProbeTrainingOptions { Kind = kind, HiddenUnits = 3 })) with { TrainedOn = "blobs" };
            string path = dir.File($"{kind}.probe.json");
            probe.Save(path);
            var loaded = ProbeFile.Load(path);
            Assert.Equal(probe.Model, loaded.Model);
            Assert.Equal(probe.Features, loaded.Features);
            Assert.Equal(probe.Weights.Metrics, loaded.Weights.Metrics);
            Assert.Equal(probe.Weights.PlattA, loaded.Weights.PlattA);
            foreach (var row in x.Take(10)) Assert.Equal(probe.Weights.Logit(row), loaded.Weights.Logit(row), 12);
            loaded.EnsureFits(model);
        }
        Assert.Equal(64, ModelIdentity.Of(model).Sha256.Length);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(TestModels.SyntheticPath))), ModelIdentity.Of(model).Sha256);

        var stored = ProbeFile.Load(dir.File("Logistic.probe.json"));
        using var other = LlamaModel.Load(OtherModel.Value);
        var e = Assert.Throws<InvalidOperationException>(() => stored.EnsureFits(other));
        Assert.Contains("synthetic.gguf", e.Message);
        Assert.Contains("synthetic-other.gguf", e.Message);
        Assert.Contains("n_embd 32", e.Message);

        // Unsupported version, broken JSON and inconsistent shapes are named errors.
        string text = File.ReadAllText(dir.File("Logistic.probe.json"));
        File.WriteAllText(dir.File("v9.json"), text.Replace("\"format_version\": 1", "\"format_version\": 9"));
        Assert.Contains("format version 9", Assert.Throws<InvalidDataException>(() => ProbeFile.Load(dir.File("v9.json"))).Message);
        File.WriteAllText(dir.File("torn.json"), text[..(text.Length / 2)]);
        Assert.Contains("torn.json", Assert.Throws<InvalidDataException>(() => ProbeFile.Load(dir.File("torn.json"))).Message);
        File.WriteAllText(dir.File("dim.json"), text.Replace("\"dimension\": 64", "\"dimension\": 65"));
        Assert.Contains("dimension", Assert.Throws<InvalidDataException>(() => ProbeFile.Load(dir.File("dim.json"))).Message);
    }

    [Fact]
    public void A_cross_model_probe_reads_answers_another_model_wrote()
    {
        // Model B (32 wide, 3 layers, other seed) writes the answers; model A reads them teacher-forced.
        var items = FamilyItems(24);
        using var writerModel = LlamaModel.Load(OtherModel.Value);
        using var writerContext = writerModel.CreateContext(new ContextOptions { ContextSize = 512 });
        using var writer = new Generator(writerContext);
        var answers = GradedExamples.Answers(writer, items, new GradedExampleOptions { AnswerMaxTokens = 6 });

        using var reader = LlamaModel.Load(TestModels.SyntheticPath);
        int layer = ProbeLayers.Final(reader.Facts);
        using var readerContext = reader.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 512 }, [layer], reader.Facts));
        using var readerGenerator = new Generator(readerContext);
        var examples = GradedExamples.TeacherForced(readerGenerator, items, answers, [layer]);
        Assert.All(examples, e => Assert.Equal(answers[e.Item.Id], e.Response));

        // Teacher forcing reads answer + "\n": as many steps as those tokens.
        var first = examples[0];
        int expectedSteps = reader.Vocabulary.Tokenize(first.Response + "\n", addSpecial: false, parseSpecial: false).Length;
        Assert.Equal(expectedSteps, first.Features.Steps);

        // The label (which family the question was about) is in the reader's states; held-out items are ranked right.
        var spec = new ProbeFeatureSpec(layer, HiddenFeatureKind.MeanOverAnswer, false);
        var train = examples.Where(e => e.Item.Metadata["split"] == "train").ToList();
        var test = examples.Where(e => e.Item.Metadata["split"] == "test").ToList();
        static bool Red(GradedExample e) => e.Item.Metadata["family"] == "red";
        var weights = ProbeTrainer.Train([.. train.Select(e => e.Features.Vector(spec))], [.. train.Select(Red)], new ProbeTrainingOptions { L2 = 1e-3 });
        double auroc = RankingMetrics.Auroc(test.Select(e => weights.Logit(e.Features.Vector(spec))).ToArray(), test.Select(Red).ToArray()).Value;
        Assert.True(auroc > 0.85, $"held-out AUROC {auroc}"); // 16 held-out answers

        var probe = Wrap(reader, spec, weights) with { AnswersFrom = ModelIdentity.Of(writerModel) };
        probe.EnsureFits(reader);
        Assert.Throws<InvalidOperationException>(() => probe.EnsureFits(writerModel));
    }

    [Fact]
    public void The_probe_method_runs_in_eval_on_the_same_generation_as_the_token_methods()
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        int layer = 1;
        var spec = new ProbeFeatureSpec(layer, HiddenFeatureKind.LastToken, true);
        var (x, y) = ProbeTrainingTests.Blobs(60, spec.Dimension(model.Facts.EmbeddingSize), 0, 3, 0.5, seed: 4);
        var probe = Wrap(model, spec, ProbeTrainer.Train(x, y));
        using var context = model.CreateContext(new ProbeScorer(probe).Configure(new ContextOptions { ContextSize = 1024 }, model));
        using var generator = new Generator(context);
        var registry = UncertaintyMethodRegistry.CreateDefault();
        ProbeMethod.Register(registry, probe, context);
        var items = FamilyItems(3);
        var run = new UQEngine.Evaluation.Runner.EvaluationRunner(generator, registry).Run(
            new EvaluationDataset("families", "memory", items, []),
            new UQEngine.Evaluation.Runner.EvaluationRunOptions { OutputFolder = dir.Path, Methods = ["probe", "msp"], BootstrapResamples = 0, Statistics = new StatisticSettings { AnswerMaxTokens = 5 } });
        Assert.Equal(items.Count, run.Items.Count);
        foreach (var item in run.Items)
        {
            var p = item.Methods["probe"];
            Assert.NotNull(p.Confidence);
            Assert.Equal(1 - p.Confidence!.Value, p.Uncertainty, 12);
            // The same answer, decoded once: recompute it and the probe reading independently.
            var scorer = new ProbeScorer(probe);
            var again = generator.Generate(new ItemPrompts(model).Answer(items.Single(i => i.Id == item.Id)), new GenerationOptions { MaxTokens = 5, Stop = ["\n"], OnStep = scorer.Observe });
            Assert.Equal(again.Text, item.Response);
            Assert.Equal(scorer.Result().Confidence, p.Confidence!.Value, 9);
            Assert.Equal(-again.Uncertainty.SequenceLogProbability, item.Methods["msp"].Uncertainty, 9);
        }

        using var other = LlamaModel.Load(OtherModel.Value);
        using var otherContext = other.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true });
        Assert.Throws<InvalidOperationException>(() => ProbeMethod.Register(UncertaintyMethodRegistry.CreateDefault(), probe, otherContext));
        using var bare = model.CreateContext(new ContextOptions { ContextSize = 256 });
        Assert.Contains("not exposed", Assert.Throws<InvalidOperationException>(() => ProbeMethod.Register(UncertaintyMethodRegistry.CreateDefault(), probe, bare)).Message);
    }
}
