using UQEngine.Gguf;
using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// A GGUF LoRA adapter loaded by llama.cpp against one <see cref="LlamaModel"/> (<see cref="LoraAdapterFile"/> writes
/// them). The base weights stay untouched: a context applies it only while <see cref="LlamaContext.SetAdapter"/> has
/// it set. The adapter keeps its model alive; dispose it after unsetting it from every context.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    private readonly SafeLlamaAdapterHandle _handle;

    private LoraAdapter(SafeLlamaAdapterHandle handle, LlamaModel model, string path, GgufFile file)
    {
        _handle = handle;
        Model = model;
        Path = path;
        File = file;
        Metadata = handle.Metadata();
        InvocationTokens = handle.InvocationTokens();
    }

    public LlamaModel Model { get; }
    public string Path { get; }

    /// <summary>The adapter file as the managed GGUF reader sees it (typed metadata, tensors).</summary>
    public GgufFile File { get; }

    /// <summary>The scalar metadata llama.cpp kept (llama_adapter_meta_*), values as text.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Activated-LoRA invocation tokens as llama.cpp read them (llama_adapter_get_alora_invocation_tokens); empty for a plain LoRA.</summary>
    public IReadOnlyList<int> InvocationTokens { get; }

    internal SafeLlamaAdapterHandle Handle => _handle;

    /// <summary>
    /// Loads <paramref name="path"/> on <paramref name="model"/>. A missing file, a GGUF that is not a LoRA adapter or
    /// one llama.cpp refuses (another architecture, a tensor the model lacks, a wrong shape) is an exception naming the file.
    /// </summary>
    public static LoraAdapter Load(LlamaModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        model.ThrowIfDisposed();
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"LoRA adapter '{path}' does not exist.", path);
        var file = GgufFile.Read(path); // structure first: a damaged file is a GgufFormatException, never a native fault
        if (!LoraAdapterFile.IsLoraAdapter(file))
            throw new InferenceException($"'{path}' is not a LoRA adapter ({LoraAdapterFile.TypeKey} must be \"adapter\" and {LoraAdapterFile.AdapterTypeKey} \"lora\")");
        NativeLogging.ClearRecentErrors();
        var handle = SafeLlamaAdapterHandle.Load(model.Handle, System.IO.Path.GetFullPath(path));
        if (handle.IsInvalid)
        {
            string why = NativeLogging.RecentErrorText();
            throw new InferenceException($"llama.cpp could not load the LoRA adapter '{path}' on '{model.Path}'{(why.Length > 0 ? ": " + why : "")}");
        }
        return new LoraAdapter(handle, model, path, file);
    }

    public bool IsDisposed => _handle.IsClosed;

    public void Dispose() => _handle.Dispose();
}
