using UQEngine.Gguf;

namespace UQEngine.Training;

/// <summary>
/// Quantized variants of any GGUF model, made by llama.cpp's quantizer on first use and cached by the source's
/// checksum (a changed source never reuses stale rungs). The rung whose type the source already has is the source.
/// </summary>
public static class ModelLadder
{
    /// <summary>The demo model's ladder: F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K.</summary>
    public static IReadOnlyList<QuantizationType> Demo => QuantizationType.Ladder;

    /// <summary>Where rungs go when no folder is given: the user's model cache (<see cref="ModelFiles.CacheDirectory"/>/models).</summary>
    public static string DefaultCacheDirectory => Path.Combine(ModelFiles.CacheDirectory, "models");

    /// <summary>"demo" or "all" → the whole ladder; otherwise a comma-separated list of types ("F16,Q8_0").</summary>
    public static IReadOnlyList<QuantizationType> Parse(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        string s = spec.Trim();
        if (s.Equals("demo", StringComparison.OrdinalIgnoreCase) || s.Equals("all", StringComparison.OrdinalIgnoreCase)) return Demo;
        return [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(QuantizationType.Parse).Distinct()];
    }

    /// <summary>Whether <see cref="Ensure"/> would have to quantize (the rung is neither the source nor cached).</summary>
    public static bool NeedsQuantizing(string source, QuantizationType type, string? cacheDirectory = null) =>
        !IsSourceType(source, type) && !File.Exists(CachedPath(source, type, cacheDirectory));

    /// <summary>The path of <paramref name="source"/> at <paramref name="type"/>, quantizing it on first use.</summary>
    public static string Ensure(string source, QuantizationType type, string? cacheDirectory = null, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (!File.Exists(source)) throw new FileNotFoundException($"the model to quantize, '{source}', does not exist", source);
        if (IsSourceType(source, type)) return source;
        string path = CachedPath(source, type, cacheDirectory);
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Written under a temporary name and renamed, so an interrupted run never leaves half a model in the cache.
        string temp = path + $".{Environment.ProcessId}.tmp";
        try
        {
            LlamaQuantizer.Quantize(source, temp, type, threads);
            File.Move(temp, path, overwrite: true);
        }
        finally { if (File.Exists(temp)) File.Delete(temp); }
        return path;
    }

    private static bool IsSourceType(string source, QuantizationType type) =>
        GgufModelFacts.Read(source) is { FileType: { } ft, FileTypeIsGuessed: false } && ft == type.FileType;

    private static string CachedPath(string source, QuantizationType type, string? cacheDirectory) =>
        Path.Combine(cacheDirectory ?? DefaultCacheDirectory, $"{Path.GetFileNameWithoutExtension(source)}-{ModelFiles.ShortSha256(source)}-{type.Name.ToLowerInvariant()}.gguf");
}
