using System.Text;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>
/// Settings of a <see cref="SyntheticLlamaModel"/>. The defaults give a ~110k-parameter model
/// (64 wide, 2 layers, 4 query and 2 key/value heads) that llama.cpp loads and runs in milliseconds.
/// </summary>
public sealed record SyntheticLlamaOptions
{
    /// <summary>Where to write the GGUF file (replaced if it exists).</summary>
    public required string OutputPath { get; init; }

    /// <summary>Seed of the weights; the same options give a byte-identical file.</summary>
    public ulong Seed { get; init; } = 1;

    public int EmbeddingLength { get; init; } = 64;
    public int LayerCount { get; init; } = 2;
    public int HeadCount { get; init; } = 4;
    public int HeadCountKv { get; init; } = 2;
    public int FeedForwardLength { get; init; } = 128;
    public int ContextLength { get; init; } = 512;

    /// <summary>Storage of the matrices: F32 (default), F16 or BF16.</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F32;

    /// <summary>Vocabulary size; null = the 314-token small English vocabulary. Larger sizes add generated merges.</summary>
    public int? VocabularySize { get; init; }

    /// <summary>"general.name".</summary>
    public string ModelName { get; init; } = "uqengine-synthetic-llama";

    /// <summary>
    /// The llama the decoding benchmarks and device checks run: 256 wide, 4 layers, 768-wide feed-forward, F32, seed 11,
    /// a 32000-token vocabulary unless told otherwise (one definition, so tokens/s in bench/ and `uqengine parity` compare).
    /// </summary>
    public static SyntheticLlamaOptions Benchmark(string outputPath, int vocabulary = 32000) => new()
    {
        OutputPath = outputPath, Seed = 11, VocabularySize = vocabulary,
        EmbeddingLength = 256, LayerCount = 4, HeadCount = 4, HeadCountKv = 4, FeedForwardLength = 768, ContextLength = 1024,
    };
}

/// <summary>
/// Writes a small llama-architecture GGUF with seeded random weights and a byte-level BPE vocabulary
/// (<see cref="ByteLevelBpeVocabulary.CreateSmallEnglish()"/>, ChatML chat template), for tests and demos
/// that need a real model llama.cpp can load without downloading one. Its output is noise, not language.
/// </summary>
public static class SyntheticLlamaModel
{
    /// <summary>Writes the model and returns the file as read back (which also validates it).</summary>
    public static GgufFile Write(SyntheticLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var vocabulary = options.VocabularySize is { } size ? ByteLevelBpeVocabulary.CreateSyntheticEnglish(size) : ByteLevelBpeVocabulary.CreateSmallEnglish();
        var hyperparameters = new LlamaHyperparameters
        {
            VocabularySize = vocabulary.Count,
            EmbeddingLength = options.EmbeddingLength,
            LayerCount = options.LayerCount,
            HeadCount = options.HeadCount,
            HeadCountKv = options.HeadCountKv,
            FeedForwardLength = options.FeedForwardLength,
            ContextLength = options.ContextLength,
        };

        var export = new LlamaGgufExportOptions
        {
            Hyperparameters = hyperparameters,
            Vocabulary = vocabulary,
            ModelName = options.ModelName,
            MatrixType = options.WeightType,
        };

        LlamaGgufExporter.Write(options.OutputPath, export, (tensor, destination) => FillRandom(options.Seed, tensor, destination));
        return GgufFile.Read(options.OutputPath);
    }

    /// <summary>
    /// Norm weights are 1; matrices are normal with standard deviation 1/sqrt(input width), which keeps
    /// activations and logits near unit scale, so next-token distributions are neither flat nor one-hot.
    /// Each tensor draws from its own stream (seed and tensor name), so changing the layer count leaves
    /// the other tensors' weights unchanged.
    /// </summary>
    private static void FillRandom(ulong seed, LlamaTensorSpec tensor, Span<float> destination)
    {
        if (tensor.IsVector)
        {
            destination.Fill(1f);
            return;
        }

        double standardDeviation = tensor.Role == LlamaTensorRole.TokenEmbedding ? 1.0 : 1.0 / Math.Sqrt(tensor.Dimensions[0]);
        var random = new SplitMix64Random(seed ^ StableHash(tensor.Name));
        random.FillNormal(destination, standardDeviation);
    }

    // FNV-1a over the UTF-8 name: stable across runs and .NET versions, unlike string.GetHashCode.
    internal static ulong StableHash(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
