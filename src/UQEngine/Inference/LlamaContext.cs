using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// A decoding context: the KV cache for up to <see cref="MaxSequences"/> sequences and the output buffers of the
/// last <see cref="Decode"/>. Not thread-safe: one decoding loop drives it. Spans it returns point into
/// llama.cpp's buffers and stay valid until the next Decode.
/// </summary>
public sealed class LlamaContext : IDisposable
{
    // Architectures whose llama.cpp v0.5.0 graph records per-layer inputs; enabling them elsewhere aborts the process.
    private static readonly HashSet<string> LayerInputArchitectures =
    [
        "llama", "qwen3", "qwen3moe", "qwen3next", "qwen35", "qwen35moe", "qwen4exp", "gemma4", "gpt-oss", "lfm2",
        "minimax-01", "minimax-m2", "nemotron_h", "bailingmoe3", "hunyuan_vl", "nanbeige", "muse-glimmer", "deepseek4",
    ];

    // Architectures whose graphs record none but name their nodes as the capture expects ("embd", "inp_scaled",
    // "l_out-i"; checked by the family conformance tests): their layer inputs are read from the graph (LayerInputCapture).
    private static readonly HashSet<string> CapturedLayerInputArchitectures = ["qwen2", "gemma2", "gemma3", "phi3"];

    private readonly SafeLlamaContextHandle _handle;
    private readonly LlamaMemory _memory;
    // The abort flag and the graph-node (early-exit) state, pinned where llama.cpp's callbacks read them.
    private readonly LlamaContextCallbacks _callbacks = new();
    private readonly int[] _hiddenLayers;
    private readonly LayerInputCapture? _capture;
    private int _lastBatchTokens;
    // The last decode stopped before the LM head (DecodeSkippingLogits): its logits buffer holds stale numbers.
    private bool _logitsSkipped;
    // Per sequence, a stamp that changes whenever its cells may have changed (decode, copy, remove, clear): lets a
    // caller that left a sequence in the cache (CachedSequence) tell later whether it is still as it left it.
    private readonly long[] _sequenceVersions;
    private long _versionClock;

