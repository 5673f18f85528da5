using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.Training;

/// <summary>A target of llama.cpp's quantizer: its llama_ftype and the name used in file names.</summary>
public sealed record QuantizationType(string Name, uint FileType, string Description)
{
    public static readonly QuantizationType F16 = new("F16", LlamaFileType.MostlyF16, "16-bit floats");
    public static readonly QuantizationType Q8_0 = new("Q8_0", 7, "8-bit, blocks of 32");
    public static readonly QuantizationType Q6_K = new("Q6_K", 18, "6-bit K-quant (super-blocks of 256)");
    public static readonly QuantizationType Q5_K_M = new("Q5_K_M", 17, "5-bit K-quant, some tensors at 6 bits");
    public static readonly QuantizationType Q4_K_M = new("Q4_K_M", 15, "4-bit K-quant, some tensors at 6 bits");
    public static readonly QuantizationType Q4_0 = new("Q4_0", 2, "4-bit, blocks of 32");
    public static readonly QuantizationType Q3_K_M = new("Q3_K_M", 12, "3-bit K-quant, some tensors at 4-5 bits");
    public static readonly QuantizationType Q2_K = new("Q2_K", 10, "2-bit K-quant, some tensors at 3-4 bits");

    /// <summary>The ladder from 16 bits down to 2, in order.</summary>
    public static IReadOnlyList<QuantizationType> Ladder { get; } = [F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K];

    public static QuantizationType Parse(string name) =>
        Ladder.FirstOrDefault(q => string.Equals(q.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown quantization '{name}'; known: {string.Join(", ", Ladder.Select(q => q.Name))}");
}

/// <summary>llama.cpp's model quantizer (llama_model_quantize): reads a GGUF, writes it with other tensor types.</summary>
public static class LlamaQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="input"/> (F32 or F16 weights) into <paramref name="output"/>. Metadata is copied.
    /// Tensors whose rows do not fit the type's block size are kept at a fallback type by llama.cpp itself.
    /// </summary>
    public static void Quantize(string input, string output, QuantizationType type, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(type);
        ModelFileValidator.Validate(input);
        NativeLibraryLoader.EnsureLoaded();
        string inputPath = Path.GetFullPath(input), outputPath = Path.GetFullPath(output);
        NativeLogging.ClearRecentErrors();
        uint rc = LlamaQuantize.Run(inputPath, outputPath, (int)type.FileType, threads);
        if (rc != 0) throw new InferenceException($"llama_model_quantize to {type.Name} failed (code {rc}): {NativeLogging.RecentErrorText()}");
    }
}
