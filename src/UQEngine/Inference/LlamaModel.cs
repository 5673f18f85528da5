using System.Text;
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
public sealed unsafe class LlamaModel : IDisposable
{
    private readonly SafeLlamaModelHandle _handle;

    private LlamaModel(SafeLlamaModelHandle handle, string path)
    {
        _handle = handle;
        Path = path;
        Vocabulary = new Vocabulary(this, LlamaNative.llama_model_get_vocab(handle));
        Facts = ReadFacts();
        ChatTemplate = ReadString(LlamaNative.llama_model_chat_template(handle, null));
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
        NativeLibraryLoader.UseBackend(options.Device);
        NativeLibraryLoader.EnsureLoaded();

        var p = LlamaNative.llama_model_default_params();
        p.GpuLayerCount = options.Device == NativeBackend.Cpu ? 0 : options.GpuLayers;
        p.LoadMode = options.UseMemoryMap ? LlamaLoadMode.Mmap : LlamaLoadMode.None;
        using var progress = options.Progress is null ? null : new LoadProgress(options.Progress);
        if (progress is not null)
        {
            p.ProgressCallback = (nint)(delegate* unmanaged<float, void*, byte>)&LoadProgress.OnProgress;
            p.ProgressCallbackUserData = (nint)progress.UserData;
        }

        NativeLogging.ClearRecentErrors();
        byte[] utf8 = Encoding.UTF8.GetBytes(System.IO.Path.GetFullPath(path) + "\0");
        nint raw;
        fixed (byte* pp = utf8) raw = LlamaNative.llama_model_load_from_file(pp, p);
        if (raw == IntPtr.Zero)
        {
            string why = NativeLogging.RecentErrorText();
            throw new InferenceException($"llama.cpp could not load '{path}'{(why.Length > 0 ? ": " + why : "")}");
        }
        return new LlamaModel(new SafeLlamaModelHandle(raw), path);
    }

    /// <summary>Creates a decoding context (KV cache, output buffers) on this model.</summary>
    public LlamaContext CreateContext(ContextOptions? options = null) => new(this, options ?? new ContextOptions());

    /// <summary>A metadata value as text, or null when absent.</summary>
    public string? Metadata(string key)
    {
        ThrowIfDisposed();
        byte[] k = Encoding.UTF8.GetBytes(key + "\0");
        Span<byte> buffer = stackalloc byte[512];
        fixed (byte* kp = k)
        fixed (byte* bp = buffer)
        {
            int n = LlamaNative.llama_model_meta_val_str(_handle, kp, bp, (nuint)buffer.Length);
            if (n < 0) return null;
            if (n < buffer.Length) return Encoding.UTF8.GetString(buffer[..n]);
            byte[] big = new byte[n + 1];
            fixed (byte* bb = big) LlamaNative.llama_model_meta_val_str(_handle, kp, bb, (nuint)big.Length);
            return Encoding.UTF8.GetString(big, 0, n);
        }
    }

    private ModelFacts ReadFacts()
    {
        Span<byte> desc = stackalloc byte[256];
        int dn;
        fixed (byte* d = desc) dn = LlamaNative.llama_model_desc(_handle, d, (nuint)desc.Length);
        return new ModelFacts(
            Path,
            Metadata("general.architecture") ?? "unknown",
            dn > 0 ? Encoding.UTF8.GetString(desc[..Math.Min(dn, desc.Length - 1)]) : "",
            LlamaNative.llama_model_n_layer(_handle),
            LlamaNative.llama_model_n_embd(_handle),
            LlamaNative.llama_model_n_head(_handle),
            LlamaNative.llama_model_n_head_kv(_handle),
            LlamaNative.llama_model_n_ctx_train(_handle),
            Vocabulary.Count,
            ReadString(LlamaNative.llama_ftype_name(LlamaNative.llama_model_ftype(_handle))) ?? "unknown",
            LlamaNative.llama_model_n_params(_handle),
            LlamaNative.llama_model_size(_handle),
            LlamaNative.llama_model_chat_template(_handle, null) != null);
    }

    internal static string? ReadString(byte* p) => p == null ? null : System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)p);

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_handle.IsClosed, this);

    public void Dispose() => _handle.Dispose();

    /// <summary>Bridges llama.cpp's load-progress callback to an IProgress through a GCHandle.</summary>
    private sealed class LoadProgress(IProgress<float> target) : IDisposable
    {
        private readonly IProgress<float> _target = target;
        private System.Runtime.InteropServices.GCHandle _self;
        public void* UserData
        {
            get
            {
                if (!_self.IsAllocated) _self = System.Runtime.InteropServices.GCHandle.Alloc(this);
                return (void*)System.Runtime.InteropServices.GCHandle.ToIntPtr(_self);
            }
        }

        [System.Runtime.InteropServices.UnmanagedCallersOnly]
        public static byte OnProgress(float progress, void* userData)
        {
            try
            {
                var self = (LoadProgress)System.Runtime.InteropServices.GCHandle.FromIntPtr((nint)userData).Target!;
                self._target.Report(progress);
            }
            catch { /* never throw into native code */ }
            return 1;
        }

        public void Dispose() { if (_self.IsAllocated) _self.Free(); }
    }
}
