using UQEngine.Models;

namespace UQEngine.Tests;

/// <summary>Models the tests make themselves (no downloads): written once per test run into a temp folder.</summary>
internal static class TestModels
{
    private static readonly Lazy<string> Folder = new(() => Directory.CreateTempSubdirectory("uqengine-tests-").FullName);
    private static readonly Lazy<string> Synthetic = new(() =>
    {
        string path = Path.Combine(Folder.Value, "synthetic.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = path, Seed = 7 });
        return path;
    });

    /// <summary>The default synthetic llama (64 wide, 2 layers, 314-token BPE vocabulary, ChatML template).</summary>
    public static string SyntheticPath => Synthetic.Value;

    public static string TempFile(string name) => Path.Combine(Folder.Value, name);
}
