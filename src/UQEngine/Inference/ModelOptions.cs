using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>How to load a model.</summary>
public sealed record ModelOptions
{
    /// <summary>cpu or cuda. Selects which llama.cpp build the process loads (once per process).</summary>
    public NativeBackend Device { get; init; } = NativeBackend.Cpu;

    /// <summary>Layers to offload to the GPU; -1 = all. Ignored on the CPU backend. Default: all on cuda.</summary>
    public int GpuLayers { get; init; } = -1;

    /// <summary>Memory-map the weights (fast load, shared pages). Default true.</summary>
    public bool UseMemoryMap { get; init; } = true;

    /// <summary>Reports load progress in [0, 1].</summary>
    public IProgress<float>? Progress { get; init; }

    /// <summary>
    /// For files of unknown origin: before loading here, load the file and decode one token in a child process
    /// (<see cref="IsolatedModelChecker"/>), so a file that makes llama.cpp abort or crash is an
    /// <see cref="InferenceException"/> naming the assertion instead of the end of this process. Costs one extra
    /// load in a new process. Default off.
    /// </summary>
    public bool IsolatedCheck { get; init; }
}

/// <summary>How to create a decoding context on a loaded model.</summary>
public sealed record ContextOptions
{
    /// <summary>Total KV-cache size in tokens (shared by all sequences when the cache is unified). 0 = min(4096, training context).</summary>
    public int ContextSize { get; init; }

    /// <summary>Most tokens submitted to one llama_decode call (prompt chunks are split to fit).</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Most sequences decoded together (samples, concurrent requests).</summary>
    public int MaxSequences { get; init; } = 1;

    /// <summary>The most sequences a llama.cpp v0.5.0 context takes (LLAMA_MAX_SEQ).</summary>
    public const int SequenceLimit = 256;

    /// <summary>CPU threads; 0 = <see cref="DefaultThreads"/>.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// UQENGINE_THREADS when set, else all cores. ggml's worker threads spin at barriers, so a decode that shares its
    /// cores with other busy processes (or other contexts) slows down by orders of magnitude: on a shared machine,
    /// give each context fewer threads than there are idle cores.
    /// </summary>
    public static int DefaultThreads =>
        int.TryParse(Environment.GetEnvironmentVariable("UQENGINE_THREADS"), out int n) && n > 0 ? n : Environment.ProcessorCount;

    /// <summary>One KV buffer for all sequences, so a shared prompt is stored once (right for sampling). Default true.</summary>
    public bool UnifiedKvCache { get; init; } = true;

    /// <summary>Expose the final hidden state (after the output norm, what the LM head reads) at each output.</summary>
    public bool FinalHiddenState { get; init; }

    /// <summary>
    /// Expose the hidden state entering these layers (0 = token embeddings, L = output of layer L-1), for every
    /// token of each batch. Only for architectures whose llama.cpp graph records layer inputs (llama, qwen3, ...).
    /// </summary>
    public IReadOnlyList<int> HiddenLayers { get; init; } = [];

    /// <summary>
    /// Let <see cref="LlamaContext.DecodeThroughLayer"/> stop the graph once a layer in <see cref="HiddenLayers"/> is
    /// reached, and <see cref="LlamaContext.DecodeSkippingLogits"/> before the LM head when <see cref="FinalHiddenState"/>
    /// (installs a ggml graph-node callback). Off unless asked: the callback is consulted for every node, and a
    /// context that never stops early has no use for it. Without it both decode in full.
    /// </summary>
    public bool EarlyExit { get; init; }

    /// <summary>
    /// Read <see cref="HiddenLayers"/> from the graph (LayerInputCapture) even where llama.cpp records them itself:
    /// lets tests compare the two ways on the same model.
    /// </summary>
    internal bool CaptureLayerInputs { get; init; }

    /// <summary>
    /// Pool the final hidden states of each sequence's tokens in a batch into one embedding per sequence
    /// (<see cref="LlamaContext.GetSequenceEmbedding"/>): what embedding models need. Null = no pooling. Excludes
    /// <see cref="FinalHiddenState"/> (llama.cpp keeps either per-token or pooled outputs).
    /// </summary>
    public SequencePooling? Pooling { get; init; }
}

/// <summary>How llama.cpp pools a sequence's token states into one embedding.</summary>
public enum SequencePooling
{
    /// <summary>The pooling the GGUF file declares (an embedding model's own), else mean.</summary>
    Model,
    Mean,
    /// <summary>The first token's state (BERT-style CLS).</summary>
    Cls,
    /// <summary>The last token's state.</summary>
    Last,
}
