using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>
/// Owns a llama_adapter_lora* (a LoRA adapter loaded against one model). Holds a reference on the model handle, so
/// the model cannot be freed first: the adapter's tensors are shaped for, and registered with, that model.
/// Unset it from every context (<see cref="SafeLlamaContextHandle.SetAdapter"/> with null) before disposing it.
/// </summary>
public sealed unsafe class SafeLlamaAdapterHandle : SafeHandle
{
    private SafeLlamaModelHandle? _model;
    private bool _modelRefAdded;

    public SafeLlamaAdapterHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>llama_adapter_lora_init; an invalid handle when llama.cpp refused the file (its log says why).</summary>
    internal static SafeLlamaAdapterHandle Load(SafeLlamaModelHandle model, string fullPath)
    {
        var adapter = new SafeLlamaAdapterHandle();
        bool added = false;
        model.DangerousAddRef(ref added);
        try
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(fullPath + "\0");
            nint raw;
            fixed (byte* p = utf8) raw = LlamaNative.llama_adapter_lora_init(model, p);
            if (raw == IntPtr.Zero) return adapter;
            adapter.SetHandle(raw);
            adapter._model = model;
            adapter._modelRefAdded = added;
            added = false;
            return adapter;
        }
        finally
        {
            if (added) model.DangerousRelease();
        }
    }

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_adapter_lora_free(handle);
        if (_modelRefAdded) _model!.DangerousRelease();
        return true;
    }

    /// <summary>Every metadata key of the adapter file that llama.cpp kept (scalar values, as text).</summary>
    internal IReadOnlyDictionary<string, string> Metadata()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        int n = LlamaNative.llama_adapter_meta_count(this);
        for (int i = 0; i < n; i++)
        {
            string? key = ReadText(i, null);
            if (key is null) continue;
            string? value = ReadText(-1, key);
            if (value is not null) result[key] = value;
        }
        return result;
    }

    // The key at index (key == null) or the value of key. llama.cpp returns snprintf's count: the full length even
    // when the buffer was too small, so one retry at that size.
    private string? ReadText(int index, string? key)
    {
        byte[] k = Encoding.UTF8.GetBytes((key ?? "") + "\0");
        byte[] buffer = new byte[256];
        for (int attempt = 0; attempt < 2; attempt++)
        {
            int n;
            fixed (byte* b = buffer)
            fixed (byte* kp = k)
                n = key is null
                    ? LlamaNative.llama_adapter_meta_key_by_index(this, index, b, (nuint)buffer.Length)
                    : LlamaNative.llama_adapter_meta_val_str(this, kp, b, (nuint)buffer.Length);
            if (n < 0) return null;
            if (n < buffer.Length) return Encoding.UTF8.GetString(buffer, 0, n);
            buffer = new byte[n + 1];
        }
        return null;
    }

    /// <summary>The activated-LoRA invocation tokens (adapter.alora.invocation_tokens); empty for a plain LoRA.</summary>
    internal int[] InvocationTokens()
    {
        ulong n = LlamaNative.llama_adapter_get_alora_n_invocation_tokens(this);
        if (n == 0) return [];
        return new ReadOnlySpan<int>(LlamaNative.llama_adapter_get_alora_invocation_tokens(this), checked((int)n)).ToArray();
    }

}
