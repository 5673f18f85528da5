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
        var file = UQEngine.Gguf.GgufFile.Read(path);
        // Semantic validation against llama.cpp's limits (hyperparameters, tensor types, vocabulary): files that
        // would make llama.cpp abort or crash the process are refused here with every problem listed.
        UQEngine.Gguf.GgufModelValidator.Validate(file);
    }
}
