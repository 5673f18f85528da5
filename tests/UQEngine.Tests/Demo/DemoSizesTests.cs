using UQEngine.Demo;
using UQEngine.Evaluation.Comparison;
using UQEngine.Inference;
using UQEngine.Gguf;
using UQEngine.Models;
using UQEngine.Training;

namespace UQEngine.Tests.Demo;

/// <summary>The built-in demo sizes: names, the size x quantization ladder, and the committed files.</summary>
public sealed class DemoSizesTests
{
    [Fact]
    public void The_size_ladder_parses_and_other_specs_are_left_to_the_plain_ladder()
    {
        Assert.Equal(QuantizationType.Ladder, DemoModels.ParseSizeLadder("demo-sizes"));
        Assert.Equal([QuantizationType.F16, QuantizationType.Q4_0, QuantizationType.Q2_K], DemoModels.ParseSizeLadder(" DEMO-SIZES:f16, q4_0 ,Q2_K "));
        Assert.Null(DemoModels.ParseSizeLadder("demo"));
        Assert.Null(DemoModels.ParseSizeLadder("F16,Q2_K"));
        Assert.Contains("names no quantization type", Assert.Throws<ArgumentException>(() => DemoModels.ParseSizeLadder("demo-sizes:")).Message);
        Assert.Contains("Q9_K", Assert.Throws<ArgumentException>(() => DemoModels.ParseSizeLadder("demo-sizes:F16,Q9_K")).Message);
    }

    [Fact]
    public void Model_ladders_label_each_size_and_rung_and_refuse_a_repeated_name()
    {
        var v = ComparisonVariant.ForModelLadders([("demo-tiny", "t.gguf"), ("demo", "d.gguf")], [QuantizationType.F16, QuantizationType.Q2_K], [ComparisonDevice.Cpu]);
        Assert.Equal(["demo-tiny F16 · cpu", "demo-tiny Q2_K · cpu", "demo F16 · cpu", "demo Q2_K · cpu"], v.Select(x => x.Label));
        Assert.Equal(["demo-tiny", "demo-tiny", "demo", "demo"], v.Select(x => x.Model));
        Assert.Equal("t.gguf", v[1].QuantizeFrom);
        Assert.Contains("named twice", Assert.Throws<ArgumentException>(() => ComparisonVariant.ForModelLadders([("a", "x"), ("A", "y")], [QuantizationType.F16], [ComparisonDevice.Cpu])).Message);
    }

    [Fact]
    public void Names_resolve_case_insensitively_and_a_file_or_unknown_name_is_left_alone()
    {
        Assert.Equal("demo-small", DemoModels.Size("Demo-Small")!.Name);
        Assert.Null(DemoModels.Size("demo-huge"));
        Assert.Null(BuiltInModels.Resolve("no-such-model.gguf"));
        Assert.Equal(["demo-tiny", "demo-small", "demo"], DemoModels.Sizes.Select(s => s.Name));
    }

    public static TheoryData<string> Sizes => [.. DemoModels.Sizes.Select(s => s.Name)];

    [Theory]
    [MemberData(nameof(Sizes))]
    [Trait("Category", "Integration")]
    public void Each_committed_size_matches_its_checksum_and_recipe_and_loads(string name)
    {
        var size = DemoModels.Size(name)!;
        string? path = DemoModels.FindModel(size);
        Assert.SkipWhen(path is null, $"{size.RelativeFolder}/{size.FileName} is not in this checkout");
        Assert.Equal(Path.GetFullPath(path!), Path.GetFullPath(BuiltInModels.Resolve(name)!));
        string folder = Path.GetDirectoryName(path!)!;
        string expected = File.ReadAllText(Path.Combine(folder, size.ChecksumFileName)).Split(' ')[0].Trim();
        Assert.Equal(expected, ModelFiles.Sha256(path!));
        Assert.True(new FileInfo(path!).Length <= 16 * 1024 * 1024);
        var recipe = DemoModels.LoadRecipe(folder);
        using var model = LlamaModel.Load(path!);
        Assert.Equal(recipe.EmbeddingLength, model.Facts.EmbeddingSize);
        Assert.Equal(recipe.LayerCount, model.Facts.LayerCount);
        Assert.True(model.Facts.HasChatTemplate);
        // The same world as the default demo model, so one dataset (demo:open:eval) serves every size.
        Assert.Equal(DemoWorld.Generate(DemoModels.LoadRecipe().World).Items.Select(i => (i.Id, i.Answer)), DemoWorld.Generate(recipe.World).Items.Select(i => (i.Id, i.Answer)));
    }
}
