namespace UQEngine.Gguf;

/// <summary>
/// A file is not a GGUF file that the bundled llama.cpp could load safely. The message starts with the
/// file path and names the exact problem, e.g. "model.gguf: truncated: tensor 'output.weight' data ends at byte ...".
/// </summary>
public sealed class GgufFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="filePath"/>; <paramref name="problem"/> is the text after the path.</summary>
    public GgufFormatException(string filePath, string problem, long? fileOffset = null, Exception? innerException = null)
        : base($"{filePath}: {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
        FileOffset = fileOffset;
    }

    /// <summary>The path as the caller gave it.</summary>
    public string FilePath { get; }

    /// <summary>The problem without the path prefix.</summary>
    public string Problem { get; }

    /// <summary>Byte position in the file where the problem was found, when one applies.</summary>
    public long? FileOffset { get; }
}
