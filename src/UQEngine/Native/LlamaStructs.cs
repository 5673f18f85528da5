using System.Runtime.InteropServices;

namespace UQEngine.Native;

// Mirrors of llama.h structs for llama.cpp release v0.5.0 (the release pinned in native/manifest.json).
// Field order and types must match the C declarations exactly: LlamaAbiTests checks the defaults that
// llama.cpp itself fills in, so a layout drift shows up as wrong values there, not as memory corruption later.
// C `bool` is one byte; it is declared as byte so the structs stay blittable.

/// <summary>llama_model_params (80 bytes on x64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaModelParams
{
    public nint Devices;
    public nint TensorBufferTypeOverrides;
    public int GpuLayerCount;
    public LlamaSplitMode SplitMode;
    public LlamaLoadMode LoadMode;
    public LlamaLazyMode LazyMode;
    public int MainGpu;
    public nint TensorSplit;
    public nint ProgressCallback;
    public nint ProgressCallbackUserData;
    public nint KvOverrides;
    public byte VocabOnly;
    public byte CheckTensors;
    public byte UseExtraBufferTypes;
    public byte NoHost;
    public byte NoAlloc;
    public byte LoadMtp;
}

/// <summary>llama_context_params (160 bytes on x64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaContextParams
{
    public uint ContextSize;
    public uint BatchSize;
    public uint MicroBatchSize;
    public uint MaxSequences;
    public uint RecurrentStateSnapshots;
    public uint MaxOutputs;
    public uint MaxOutputsPerSequence;
    public int Threads;
    public int BatchThreads;
    public int ContextType;
    public int RopeScalingType;
    public LlamaPoolingType PoolingType;
    public int AttentionType;
    public LlamaFlashAttentionType FlashAttentionType;
    public float RopeFreqBase;
    public float RopeFreqScale;
    public float YarnExtFactor;
    public float YarnAttnFactor;
    public float YarnBetaFast;
    public float YarnBetaSlow;
    public uint YarnOrigContext;
    public float DefragThreshold;
    public nint EvalCallback;
    public nint EvalCallbackUserData;
    public int TypeK;
    public int TypeV;
    public nint AbortCallback;
    public nint AbortCallbackData;
    public byte Embeddings;
    public byte OffloadKqv;
    public byte NoPerf;
    public byte OpOffload;
    public byte SwaFull;
    public byte KvUnified;
    public nint Samplers;
    public nuint SamplerCount;
    public nint OtherContext;
}

/// <summary>llama_batch (56 bytes on x64). The arrays it points to are owned by <see cref="LlamaBatchBuffer"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaBatch
{
    public int TokenCount;
    public int* Tokens;
    public float* Embeddings;
    public int* Positions;
    public int* SequenceIdCounts;
    public int** SequenceIds;
    public sbyte* Outputs;
}

/// <summary>llama_sampler_chain_params.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaSamplerChainParams
{
    public byte NoPerf;
}

/// <summary>llama_token_data: one candidate token of a sampling step.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaTokenData
{
    public int Id;
    public float Logit;
    public float P;
}

/// <summary>llama_token_data_array: the candidates a sampler filters; Selected is an index into Data, not a token id.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaTokenDataArray
{
    public LlamaTokenData* Data;
    public nuint Size;
    public long Selected;
    public byte Sorted;
}

/// <summary>llama_chat_message.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaChatMessage
{
    public byte* Role;
    public byte* Content;
}

public enum LlamaSplitMode { None = 0, Layer = 1, Row = 2, Tensor = 3 }
public enum LlamaLoadMode { Auto = -1, None = 0, Mmap = 1, Mlock = 2, MmapMlock = 3, DirectIo = 4 }
public enum LlamaLazyMode { Off = 0, Auto = 1, On = 2 }
public enum LlamaPoolingType { Unspecified = -1, None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 }
public enum LlamaFlashAttentionType { Auto = -1, Disabled = 0, Enabled = 1 }
public enum GgmlLogLevel { None = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Continue = 5 }