    internal LlamaContext(LlamaModel model, ContextOptions options)
    {
        model.ThrowIfDisposed();
        Model = model;
        var facts = model.Facts;
        if (options.MaxSequences < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxSequences must be at least 1");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be at least 1");
        foreach (int layer in options.HiddenLayers)
            if (layer < 0 || layer >= facts.LayerCount)
                throw new ArgumentOutOfRangeException(nameof(options), $"hidden layer {layer} is outside 0..{facts.LayerCount - 1} for '{model.Path}'");
        if (options.HiddenLayers.Count > 0 && !ExposesLayerInputs(facts.Architecture))
            throw new InferenceException($"per-layer hidden states are not available for architecture '{facts.Architecture}' in llama.cpp v0.5.0; the final hidden state is (ContextOptions.FinalHiddenState).");
        if (options.HiddenLayers.Count > 0 && (options.CaptureLayerInputs || !LayerInputArchitectures.Contains(facts.Architecture)))
            _capture = new LayerInputCapture(options.HiddenLayers, facts.EmbeddingSize);

        // A context asking for neither pooled nor per-token states gives only logits, which an embedding model lacks.
        if (options.Pooling is null && !options.FinalHiddenState && options.HiddenLayers.Count == 0) model.ThrowIfNoLogits("give next-token logits");
        if (options.Pooling is not null && options.FinalHiddenState)
            throw new ArgumentException("ContextOptions.Pooling and FinalHiddenState exclude each other: llama.cpp keeps either pooled or per-token outputs", nameof(options));
        // llama.cpp v0.5.0 reserves the pooling graph with BatchSize / MaxSequences tokens per sequence and aborts the
        // process (ggml_can_mul_mat) when that does not divide evenly: refuse it here.
        if (options.Pooling is not null && options.BatchSize % options.MaxSequences != 0)
            throw new ArgumentException($"with pooling, MaxSequences ({options.MaxSequences}) must divide BatchSize ({options.BatchSize}); llama.cpp v0.5.0 aborts otherwise", nameof(options));

        int contextSize = options.ContextSize > 0 ? options.ContextSize : Math.Min(4096, Math.Max(facts.TrainingContext, 256));
        int threads = options.Threads > 0 ? options.Threads : ContextOptions.DefaultThreads;
        var p = SafeLlamaContextHandle.DefaultParams();
        p.ContextSize = (uint)contextSize;
        p.BatchSize = (uint)options.BatchSize;
        p.MicroBatchSize = (uint)Math.Min(options.BatchSize, 512);
        p.MaxSequences = (uint)options.MaxSequences;
        p.MaxOutputsPerSequence = 0; // no cap: teacher-forced scoring wants logits at every position of a sequence
        // Every token of a batch may ask for output (answer encoding across sequences); llama.cpp reserves at least one per sequence.
        p.MaxOutputs = (uint)Math.Max(options.BatchSize, options.MaxSequences);
        p.Threads = threads;
        p.BatchThreads = threads;
        p.KvUnified = options.UnifiedKvCache ? (byte)1 : (byte)0;
        p.Embeddings = options.FinalHiddenState || options.Pooling is not null ? (byte)1 : (byte)0;
        p.PoolingType = options.Pooling switch
        {
            SequencePooling.Model => LlamaPoolingType.Unspecified,
            SequencePooling.Mean => LlamaPoolingType.Mean,
            SequencePooling.Cls => LlamaPoolingType.Cls,
            SequencePooling.Last => LlamaPoolingType.Last,
            _ => options.FinalHiddenState ? LlamaPoolingType.None : LlamaPoolingType.Unspecified,
        };
        if (options.Pooling is not null) p.MicroBatchSize = (uint)options.BatchSize; // a pooled sequence must sit in one micro-batch
        _callbacks.Install(ref p, earlyExit: options.EarlyExit && (options.HiddenLayers.Count > 0 || options.FinalHiddenState), _capture);

        NativeLogging.ClearRecentErrors();
        _handle = SafeLlamaContextHandle.Create(model.Handle, p);
        if (_handle.IsInvalid)
            throw Failed(new InferenceException($"llama.cpp could not create a context ({contextSize} tokens, {options.MaxSequences} sequences) for '{model.Path}': {NativeLogging.RecentErrorText()}"));
        _memory = _handle.GetMemory();
        _hiddenLayers = [.. options.HiddenLayers.Distinct().Order()];
        if (_capture is null)
            foreach (int layer in _hiddenLayers) _handle.SetLayerInputRecording((uint)layer, true);

        Options = options;
        ContextSize = (int)_handle.ContextSize;
        BatchSize = (int)_handle.BatchSize;
        MaxSequences = (int)_handle.MaxSequences;
        _sequenceVersions = new long[MaxSequences];
        VocabularySize = model.Vocabulary.Count;
        HiddenSize = model.Facts.EmbeddingSize;
        if (options.Pooling is not null)
        {
            var pooling = _handle.PoolingType;
            if (pooling is LlamaPoolingType.None or LlamaPoolingType.Unspecified)
            {
                // The model declares no pooling (a generative model): mean pooling is the documented fallback.
                _handle.Dispose();
                p.PoolingType = LlamaPoolingType.Mean;
                _handle = SafeLlamaContextHandle.Create(model.Handle, p);
                if (_handle.IsInvalid) throw Failed(new InferenceException($"llama.cpp could not create a mean-pooling context for '{model.Path}': {NativeLogging.RecentErrorText()}"));
                _memory = _handle.GetMemory();
                pooling = LlamaPoolingType.Mean;
            }
            if (pooling == LlamaPoolingType.Rank)
            {
                _handle.Dispose();
                throw Failed(new InferenceException($"'{model.Path}' is a reranker (rank pooling): it scores pairs and gives no sentence embeddings"));
            }
            PoolingType = pooling;
        }
    }

    // A constructor that throws after installing the callbacks frees what they hold.
    private InferenceException Failed(InferenceException error)
    {
        _callbacks.Release();
        return error;
    }

    /// <summary>Whether per-layer inputs (<see cref="ContextOptions.HiddenLayers"/>) can be read for this architecture: recorded by llama.cpp v0.5.0, or read from its graph.</summary>
    public static bool ExposesLayerInputs(string architecture) =>
        LayerInputArchitectures.Contains(architecture) || CapturedLayerInputArchitectures.Contains(architecture);

