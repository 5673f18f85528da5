using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// Owns a llama_context*. Holds a reference on its model handle so the model cannot be freed while a context
/// built on it is alive (llama.cpp requires the model to outlive every context).
/// </summary>
public sealed unsafe class SafeLlamaContextHandle : SafeHandle
{
    private SafeLlamaModelHandle? _model;
    private bool _modelRefAdded;
    private SafeLlamaAdapterHandle? _adapter; // set on this context; referenced so it is not freed while in use

    public SafeLlamaContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    /// <summary>llama_context_default_params.</summary>
    internal static LlamaContextParams DefaultParams() => LlamaNative.llama_context_default_params();

    internal static SafeLlamaContextHandle Create(SafeLlamaModelHandle model, LlamaContextParams parameters)
    {
        var context = new SafeLlamaContextHandle();
        bool added = false;
        model.DangerousAddRef(ref added);
        try
        {
            nint raw = LlamaNative.llama_init_from_model(model, parameters);
            if (raw == IntPtr.Zero) return context; // invalid; caller reports the error
            context.SetHandle(raw);
            context._model = model;
            context._modelRefAdded = added;
            added = false;
            return context;
        }
        finally
        {
            if (added) model.DangerousRelease();
        }
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_free(handle);
        _adapter?.DangerousRelease();
        if (_modelRefAdded) _model!.DangerousRelease();
        return true;
    }

    /// <summary>llama_n_ctx: the context size llama.cpp actually allocated (it may round the requested one up).</summary>
    internal uint ContextSize => LlamaNative.llama_n_ctx(this);
    internal uint BatchSize => LlamaNative.llama_n_batch(this);
    internal uint MaxSequences => LlamaNative.llama_n_seq_max(this);
    internal LlamaPoolingType PoolingType => LlamaNative.llama_pooling_type(this);

    /// <summary>The context's memory (KV cache).</summary>
    internal LlamaMemory GetMemory() => new(LlamaNative.llama_get_memory(this));

    /// <summary>
    /// llama_decode of the batch as it stands (no copy of its arrays). Returns llama.cpp's code: 0 = done,
    /// 1 = no KV cache room for the batch, 2 = aborted, other = error.
    /// </summary>
    internal int Decode(LlamaBatchBuffer batch) => LlamaNative.llama_decode(this, batch.Native);

    /// <summary>
    /// The logits of the last decode at <paramref name="batchIndex"/> as a span of <paramref name="count"/> floats
    /// over llama.cpp's own buffer (valid until the next decode); false when that token did not ask for output.
    /// llama.cpp asserts on an index outside the last batch: validate it first.
    /// </summary>
    internal bool TryGetLogits(int batchIndex, int count, out ReadOnlySpan<float> logits) =>
        Wrap(LlamaNative.llama_get_logits_ith(this, batchIndex), count, out logits);

    /// <summary>The output embedding (final hidden state) at a batch index, over llama.cpp's buffer; false when there is none.</summary>
    internal bool TryGetEmbeddings(int batchIndex, int count, out ReadOnlySpan<float> embeddings) =>
        Wrap(LlamaNative.llama_get_embeddings_ith(this, batchIndex), count, out embeddings);

    /// <summary>The pooled embedding of a sequence in the last decode, over llama.cpp's buffer; false when there is none.</summary>
    internal bool TryGetSequenceEmbedding(int sequence, int count, out ReadOnlySpan<float> embedding) =>
        Wrap(LlamaNative.llama_get_embeddings_seq(this, sequence), count, out embedding);

    /// <summary>Asks llama.cpp to record (or stop recording) the input of <paramref name="layer"/> in every decode.</summary>
    internal void SetLayerInputRecording(uint layer, bool enable) => LlamaNative.llama_set_embeddings_layer_inp(this, layer, enable);

    /// <summary>
    /// The recorded input of <paramref name="layer"/> for the token at <paramref name="batchIndex"/> of the last decode
    /// (<paramref name="hiddenSize"/> floats per token, over llama.cpp's buffer).
    /// </summary>
    internal ReadOnlySpan<float> GetLayerInput(uint layer, int batchIndex, int hiddenSize)
    {
        float* p = LlamaNative.llama_get_embeddings_layer_inp(this, layer);
        return new ReadOnlySpan<float>(p + (nint)batchIndex * hiddenSize, hiddenSize);
    }

    /// <summary>
    /// llama_set_adapters_lora with one adapter at <paramref name="scale"/>, or none (null). Holds a reference on the
    /// adapter while it is set, so it is freed only after it left this context. Returns llama.cpp's code (0 = done).
    /// </summary>
    internal int SetAdapter(SafeLlamaAdapterHandle? adapter, float scale)
    {
        if (adapter is null && _adapter is null) return 0;
        bool added = false;
        adapter?.DangerousAddRef(ref added);
        int code;
        if (adapter is null) code = LlamaNative.llama_set_adapters_lora(this, null, 0, null);
        else
        {
            nint raw = adapter.DangerousGetHandle();
            code = LlamaNative.llama_set_adapters_lora(this, &raw, 1, &scale);
        }
        if (code != 0) { if (added) adapter!.DangerousRelease(); return code; }
        _adapter?.DangerousRelease();
        _adapter = adapter;
        return 0;
    }

    private static bool Wrap(float* p, int count, out ReadOnlySpan<float> values)
    {
        if (p == null) { values = default; return false; }
        values = new ReadOnlySpan<float>(p, count);
        return true;
    }
}
