using UQEngine.Methods;
using UQEngine.Demo;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Training;

namespace UQEngine.Tests.Demo;

/// <summary>The committed demo model: intact, the default model, knows what it saw often and not what it never saw.</summary>
[Trait("Category", "Integration")]
public sealed class DemoModelTests(DemoModelFixture demo, DemoVocabularyFixture untrained) : IClassFixture<DemoModelFixture>, IClassFixture<DemoVocabularyFixture>
{
    private const string NoModel = "no trained demo model is committed (models/demo/uqengine-demo-f16.gguf); see models/README.md";

    [Fact]
    public void The_committed_model_matches_its_checksum_and_is_at_most_16_MB()
    {
        Assert.SkipUnless(demo.Available, NoModel);
        string expected = File.ReadAllText(Path.Combine(demo.Folder!, DemoModels.ChecksumFileName)).Split(' ')[0].Trim();
        Assert.Equal(expected, ModelFiles.Sha256(demo.Path!));
        Assert.True(new FileInfo(demo.Path!).Length <= 16 * 1024 * 1024);
        var facts = GgufModelFacts.From(GgufFile.Read(demo.Path!));
        Assert.Equal("llama", facts.Architecture);
        Assert.Equal(0UL, facts.EmbeddingLength!.Value % 256); // so every K-quant applies
        Assert.True(facts.HasChatTemplate);
    }

    [Fact]
    public void The_default_model_is_the_demo_model_when_the_checkout_has_it()
    {
        Assert.SkipUnless(demo.Available, NoModel);
        Assert.Equal(Path.GetFullPath(demo.Path!), Path.GetFullPath(BuiltInModels.DefaultModelPath()));
    }

    [Fact]
    public void Knows_facts_seen_often_and_not_facts_never_seen()
    {
        Assert.SkipUnless(demo.Available, NoModel);
        var items = demo.World!.EvaluationItems.Where(i => i.Family == DemoFamily.Recall).ToList();
        var often = items.Where(i => i.Exposure >= 16).Take(16).ToList();
        var never = items.Where(i => i.Exposure == 0).Take(16).ToList();
        using var evaluator = new DemoEvaluator(demo.Model!, demo.Recipe!.World.OptionCount);
        double oftenAccuracy = evaluator.Evaluate(often).Average(r => r.OpenCorrect ? 1.0 : 0.0);
        double neverAccuracy = evaluator.Evaluate(never).Average(r => r.OpenCorrect ? 1.0 : 0.0);
        Assert.True(oftenAccuracy - neverAccuracy >= 0.5, $"held-out questions: {oftenAccuracy:P0} right on facts seen >= 16x per epoch, {neverAccuracy:P0} on facts never seen");
        Assert.True(neverAccuracy <= 0.35, $"{neverAccuracy:P0} right on facts never seen: the model cannot know them");
    }

    [Fact]
    public void Is_more_confident_about_facts_seen_often_than_about_facts_never_seen()
    {
        Assert.SkipUnless(demo.Available, NoModel);
        var items = demo.World!.EvaluationItems.Where(i => i.Family == DemoFamily.Recall).ToList();
        using var evaluator = new DemoEvaluator(demo.Model!, demo.Recipe!.World.OptionCount);
        double often = evaluator.Evaluate(items.Where(i => i.Exposure >= 16).Take(16)).Average(r => r.OpenConfidence);
        double never = evaluator.Evaluate(items.Where(i => i.Exposure == 0).Take(16)).Average(r => r.OpenConfidence);
        Assert.True(often > never, $"mean answer probability {often:F2} (seen often) vs {never:F2} (never seen)");
    }

    [Theory]
    [InlineData("Q4_K_M")]
    [InlineData("Q2_K")]
    public void Quantized_variants_of_the_committed_model_still_know_its_best_known_facts(string type)
    {
        Assert.SkipUnless(demo.Available, NoModel);
        using var dir = new UQEngine.Tests.Gguf.TempDirectory();
        string path = DemoModels.Variant(QuantizationType.Parse(type), demo.Path, dir.Path);
        Assert.Equal(QuantizationType.Parse(type).FileType, GgufModelFacts.From(GgufFile.Read(path)).FileType);
        using var model = LlamaModel.Load(path);
        using var evaluator = new DemoEvaluator(model, demo.Recipe!.World.OptionCount);
        var items = demo.World!.EvaluationItems.Where(i => i.Family == DemoFamily.Recall);
        double seen = evaluator.Evaluate(items.Where(i => i.Exposure == 32).Take(12)).Average(r => r.OpenCorrect ? 1.0 : 0.0);
        double never = evaluator.Evaluate(items.Where(i => i.Exposure == 0).Take(12)).Average(r => r.OpenCorrect ? 1.0 : 0.0);
        Assert.True(seen - never >= 0.5, $"{type}: {seen:P0} right on facts seen 32x per epoch, {never:P0} on facts never seen");
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_K_M")]
    public void Quantized_variants_load_and_answer(string type)
    {
        // A 256-wide model with the demo vocabulary (the committed model's shape class), so every K-quant applies.
        using var dir = new UQEngine.Tests.Gguf.TempDirectory();
        string path = DemoModels.Variant(QuantizationType.Parse(type), untrained.Path, dir.Path);
        var facts = GgufModelFacts.From(GgufFile.Read(path));
        Assert.Equal(QuantizationType.Parse(type).FileType, facts.FileType);
        Assert.True(facts.FileSize < new FileInfo(untrained.Path).Length / 3);
        using var model = LlamaModel.Load(path);
        var item = untrained.World.EvaluationItems.First();
        using var evaluator = new DemoEvaluator(model, untrained.Recipe.World.OptionCount);
        var result = evaluator.Evaluate(item);
        Assert.Contains(result.ChoiceLetter, "ABCDEFGHIJ");
        Assert.InRange(result.ChoiceConfidence, 0.0, 1.0);
    }
}