    /// <summary>The pooling llama.cpp applies (None without <see cref="ContextOptions.Pooling"/>).</summary>
    public LlamaPoolingType PoolingType { get; } = LlamaPoolingType.None;

    public LlamaModel Model { get; }
    public ContextOptions Options { get; }
    public int ContextSize { get; }
    public int BatchSize { get; }
    public int MaxSequences { get; }
    public int VocabularySize { get; }
    public int HiddenSize { get; }
    public IReadOnlyList<int> HiddenLayers => _hiddenLayers;

    /// <summary>Whether this context gives a hidden state: the input of <paramref name="layer"/>, or (null) the final state.</summary>
    public bool ExposesHiddenState(int? layer) => layer is int l ? Array.BinarySearch(_hiddenLayers, l) >= 0 : Options.FinalHiddenState;

    /// <summary>Tokens decoded and time spent inside llama_decode since creation (or <see cref="DecodeCounters.Reset"/>).</summary>
    public DecodeCounters Counters { get; } = new();

    /// <summary>
    /// Runs the model on a batch. Throws <see cref="OperationCanceledException"/> if cancelled mid-decode and
    /// <see cref="InferenceException"/> when the KV cache is full or the batch is invalid.
    /// </summary>
    public void Decode(LlamaBatchBuffer batch, CancellationToken cancellationToken = default)
    {
        if (!TryDecode(batch, cancellationToken))
            throw new InferenceException($"the KV cache is full ({ContextSize} tokens across {MaxSequences} sequence(s)); use a larger context size or shorter inputs.");
    }

