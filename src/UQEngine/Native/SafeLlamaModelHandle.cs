using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>Owns a llama_model*. Freed exactly once, by Dispose or by the finalizer.</summary>
public sealed unsafe class SafeLlamaModelHandle : SafeHandle
{
    public SafeLlamaModelHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    internal SafeLlamaModelHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaNative.llama_model_free(handle); return true; }

    /// <summary>llama_model_default_params.</summary>
    internal static LlamaModelParams DefaultParams() => LlamaNative.llama_model_default_params();

    /// <summary>
    /// llama_model_load_from_file on a full path, reporting load progress to <paramref name="progress"/> (through a
    /// GCHandle, for the duration of the load). Returns an invalid handle when llama.cpp could not load the file; the
    /// caller reports the error.
    /// </summary>
    internal static SafeLlamaModelHandle LoadFromFile(string fullPath, LlamaModelParams parameters, IProgress<float>? progress = null)
    {
        using var bridge = progress is null ? null : new LoadProgress(progress);
        if (bridge is not null)
        {
            parameters.ProgressCallback = (nint)(delegate* unmanaged<float, void*, byte>)&LoadProgress.OnProgress;
            parameters.ProgressCallbackUserData = (nint)bridge.UserData;
        }
        byte[] utf8 = Encoding.UTF8.GetBytes(fullPath + "\0");
        nint raw;
        fixed (byte* pp = utf8) raw = LlamaNative.llama_model_load_from_file(pp, parameters);
        return new SafeLlamaModelHandle(raw);
    }

    /// <summary>The model's vocabulary (llama_model_get_vocab): owned by the model, valid while it is.</summary>
    internal LlamaVocab GetVocab() => new(LlamaNative.llama_model_get_vocab(this));

    internal int TrainingContextLength => LlamaNative.llama_model_n_ctx_train(this);
    internal int EmbeddingSize => LlamaNative.llama_model_n_embd(this);
    internal int LayerCount => LlamaNative.llama_model_n_layer(this);
    internal int HeadCount => LlamaNative.llama_model_n_head(this);
    internal int KvHeadCount => LlamaNative.llama_model_n_head_kv(this);
    internal ulong ParameterCount => LlamaNative.llama_model_n_params(this);
    internal ulong SizeBytes => LlamaNative.llama_model_size(this);
    internal bool HasEncoder => LlamaNative.llama_model_has_encoder(this);

    /// <summary>The name of the model's file type (llama_ftype_name of llama_model_ftype), or null.</summary>
    internal string? FileTypeName() => ReadString(LlamaNative.llama_ftype_name(LlamaNative.llama_model_ftype(this)));

    /// <summary>llama_model_desc: a short description of the model ("" when llama.cpp writes nothing).</summary>
    internal string Description()
    {
        Span<byte> desc = stackalloc byte[256];
        int dn;
        fixed (byte* d = desc) dn = LlamaNative.llama_model_desc(this, d, (nuint)desc.Length);
        return dn > 0 ? Encoding.UTF8.GetString(desc[..Math.Min(dn, desc.Length - 1)]) : "";
    }

    /// <summary>The model's default chat template (tokenizer.chat_template), or null.</summary>
    internal string? ChatTemplate() => ReadString(LlamaNative.llama_model_chat_template(this, null));

    /// <summary>Whether the model has a default chat template.</summary>
    internal bool HasChatTemplate() => LlamaNative.llama_model_chat_template(this, null) != null;

    /// <summary>A metadata value as text (llama_model_meta_val_str), or null when absent.</summary>
    internal string? MetadataValue(string key)
    {
        byte[] k = Encoding.UTF8.GetBytes(key + "\0");
        Span<byte> buffer = stackalloc byte[512];
        fixed (byte* kp = k)
        fixed (byte* bp = buffer)
        {
            int n = LlamaNative.llama_model_meta_val_str(this, kp, bp, (nuint)buffer.Length);
            if (n < 0) return null;
            if (n < buffer.Length) return Encoding.UTF8.GetString(buffer[..n]);
            byte[] big = new byte[n + 1];
            fixed (byte* bb = big) LlamaNative.llama_model_meta_val_str(this, kp, bb, (nuint)big.Length);
            return Encoding.UTF8.GetString(big, 0, n);
        }
    }

    /// <summary>llama_model_save_to_file (llama.cpp's own GGUF writer) to a full path.</summary>
    internal void SaveToFile(string fullPath)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(fullPath + "\0");
        fixed (byte* p = utf8) LlamaNative.llama_model_save_to_file(this, p);
    }

    internal static string? ReadString(byte* p) => p == null ? null : Marshal.PtrToStringUTF8((nint)p);

    /// <summary>Bridges llama.cpp's load-progress callback to an IProgress through a GCHandle.</summary>
    private sealed class LoadProgress(IProgress<float> target) : IDisposable
    {
        private readonly IProgress<float> _target = target;
        private GCHandle _self;
        public void* UserData
        {
            get
            {
                if (!_self.IsAllocated) _self = GCHandle.Alloc(this);
                return (void*)GCHandle.ToIntPtr(_self);
            }
        }

        [UnmanagedCallersOnly]
        public static byte OnProgress(float progress, void* userData)
        {
            try
            {
                var self = (LoadProgress)GCHandle.FromIntPtr((nint)userData).Target!;
                self._target.Report(progress);
            }
            catch { /* never throw into native code */ }
            return 1;
        }

        public void Dispose() { if (_self.IsAllocated) _self.Free(); }
    }
}
