using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: DisableRuntimeMarshalling]

namespace UQEngine.Native;

/// <summary>
/// The llama.cpp C API (release v0.5.0), declared with source-generated LibraryImport. Nothing outside
/// UQEngine.Native calls these directly: the Inference and Training layers go through the handle types and wrappers here.
/// Pointers to llama.cpp objects are raw here; ownership lives in the SafeHandle types.
/// </summary>
internal static unsafe partial class LlamaNative
{
    internal const string Llama = "llama";
    internal const string Ggml = "ggml";

    static LlamaNative() => NativeLibraryLoader.EnsureLoaded();

    // --- backend ---
    [LibraryImport(Llama, EntryPoint = "llama_backend_init")] internal static partial void llama_backend_init();
    [LibraryImport(Llama, EntryPoint = "llama_print_system_info")] internal static partial byte* llama_print_system_info();
    [LibraryImport(Llama, EntryPoint = "llama_log_set")] internal static partial void llama_log_set(delegate* unmanaged<GgmlLogLevel, byte*, void*, void> callback, void* userData);
    [LibraryImport(Llama, EntryPoint = "llama_supports_gpu_offload")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool llama_supports_gpu_offload();
    [LibraryImport(Llama, EntryPoint = "llama_model_default_params")] internal static partial LlamaModelParams llama_model_default_params();
    [LibraryImport(Llama, EntryPoint = "llama_context_default_params")] internal static partial LlamaContextParams llama_context_default_params();
    [LibraryImport(Llama, EntryPoint = "llama_sampler_chain_default_params")] internal static partial LlamaSamplerChainParams llama_sampler_chain_default_params();
    /// <summary>A tensor's name (ggml.h, in libggml-base); the graph-node callback finds the node to stop after by it.</summary>
    [LibraryImport(GgmlBase, EntryPoint = "ggml_get_name")] internal static partial byte* ggml_get_name(nint tensor);
    // Reading a graph node's data from the eval callback (LayerInputCapture): size, layout, and a copy from any backend (ggml_nbytes: LlamaNative.Training).
    [LibraryImport(GgmlBase, EntryPoint = "ggml_nelements")] internal static partial long ggml_nelements(nint tensor);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_is_contiguous")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool ggml_is_contiguous(nint tensor);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_backend_tensor_get")] internal static partial void ggml_backend_tensor_get(nint tensor, void* data, nuint offset, nuint size);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_load_all_from_path")] internal static partial void ggml_backend_load_all_from_path(byte* dirPath);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_count")] internal static partial nuint ggml_backend_dev_count();
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_get")] internal static partial nint ggml_backend_dev_get(nuint index);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_name")] internal static partial byte* ggml_backend_dev_name(nint device);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_description")] internal static partial byte* ggml_backend_dev_description(nint device);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_type")] internal static partial int ggml_backend_dev_type(nint device);
    [LibraryImport(Ggml, EntryPoint = "ggml_backend_dev_memory")] internal static partial void ggml_backend_dev_memory(nint device, nuint* free, nuint* total);

    // --- model ---
    [LibraryImport(Llama, EntryPoint = "llama_model_load_from_file")] internal static partial nint llama_model_load_from_file(byte* path, LlamaModelParams parameters);
    [LibraryImport(Llama, EntryPoint = "llama_model_free")] internal static partial void llama_model_free(nint model);
    [LibraryImport(Llama, EntryPoint = "llama_model_get_vocab")] internal static partial nint llama_model_get_vocab(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_ctx_train")] internal static partial int llama_model_n_ctx_train(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_embd")] internal static partial int llama_model_n_embd(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_embd_out")] internal static partial int llama_model_n_embd_out(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_layer")] internal static partial int llama_model_n_layer(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_head")] internal static partial int llama_model_n_head(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_head_kv")] internal static partial int llama_model_n_head_kv(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_n_params")] internal static partial ulong llama_model_n_params(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_size")] internal static partial ulong llama_model_size(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_model_ftype")] internal static partial int llama_model_ftype(SafeLlamaModelHandle model);
    [LibraryImport(Llama, EntryPoint = "llama_ftype_name")] internal static partial byte* llama_ftype_name(int ftype);
    [LibraryImport(Llama, EntryPoint = "llama_model_desc")] internal static partial int llama_model_desc(SafeLlamaModelHandle model, byte* buffer, nuint size);
    [LibraryImport(Llama, EntryPoint = "llama_model_meta_val_str")] internal static partial int llama_model_meta_val_str(SafeLlamaModelHandle model, byte* key, byte* buffer, nuint size);
    [LibraryImport(Llama, EntryPoint = "llama_model_chat_template")] internal static partial byte* llama_model_chat_template(SafeLlamaModelHandle model, byte* name);
    [LibraryImport(Llama, EntryPoint = "llama_model_has_encoder")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool llama_model_has_encoder(SafeLlamaModelHandle model);

    // --- vocabulary ---
    [LibraryImport(Llama, EntryPoint = "llama_vocab_n_tokens")] internal static partial int llama_vocab_n_tokens(nint vocab);
    [LibraryImport(Llama, EntryPoint = "llama_vocab_bos")] internal static partial int llama_vocab_bos(nint vocab);
    [LibraryImport(Llama, EntryPoint = "llama_vocab_eos")] internal static partial int llama_vocab_eos(nint vocab);
    [LibraryImport(Llama, EntryPoint = "llama_vocab_is_eog")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool llama_vocab_is_eog(nint vocab, int token);
    [LibraryImport(Llama, EntryPoint = "llama_vocab_get_add_bos")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool llama_vocab_get_add_bos(nint vocab);
    [LibraryImport(Llama, EntryPoint = "llama_vocab_type")] internal static partial int llama_vocab_type(nint vocab);
    [LibraryImport(Llama, EntryPoint = "llama_tokenize")] internal static partial int llama_tokenize(nint vocab, byte* text, int textLength, int* tokens, int maxTokens, [MarshalAs(UnmanagedType.U1)] bool addSpecial, [MarshalAs(UnmanagedType.U1)] bool parseSpecial);
    [LibraryImport(Llama, EntryPoint = "llama_token_to_piece")] internal static partial int llama_token_to_piece(nint vocab, int token, byte* buffer, int length, int lstrip, [MarshalAs(UnmanagedType.U1)] bool special);
    [LibraryImport(Llama, EntryPoint = "llama_chat_apply_template")] internal static partial int llama_chat_apply_template(byte* template, LlamaChatMessage* chat, nuint messageCount, [MarshalAs(UnmanagedType.U1)] bool addAssistant, byte* buffer, int length);

    // --- context ---
    [LibraryImport(Llama, EntryPoint = "llama_init_from_model")] internal static partial nint llama_init_from_model(SafeLlamaModelHandle model, LlamaContextParams parameters);
    [LibraryImport(Llama, EntryPoint = "llama_free")] internal static partial void llama_free(nint context);
    [LibraryImport(Llama, EntryPoint = "llama_n_ctx")] internal static partial uint llama_n_ctx(SafeLlamaContextHandle context);
    [LibraryImport(Llama, EntryPoint = "llama_n_batch")] internal static partial uint llama_n_batch(SafeLlamaContextHandle context);
    [LibraryImport(Llama, EntryPoint = "llama_n_seq_max")] internal static partial uint llama_n_seq_max(SafeLlamaContextHandle context);
    [LibraryImport(Llama, EntryPoint = "llama_decode")] internal static partial int llama_decode(SafeLlamaContextHandle context, LlamaBatch batch);
    [LibraryImport(Llama, EntryPoint = "llama_get_logits_ith")] internal static partial float* llama_get_logits_ith(SafeLlamaContextHandle context, int index);
    [LibraryImport(Llama, EntryPoint = "llama_get_embeddings_ith")] internal static partial float* llama_get_embeddings_ith(SafeLlamaContextHandle context, int index);
    [LibraryImport(Llama, EntryPoint = "llama_get_embeddings_seq")] internal static partial float* llama_get_embeddings_seq(SafeLlamaContextHandle context, int sequence);
    [LibraryImport(Llama, EntryPoint = "llama_pooling_type")] internal static partial LlamaPoolingType llama_pooling_type(SafeLlamaContextHandle context);
    [LibraryImport(Llama, EntryPoint = "llama_set_embeddings")] internal static partial void llama_set_embeddings(SafeLlamaContextHandle context, [MarshalAs(UnmanagedType.U1)] bool embeddings);
    [LibraryImport(Llama, EntryPoint = "llama_set_n_threads")] internal static partial void llama_set_n_threads(SafeLlamaContextHandle context, int threads, int batchThreads);
    [LibraryImport(Llama, EntryPoint = "llama_set_abort_callback")] internal static partial void llama_set_abort_callback(SafeLlamaContextHandle context, delegate* unmanaged<void*, byte> callback, void* data);
    [LibraryImport(Llama, EntryPoint = "llama_get_memory")] internal static partial nint llama_get_memory(SafeLlamaContextHandle context);
    [LibraryImport(Llama, EntryPoint = "llama_memory_clear")] internal static partial void llama_memory_clear(nint memory, [MarshalAs(UnmanagedType.U1)] bool data);
    [LibraryImport(Llama, EntryPoint = "llama_memory_seq_rm")] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool llama_memory_seq_rm(nint memory, int sequence, int p0, int p1);
    [LibraryImport(Llama, EntryPoint = "llama_memory_seq_cp")] internal static partial void llama_memory_seq_cp(nint memory, int source, int destination, int p0, int p1);
    [LibraryImport(Llama, EntryPoint = "llama_memory_seq_pos_max")] internal static partial int llama_memory_seq_pos_max(nint memory, int sequence);

    // Per-layer inputs are exported only under their C++ (Itanium-mangled) names in this release.
    [LibraryImport(Llama, EntryPoint = "_Z30llama_set_embeddings_layer_inpP13llama_contextjb")] internal static partial void llama_set_embeddings_layer_inp(SafeLlamaContextHandle context, uint layer, [MarshalAs(UnmanagedType.U1)] bool enable);
    [LibraryImport(Llama, EntryPoint = "_Z30llama_get_embeddings_layer_inpP13llama_contextj")] internal static partial float* llama_get_embeddings_layer_inp(SafeLlamaContextHandle context, uint layer);

    // --- samplers ---
    [LibraryImport(Llama, EntryPoint = "llama_sampler_chain_init")] internal static partial nint llama_sampler_chain_init(LlamaSamplerChainParams parameters);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_chain_add")] internal static partial void llama_sampler_chain_add(SafeLlamaSamplerHandle chain, nint sampler);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_greedy")] internal static partial nint llama_sampler_init_greedy();
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_dist")] internal static partial nint llama_sampler_init_dist(uint seed);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_temp")] internal static partial nint llama_sampler_init_temp(float temperature);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_top_k")] internal static partial nint llama_sampler_init_top_k(int k);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_top_p")] internal static partial nint llama_sampler_init_top_p(float p, nuint minKeep);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_min_p")] internal static partial nint llama_sampler_init_min_p(float p, nuint minKeep);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_sample")] internal static partial int llama_sampler_sample(SafeLlamaSamplerHandle sampler, SafeLlamaContextHandle context, int index);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_accept")] internal static partial void llama_sampler_accept(SafeLlamaSamplerHandle sampler, int token);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_reset")] internal static partial void llama_sampler_reset(SafeLlamaSamplerHandle sampler);
    /// <summary>A grammar (GBNF) sampler; null when the grammar does not parse (llama.cpp logs why).</summary>
    [LibraryImport(Llama, EntryPoint = "llama_sampler_init_grammar")] internal static partial nint llama_sampler_init_grammar(nint vocab, byte* grammar, byte* root);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_apply")] internal static partial void llama_sampler_apply(SafeLlamaSamplerHandle sampler, LlamaTokenDataArray* candidates);
    [LibraryImport(Llama, EntryPoint = "llama_sampler_free")] internal static partial void llama_sampler_free(nint sampler);
}