    /// <summary>As <see cref="Decode"/>, but returns false (instead of throwing) when the KV cache has no room for the batch.</summary>
    public bool TryDecode(LlamaBatchBuffer batch, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (batch.Count == 0) throw new ArgumentException("batch is empty", nameof(batch));
        cancellationToken.ThrowIfCancellationRequested();
        _callbacks.ClearAbort();
        _capture?.Reset();
        int rc;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        NativeLogging.ClearRecentErrors();
        using (_callbacks.AbortOn(cancellationToken))
            rc = _handle.Decode(batch);
        _lastBatchTokens = rc == 0 ? batch.Count : 0;
        _logitsSkipped = false;
        if (rc == 0)
            for (int i = 0; i < batch.Count; i++)
                foreach (int s in batch.SequencesOf(i)) Touch(s);
        else TouchAll(); // a failed or aborted decode may have rolled cells back
        if (rc == 0) Counters.Record(batch.Count, batch.OutputCount, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        switch (rc)
        {
            case 0: return true;
            case 1: return false;
            case 2: throw new OperationCanceledException("decoding was cancelled", cancellationToken);
            default: throw new InferenceException($"llama_decode failed with code {rc}: {NativeLogging.RecentErrorText()}");
        }
    }

    /// <summary>
    /// Decodes a batch that asks for no output only as far as the input of <paramref name="layer"/> (one of
    /// <see cref="HiddenLayers"/>): ggml's scheduler stops once that state is computed, so the later layers cost
    /// nothing. Afterwards only <see cref="GetLayerHiddenState"/> at that layer is valid, and these tokens' KV cells
    /// hold keys and values of the layers below it only: the caller must remove them before anything attends to them
    /// in a full decode. Returns false when the graph ran in full instead (layer 0, a context created without
    /// <see cref="ContextOptions.EarlyExit"/>, or no node of the expected name); the states are then valid all the same.
    /// </summary>
    public bool DecodeThroughLayer(LlamaBatchBuffer batch, int layer, CancellationToken cancellationToken = default)
    {
        if (Array.BinarySearch(_hiddenLayers, layer) < 0) throw new InvalidOperationException($"layer {layer} was not requested in ContextOptions.HiddenLayers");
        if (batch.OutputCount != 0) throw new ArgumentException("a batch decoded through a layer must ask for no output (its logits would not be computed)", nameof(batch));
        if (layer == 0 || !Options.EarlyExit) { Decode(batch, cancellationToken); return false; }
        // llama.cpp names each layer's output "l_out-<i>": the input of layer i is the output of layer i - 1.
        _callbacks.ArmStopAfter($"l_out-{layer - 1}");
        bool stopped = false;
        try { Decode(batch, cancellationToken); }
        finally { stopped = _callbacks.Disarm(); }
        return stopped;
    }

    /// <summary>
    /// Decodes a batch whose output rows are read for their final hidden states only: ggml's scheduler stops once
    /// the output norm (what <see cref="GetFinalHiddenState"/> reads) is computed, so the LM head, a
    /// vocabulary-wide product per output row, is skipped. Every layer runs, so the KV cells are complete. The
    /// batch's logits are not computed: <see cref="GetLogits"/> refuses them until the next full decode. Returns
    /// false when the graph ran in full instead (a context without <see cref="ContextOptions.EarlyExit"/>, or no
    /// node of that name); the states are valid either way.
    /// </summary>
    public bool DecodeSkippingLogits(LlamaBatchBuffer batch, CancellationToken cancellationToken = default)
    {
        if (!Options.FinalHiddenState) throw new InvalidOperationException("DecodeSkippingLogits gives final hidden states: create the context with ContextOptions.FinalHiddenState");
        if (!Options.EarlyExit) { Decode(batch, cancellationToken); return false; }
        _callbacks.ArmStopAfter(FinalStateNode);
        bool stopped = false;
        try { Decode(batch, cancellationToken); }
        finally { stopped = _callbacks.Disarm(); }
        _logitsSkipped = stopped;
        return stopped;
    }

    // The output norm, the state llama_get_embeddings_ith returns: llama.cpp names it "result_norm", and with
    // embeddings on (FinalHiddenState) its pooling step renames that same tensor (pooling none: no new node).
    private const string FinalStateNode = "result_embd_pooled";

    /// <summary>
    /// Results of the early-exit self-check per layer (AnswerEncoder runs it once per context and layer); the final
    /// state's check (<see cref="DecodeSkippingLogits"/>) is kept under the layer count, the input of the layer that
    /// would follow the last.
    /// </summary>
    internal Dictionary<int, bool> EarlyExitChecks { get; } = [];

    /// <summary>The logits (one per vocabulary entry) of the batch token at <paramref name="batchIndex"/>, which must have asked for output.</summary>
    public ReadOnlySpan<float> GetLogits(int batchIndex)
    {
        CheckIndex(batchIndex);
        if (_logitsSkipped) throw new InvalidOperationException("the last decode skipped the LM head (DecodeSkippingLogits): it computed no logits");
        if (!_handle.TryGetLogits(batchIndex, VocabularySize, out var logits))
            throw new InferenceException($"no logits at batch index {batchIndex}: that token did not request output");
        return logits;
    }

    /// <summary>The final hidden state (after the output norm) at a batch index. Needs <see cref="ContextOptions.FinalHiddenState"/>.</summary>
    public ReadOnlySpan<float> GetFinalHiddenState(int batchIndex)
    {
        if (!Options.FinalHiddenState) throw new InvalidOperationException("this context was created without FinalHiddenState");
        CheckIndex(batchIndex);
        if (!_handle.TryGetEmbeddings(batchIndex, HiddenSize, out var state))
            throw new InferenceException($"no hidden state at batch index {batchIndex}: that token did not request output");
        return state;
    }

    /// <summary>
    /// The pooled embedding of a sequence's tokens in the last decoded batch (only the tokens of that batch: a
    /// sequence must be decoded in one batch). Needs <see cref="ContextOptions.Pooling"/>.
    /// </summary>
    public ReadOnlySpan<float> GetSequenceEmbedding(int sequence)
    {
        if (Options.Pooling is null) throw new InvalidOperationException("this context was created without ContextOptions.Pooling");
        CheckSequence(sequence);
        if (_lastBatchTokens == 0) throw new InvalidOperationException("no batch has been decoded");
        if (!_handle.TryGetSequenceEmbedding(sequence, HiddenSize, out var embedding))
            throw new InferenceException($"no pooled embedding for sequence {sequence}: it had no tokens in the last batch");
        return embedding;
    }

    /// <summary>The hidden state entering <paramref name="layer"/> for the token at <paramref name="batchIndex"/> (any token, output or not).</summary>
    public ReadOnlySpan<float> GetLayerHiddenState(int layer, int batchIndex)
    {
        if (Array.BinarySearch(_hiddenLayers, layer) < 0) throw new InvalidOperationException($"layer {layer} was not requested in ContextOptions.HiddenLayers");
        CheckIndex(batchIndex);
        return _capture is not null ? _capture.Row(layer, batchIndex) : _handle.GetLayerInput((uint)layer, batchIndex, HiddenSize);
    }

    private void CheckIndex(int batchIndex)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if ((uint)batchIndex >= (uint)_lastBatchTokens)
            throw new ArgumentOutOfRangeException(nameof(batchIndex), $"batch index {batchIndex} is outside the last decoded batch (0..{_lastBatchTokens - 1})");
    }

