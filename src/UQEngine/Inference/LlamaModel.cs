using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>Facts about a loaded model, as llama.cpp reports them.</summary>
public sealed record ModelFacts(
    string Path,
    string Architecture,
    string Description,
    int LayerCount,
    int EmbeddingSize,
    int HeadCount,
    int KvHeadCount,
    int TrainingContext,
    int VocabularySize,
    string FileType,
    ulong ParameterCount,
    ulong SizeBytes,
    bool HasChatTemplate);

/// <summary>
/// A GGUF model loaded by llama.cpp. Thread-safe for reading facts and tokenizing; create one
/// <see cref="LlamaContext"/> per concurrent decoding loop. The file is validated by the managed GGUF reader
/// before llama.cpp opens it, so a bad file is a clear exception, never a native crash.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly SafeLlamaModelHandle _handle;

    private LlamaModel(SafeLlamaModelHandle handle, string path)
    {
        _handle = handle;
        Path = path;
        Vocabulary = new Vocabulary(this, handle.GetVocab());
        Facts = ReadFacts();
        ChatTemplate = handle.ChatTemplate();
        // llama.cpp reads "{arch}.attention.causal" (default true): an encoder such as BERT attends both ways and its
        // graph ends in hidden states, with no language-model head; its "logits" are an untouched buffer.
        IsEmbeddingModel = Metadata(Facts.Architecture + ".attention.causal") is { } causal && causal.Trim().Equals("false", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// True for an embedding model (non-causal attention, e.g. the bert architecture): it gives hidden states and
    /// pooled embeddings but no next-token logits, so it cannot generate or score text.
    /// </summary>
    public bool IsEmbeddingModel { get; }

    /// <summary>Throws when this model has no next-token logits (<see cref="IsEmbeddingModel"/>), naming what to use it for instead.</summary>
    internal void ThrowIfNoLogits(string what)
    {
        if (IsEmbeddingModel)
            throw new InferenceException($"'{Path}' is an embedding model ({Facts.Architecture}, non-causal attention): it has no next-token logits, so it cannot {what}; use it for embeddings (--embedding-model, GgufTextEmbedder).");
    }

    public string Path { get; }
    public ModelFacts Facts { get; }
    public Vocabulary Vocabulary { get; }

    /// <summary>The model's own chat template (tokenizer.chat_template), or null.</summary>
    public string? ChatTemplate { get; }

    internal SafeLlamaModelHandle Handle => _handle;

    /// <summary>Loads a GGUF model. Throws FileNotFoundException, GgufFormatException or InferenceException with the file named.</summary>
    public static LlamaModel Load(string path, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        ModelFileValidator.Validate(path);
        if (options.IsolatedCheck)
        {
            var check = IsolatedModelChecker.CheckOnce(path, new IsolatedCheckOptions { Model = options with { IsolatedCheck = false } });
            if (!check.Passed) throw new InferenceException(check.Message);
        }

        return LoadValidated(path, options);
    }

    /// <summary>Loads without the managed checks: for files already validated, and for the isolated checker's crash tests.</summary>
    internal static LlamaModel LoadValidated(string path, ModelOptions options)
    {
        NativeLibraryLoader.UseBackend(options.Device);
        NativeLibraryLoader.EnsureLoaded();

        var p = SafeLlamaModelHandle.DefaultParams();
        p.GpuLayerCount = options.Device == NativeBackend.Cpu ? 0 : options.GpuLayers;
        p.LoadMode = options.UseMemoryMap ? LlamaLoadMode.Mmap : LlamaLoadMode.None;

        NativeLogging.ClearRecentErrors();
        var handle = SafeLlamaModelHandle.LoadFromFile(System.IO.Path.GetFullPath(path), p, options.Progress);
        if (handle.IsInvalid)
        {
            string why = NativeLogging.RecentErrorText();
            throw new InferenceException($"llama.cpp could not load '{path}'{(why.Length > 0 ? ": " + why : "")}");
        }
        return new LlamaModel(handle, path);
    }

    /// <summary>Creates a decoding context (KV cache, output buffers) on this model.</summary>
    public LlamaContext CreateContext(ContextOptions? options = null) => new(this, options ?? new ContextOptions());

    /// <summary>A metadata value as text, or null when absent.</summary>
    public string? Metadata(string key)
    {
        ThrowIfDisposed();
        return _handle.MetadataValue(key);
    }

    private ModelFacts ReadFacts() => new(
        Path,
        Metadata("general.architecture") ?? "unknown",
        _handle.Description(),
        _handle.LayerCount,
        _handle.EmbeddingSize,
        _handle.HeadCount,
        _handle.KvHeadCount,
        _handle.TrainingContextLength,
        Vocabulary.Count,
        _handle.FileTypeName() ?? "unknown",
        _handle.ParameterCount,
        _handle.SizeBytes,
        _handle.HasChatTemplate());

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_handle.IsClosed, this);

    public void Dispose() => _handle.Dispose();
}
