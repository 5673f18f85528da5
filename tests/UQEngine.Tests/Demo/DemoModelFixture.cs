using UQEngine.Demo;
using UQEngine.Inference;
using UQEngine.Models;

namespace UQEngine.Tests.Demo;

/// <summary>The committed demo model (models/demo in the checkout) when there is one; tests that need it skip otherwise.</summary>
public sealed class DemoModelFixture : IDisposable
{
    public DemoModelFixture()
    {
        Folder = DemoModels.FindFolder();
        if (Folder is null) return;
        Path = System.IO.Path.Combine(Folder, DemoModels.FileName);
        Recipe = DemoModels.LoadRecipe(Folder);
        World = DemoWorld.Generate(Recipe.World);
        Model = LlamaModel.Load(Path);
    }

    public bool Available => Model is not null;
    public string? Folder { get; }
    public string? Path { get; }
    public DemoRecipe? Recipe { get; }
    public DemoWorld? World { get; }
    public LlamaModel? Model { get; }

    public void Dispose() => Model?.Dispose();
}

/// <summary>
/// The demo recipe's world and vocabulary in an untrained 256-wide llama (one layer, seeded random weights): enough
/// for llama.cpp's tokenizer and quantizer, and independent of whether a trained model is committed.
/// </summary>
public sealed class DemoVocabularyFixture : IDisposable
{
    private readonly UQEngine.Tests.Gguf.TempDirectory _dir = new();

    public DemoVocabularyFixture()
    {
        Recipe = new DemoRecipe();
        World = DemoWorld.Generate(Recipe.World);
        Vocabulary = DemoModelBuilder.BuildVocabulary(Recipe, World);
        Path = _dir.File("demo-vocabulary-f32.gguf");
        var options = DemoModelBuilder.ExportOptions(Recipe, Vocabulary) with
        {
            Hyperparameters = Recipe.Hyperparameters(Vocabulary.Count) with { LayerCount = 1, FeedForwardLength = 256 },
        };
        var random = new Random(5);
        LlamaGgufExporter.Write(Path, options, (tensor, destination) =>
        {
            if (tensor.IsVector) { destination.Fill(1f); return; }
            for (int i = 0; i < destination.Length; i++) destination[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
        });
        Model = LlamaModel.Load(Path);
    }

    public DemoRecipe Recipe { get; }
    public DemoWorld World { get; }
    public ByteLevelBpeVocabulary Vocabulary { get; }
    public string Path { get; }
    public LlamaModel Model { get; }
    public string TempDirectory => _dir.Path;

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}