    // --- LoRA adapters ---

    /// <summary>The adapter the next decodes apply, or null (the base model alone).</summary>
    public LoraAdapter? Adapter { get; private set; }

    /// <summary>
    /// Applies <paramref name="adapter"/> at <paramref name="scale"/> to the decodes from now on, or none (null).
    /// Cells already in the KV cache keep what they were computed with: only later tokens see the change.
    /// </summary>
    public void SetAdapter(LoraAdapter? adapter, float scale = 1f)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (adapter is not null)
        {
            ObjectDisposedException.ThrowIf(adapter.IsDisposed, adapter);
            if (!ReferenceEquals(adapter.Model, Model)) throw new ArgumentException($"the adapter '{adapter.Path}' was loaded on '{adapter.Model.Path}', not on this context's model '{Model.Path}'", nameof(adapter));
            if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the adapter scale must be finite");
        }
        int code = _handle.SetAdapter(adapter?.Handle, scale);
        if (code != 0) throw new InferenceException($"llama.cpp refused to set the LoRA adapter '{adapter?.Path}' (code {code})");
        Adapter = adapter;
    }

    // --- KV cache ---

    /// <summary>Removes a sequence's cached tokens in [fromPosition, toPosition) (-1 = open end).</summary>
    public void RemoveTokens(int sequence, int fromPosition = -1, int toPosition = -1)
    {
        CheckSequence(sequence);
        _memory.RemoveTokens(sequence, fromPosition, toPosition);
        Touch(sequence);
    }

    /// <summary>Makes <paramref name="destination"/> share <paramref name="source"/>'s cached tokens in [from, to) (-1 = open end).</summary>
    public void CopySequence(int source, int destination, int fromPosition = -1, int toPosition = -1)
    {
        CheckSequence(source);
        CheckSequence(destination);
        _memory.CopySequence(source, destination, fromPosition, toPosition);
        Touch(destination);
    }

    /// <summary>Highest cached position of a sequence, or -1 when it is empty.</summary>
    public int LastPosition(int sequence)
    {
        CheckSequence(sequence);
        return _memory.LastPosition(sequence);
    }

    /// <summary>Empties the whole KV cache.</summary>
    public void ClearCache()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        _memory.Clear(data: true);
        TouchAll();
    }

    /// <summary>
    /// A stamp of a sequence's cache cells: it changes whenever they may have changed (a decode into the sequence, a
    /// copy into it, a removal, a clear), so an equal stamp later means the cells are as they were.
    /// </summary>
    public long SequenceVersion(int sequence)
    {
        CheckSequence(sequence);
        return _sequenceVersions[sequence];
    }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    private void Touch(int sequence)
    {
        if ((uint)sequence < (uint)_sequenceVersions.Length) _sequenceVersions[sequence] = ++_versionClock;
    }

    private void TouchAll()
    {
        long stamp = ++_versionClock;
        Array.Fill(_sequenceVersions, stamp);
    }

    private void CheckSequence(int sequence)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if ((uint)sequence >= (uint)MaxSequences) throw new ArgumentOutOfRangeException(nameof(sequence), $"sequence {sequence} is outside 0..{MaxSequences - 1}");
    }

    internal SafeLlamaContextHandle Handle => _handle;

    public void Dispose()
    {
        _handle.Dispose();
        _callbacks.Release(); // after the native context: nothing can call back any more
    }
}
