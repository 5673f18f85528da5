using UQEngine.Demo;
using UQEngine.Inference;

namespace UQEngine.Tests.Demo;

/// <summary>The committed demo model (models/demo in the checkout), its recipe and world, loaded once per test class.</summary>
public sealed class DemoModelFixture : IDisposable
{
    public DemoModelFixture()
    {
        Folder = DemoModels.FindFolder() ?? throw new InvalidOperationException("models/demo/uqengine-demo-f16.gguf is not in this checkout");
        Path = System.IO.Path.Combine(Folder, DemoModels.FileName);
        Recipe = DemoModels.LoadRecipe(Folder);
        World = DemoWorld.Generate(Recipe.World);
        Model = LlamaModel.Load(Path);
    }

    public string Folder { get; }
    public string Path { get; }
    public DemoRecipe Recipe { get; }
    public DemoWorld World { get; }
    public LlamaModel Model { get; }

    public void Dispose() => Model.Dispose();
}
