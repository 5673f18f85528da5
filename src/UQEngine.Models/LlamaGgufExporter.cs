using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>Fills <paramref name="destination"/> (length = the tensor's element count) with the tensor's weights in ggml order.</summary>
public delegate void LlamaWeightSource(LlamaTensorSpec tensor, Span<float> destination);

/// <summary>What to write in a llama-architecture GGUF besides the weights.</summary>
public sealed record LlamaGgufExportOptions
{
    /// <summary>Model shape; <see cref="LlamaHyperparameters.VocabularySize"/> must equal the vocabulary's size.</summary>
    public required LlamaHyperparameters Hyperparameters { get; init; }

    public required ByteLevelBpeVocabulary Vocabulary { get; init; }

    /// <summary>"general.name".</summary>
    public string ModelName { get; init; } = "uqengine-llama";

    /// <summary>Storage type of the matrices: F32, F16 or BF16. Norm vectors always stay F32, as in llama.cpp's converters.</summary>
    public GgmlType MatrixType { get; init; } = GgmlType.F32;

    /// <summary>"tokenizer.ggml.pre"; must be a pre-tokenizer name the bundled llama.cpp knows.</summary>
    public string PreTokenizer { get; init; } = "gpt-2";

    /// <summary>"tokenizer.chat_template"; null writes none.</summary>
    public string? ChatTemplate { get; init; } = ByteLevelBpeVocabulary.ChatMlTemplate;

    /// <summary>Whether llama.cpp should prepend the BOS token when tokenizing with special tokens.</summary>
    public bool AddBosToken { get; init; }
}

/// <summary>
/// Writes a llama-architecture GGUF (metadata from <see cref="LlamaGgufLayout"/> and a byte-level BPE
/// vocabulary, weights from a callback) that the bundled llama.cpp loads.
/// </summary>
public static class LlamaGgufExporter
{
    /// <summary>
    /// Writes the model to <paramref name="path"/>. <paramref name="weights"/> is called once per tensor in
    /// <see cref="LlamaGgufLayout.Tensors"/> order.
    /// </summary>
    /// <exception cref="ArgumentException">Options are inconsistent, or a weight is NaN, infinite, or too large for F16 storage.</exception>
    public static void Write(string path, LlamaGgufExportOptions options, LlamaWeightSource weights)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(weights);
        if (options.Hyperparameters.VocabularySize != options.Vocabulary.Count)
        {
            throw new ArgumentException($"VocabularySize {options.Hyperparameters.VocabularySize} differs from the vocabulary's {options.Vocabulary.Count} tokens.", nameof(options));
        }

        uint fileType = options.MatrixType switch
        {
            GgmlType.F32 => LlamaFileType.AllF32,
            GgmlType.F16 => LlamaFileType.MostlyF16,
            GgmlType.BF16 => LlamaFileType.MostlyBF16,
            _ => throw new ArgumentException($"MatrixType must be F32, F16 or BF16, not {options.MatrixType}.", nameof(options)),
        };

        var layout = new LlamaGgufLayout(options.Hyperparameters);
        using var writer = new GgufWriter(path);
        writer.AddMetadata("general.architecture", GgufValue.FromString(LlamaGgufLayout.Architecture));
        writer.AddMetadata("general.type", GgufValue.FromString("model"));
        writer.AddMetadata("general.name", GgufValue.FromString(options.ModelName));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(fileType));
        foreach (var (key, value) in layout.ArchitectureMetadata())
        {
            writer.AddMetadata(key, value);
        }

        foreach (var (key, value) in options.Vocabulary.TokenizerMetadata(options.PreTokenizer, addBosToken: options.AddBosToken, chatTemplate: options.ChatTemplate))
        {
            writer.AddMetadata(key, value);
        }

        int largest = 0;
        foreach (var tensor in layout.Tensors)
        {
            writer.AddTensor(tensor.Name, tensor.IsVector ? GgmlType.F32 : options.MatrixType, tensor.Dimensions.AsSpan());
            largest = Math.Max(largest, tensor.ElementCount);
        }

        // One buffer sized for the largest tensor serves every callback.
        var buffer = new float[largest];
        foreach (var tensor in layout.Tensors)
        {
            var values = buffer.AsSpan(0, tensor.ElementCount);
            values.Clear();
            weights(tensor, values);
            float limit = !tensor.IsVector && options.MatrixType == GgmlType.F16 ? (float)Half.MaxValue : float.MaxValue;
            int bad = IndexOfUnrepresentable(values, limit);
            if (bad >= 0)
            {
                throw new ArgumentException($"Tensor '{tensor.Name}' has weight {values[bad]} at index {bad}, which is not finite in {(limit == float.MaxValue ? "f32" : "f16")}.", nameof(weights));
            }

            writer.WriteTensorData(values);
        }

        writer.Complete();
    }

    private static int IndexOfUnrepresentable(ReadOnlySpan<float> values, float limit)
    {
        for (int i = 0; i < values.Length; i++)
        {
            // Written so that NaN fails the test too.
            if (!(Math.Abs(values[i]) <= limit))
            {
                return i;
            }
        }

        return -1;
    }
}
