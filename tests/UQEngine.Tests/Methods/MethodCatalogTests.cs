using System.Text.Json;
using System.Text.RegularExpressions;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Evaluation.Sensitivity;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples.Similarity;
using UQEngine.Tests.Cli;
using UQEngine.Tests.Gguf;
using UQEngine.Tests.Server;

namespace UQEngine.Tests.Methods;

/// <summary>
/// The catalog is the one list of methods: names are unique and resolvable, and what each consumer offers follows
/// from the statistics a method declares. mean_pairwise_dissimilarity (one source file) proves a new method reaches
/// eval, sensitivity, generate --methods and the server with nothing else touched.
/// </summary>
public sealed class MethodCatalogTests
{
    private const string Proof = "mean_pairwise_dissimilarity";

    [Fact]
    public void Every_method_has_one_snake_case_name_and_describes_itself()
    {
        var methods = MethodCatalog.Default.Methods;
        Assert.True(methods.Count >= 20, $"{methods.Count} methods found");
        Assert.Equal(methods.Count, methods.Select(m => m.Descriptor.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        foreach (var m in methods)
        {
            Assert.Matches(new Regex("^[a-z][a-z0-9_]*$"), m.Descriptor.Name);
            Assert.False(string.IsNullOrWhiteSpace(m.Descriptor.Description), m.Descriptor.Name);
            Assert.NotEmpty(m.Descriptor.Statistics);
        }
        Assert.Contains(Proof, MethodCatalog.Default.Names);
        Assert.Contains("unknown method 'nope'", Assert.Throws<ArgumentException>(() => MethodCatalog.Default.Get("nope")).Message);
        Assert.Contains("two methods are named 'msp'", Assert.Throws<ArgumentException>(() => MethodCatalog.Default.With(new MaximumSequenceProbabilityMethod())).Message);
    }

    [Fact]
    public void The_default_method_list_keeps_its_recorded_order()
    {
        // run.json records the list; a resumed run compares it, so the order is part of the catalog's contract.
        Assert.Equal("msp,mean_logprob,mean_entropy,max_entropy,min_token_prob", MethodCatalog.Default.DefaultNames);
    }

    [Fact]
    public void The_default_registry_resolves_every_method_whose_statistics_are_built_in()
    {
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var builtIn = MethodCatalog.Default.Methods.Where(m => m.Descriptor.Needs is null).Select(m => m.Descriptor.Name).ToList();
        Assert.Equal(builtIn, registry.Resolve(builtIn).Select(e => e.Name));
        // A method that needs something loaded says what.
        Assert.Contains("needs a probe file", Assert.Throws<ArgumentException>(() => registry.Resolve("probe")).Message);
        Assert.Contains("needs a LoRA query adapter", Assert.Throws<ArgumentException>(() => registry.Resolve("lora_query")).Message);
    }

    [Fact]
    public void Statistics_bring_their_dependencies_into_the_plan()
    {
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var planned = registry.WithDependencies([StatisticNames.VerbalNumericResponse, SampleStatisticNames.SampleRelevance]);
        Assert.Equal(
            new[] { StatisticNames.GreedyGeneration, StatisticNames.VerbalNumericResponse, SampleStatisticNames.Samples, SampleStatisticNames.SampleRelevance }.Order(),
            planned.Order());
    }

    [Fact]
    public void Mean_pairwise_dissimilarity_is_one_minus_the_mean_similarity_of_distinct_pairs()
    {
        var s = new SquareMatrix(3);
        double[,] v = { { 1, 0.8, 0.2 }, { 0.6, 1, 0.4 }, { 0.2, 0.4, 1 } };
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) s[i, j] = v[i, j];
        Assert.Equal(1 - (0.8 + 0.2 + 0.6 + 0.4 + 0.2 + 0.4) / 6, MeanPairwiseDissimilarityMethod.Compute(s), 12);
        // Written through DegMat (1 − Σ_ij S_ij / K², diagonal included): the off-diagonal mass is K²(1 − degmat) − trace.
        double offDiagonal = 9 * (1 - GraphUncertainty.DegreeMatrix(s)) - 3;
        Assert.Equal(1 - offDiagonal / 6, MeanPairwiseDissimilarityMethod.Compute(s), 12);
        Assert.Equal(0, MeanPairwiseDissimilarityMethod.Compute(new SquareMatrix(1)));
    }

    [Fact]
    public void Each_consumer_offers_the_methods_whose_statistics_it_can_fill()
    {
        // Sensitivity re-scores from samples + similarity; the server from a request's choices (plus relevance).
        Assert.Contains(Proof, SensitivityAnalysis.Methods);
        Assert.DoesNotContain("sar", SensitivityAnalysis.Methods);
        Assert.DoesNotContain("msp", SensitivityAnalysis.Methods);
        Assert.Contains(Proof, UQEngine.Server.UncertaintyMethods.Consistency);
        Assert.Contains("sar", UQEngine.Server.UncertaintyMethods.Consistency);
        Assert.DoesNotContain("inv_entropy", UQEngine.Server.UncertaintyMethods.Consistency);
        Assert.False(SensitivityAnalysis.UsesThreshold(Proof));
        Assert.True(SensitivityAnalysis.UsesThreshold("semantic_entropy"));

        // The re-scorer runs the catalog's estimator on the cached matrix.
        var cached = new CachedSamples(1.0, ["a", "b", "c"], [-1, -2, -3], [[1, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, 1]]);
        Assert.Equal(MeanPairwiseDissimilarityMethod.Compute(cached.Matrix(3)), SensitivityAnalysis.Score(Proof, cached, 3, 0.5, new SampleSettings()), 12);
        Assert.Equal(1 - 0.5, SensitivityAnalysis.Score(Proof, cached, 2, 0.5, new SampleSettings()), 12);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void The_proof_method_runs_in_eval_with_the_samples_shared()
    {
        using var dir = new TempDirectory();
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var settings = new SampleSettings { Samples = 3, Similarity = SimilarityBackend.RougeL, MaxTokens = 4 };
        SampleMethods.Register(registry, settings);
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(settings.ContextOptionsFor(new ContextOptions { ContextSize = 512 }, model.Facts));
        using var generator = new Generator(context);
        var data = JsonlDatasetReader.Parse(new StringReader("""{"id":"o1","question":"Who wrote Hamlet?","answer":"Shakespeare"}"""), "t.jsonl", "t");
        var run = new EvaluationRunner(generator, registry).Run(data, new EvaluationRunOptions
        {
            OutputFolder = dir.Path, Methods = [Proof, "degmat"], Seed = 3, BootstrapResamples = 10, Statistics = new StatisticSettings { AnswerMaxTokens = 4 },
        });
        var item = Assert.Single(run.Items);
        Assert.InRange(item.Methods[Proof].Uncertainty, 0, 1);
        Assert.Equal(1, run.Summary.Timing.Statistics[SampleStatisticNames.Samples].Items); // sampled once for both methods
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task The_proof_method_is_offered_by_generate_and_the_server()
    {
        var (code, stdout, stderr) = UqengineProcess.Run(TimeSpan.FromMinutes(2), "generate", "Hello", "-m", TestModels.SyntheticPath, "-n", "4", "--json",
            "--methods", $"{Proof},degmat", "--sample-count", "3", "--similarity", "rouge-l");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout))
        {
            var methods = json.RootElement.GetProperty("methods").EnumerateArray().Select(m => m.GetProperty("method").GetString()).ToList();
            Assert.Equal([Proof, "degmat"], methods);
        }

        {
            await using var server = await LoopbackServer.StartAsync();
            var (status, body) = await server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "Once upon a time", max_tokens = 4, temperature = 1.5, seed = 3, n = 3, uncertainty = new[] { Proof } });
            Assert.Equal(200, status);
            var set = body.GetProperty("uncertainty_set");
            string[] texts = [.. body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()!)];
            double expected = MeanPairwiseDissimilarityMethod.Compute(SimilarityMatrix.Build(new RougeLSimilarity(), texts));
            Assert.Equal(expected, set.GetProperty("methods").GetProperty(Proof).GetProperty("uncertainty").GetDouble(), 12);
            Assert.Equal(expected, set.GetProperty(Proof).GetDouble(), 12); // the flat 0.1 field, kept one release
        }
    }
}
