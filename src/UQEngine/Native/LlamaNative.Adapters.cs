using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>LoRA adapters (llama.h of release v0.5.0): load on a model, set on a context, read their metadata.</summary>
internal static unsafe partial class LlamaNative
{
    [LibraryImport(Llama, EntryPoint = "llama_adapter_lora_init")] internal static partial nint llama_adapter_lora_init(SafeLlamaModelHandle model, byte* path);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_lora_free")] internal static partial void llama_adapter_lora_free(nint adapter);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_meta_val_str")] internal static partial int llama_adapter_meta_val_str(SafeLlamaAdapterHandle adapter, byte* key, byte* buffer, nuint size);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_meta_count")] internal static partial int llama_adapter_meta_count(SafeLlamaAdapterHandle adapter);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_meta_key_by_index")] internal static partial int llama_adapter_meta_key_by_index(SafeLlamaAdapterHandle adapter, int index, byte* buffer, nuint size);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_get_alora_n_invocation_tokens")] internal static partial ulong llama_adapter_get_alora_n_invocation_tokens(SafeLlamaAdapterHandle adapter);
    [LibraryImport(Llama, EntryPoint = "llama_adapter_get_alora_invocation_tokens")] internal static partial int* llama_adapter_get_alora_invocation_tokens(SafeLlamaAdapterHandle adapter);

    /// <summary>Replaces the context's whole adapter set (n = 0: none); a scale of 0 leaves an adapter out of the graph. Returns 0 on success.</summary>
    [LibraryImport(Llama, EntryPoint = "llama_set_adapters_lora")] internal static partial int llama_set_adapters_lora(SafeLlamaContextHandle context, nint* adapters, nuint count, float* scales);
}
