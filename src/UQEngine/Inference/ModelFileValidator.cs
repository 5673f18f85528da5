namespace UQEngine.Inference;

/// <summary>Checks a model path with the managed GGUF reader before llama.cpp sees it.</summary>
internal static class ModelFileValidator
{
    public static void Validate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path)) throw new FileNotFoundException($"'{path}' is a directory, not a GGUF model file.", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"model file '{path}' does not exist.", path);
        // Full structural validation (header, metadata, tensor extents) by the GGUF reader; throws GgufFormatException.
        UQEngine.Gguf.GgufFile.Read(path);
    }
}
