using UQEngine.Models;

namespace UQEngine.Benchmarks;

/// <summary>
/// The synthetic llama the decoding benchmarks run: 256 wide, 4 layers, 768-wide feed-forward, F32, seed 11, with a
/// 32000-token vocabulary unless told otherwise. Written into a fresh temp folder that the caller deletes.
/// </summary>
internal static class BenchModel
{
    public static string Write(out string folder, int vocabulary = 32000)
    {
        folder = Directory.CreateTempSubdirectory("uqengine-bench-").FullName;
        string path = Path.Combine(folder, "bench.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions
        {
            OutputPath = path, Seed = 11, VocabularySize = vocabulary,
            EmbeddingLength = 256, LayerCount = 4, HeadCount = 4, HeadCountKv = 4, FeedForwardLength = 768, ContextLength = 1024,
        });
        return path;
    }
}
