using System.Runtime.InteropServices;

namespace UQEngine.Native;

// Training (llama_opt_*, ggml-opt datasets and results) and quantization (llama_model_quantize) of llama.cpp v0.5.0.
// ggml-opt lives in libggml-base.so, so those imports use the "ggml-base" name, which NativeLibraryLoader resolves.
internal static unsafe partial class LlamaNative
{
    internal const string GgmlBase = "ggml-base";

    // --- training (llama.h) ---
    [LibraryImport(Llama, EntryPoint = "llama_opt_init")] internal static partial void llama_opt_init(SafeLlamaContextHandle context, SafeLlamaModelHandle model, LlamaOptParams parameters);
    [LibraryImport(Llama, EntryPoint = "llama_opt_epoch")]
    internal static partial void llama_opt_epoch(
        SafeLlamaContextHandle context, nint dataset, nint resultTrain, nint resultEval, long idataSplit,
        delegate* unmanaged<byte, nint, nint, nint, long, long, long, void> callbackTrain,
        delegate* unmanaged<byte, nint, nint, nint, long, long, long, void> callbackEval);
    [LibraryImport(Llama, EntryPoint = "llama_model_save_to_file")] internal static partial void llama_model_save_to_file(SafeLlamaModelHandle model, byte* path);

    // --- quantization (llama.h) ---
    [LibraryImport(Llama, EntryPoint = "llama_model_quantize_default_params")] internal static partial LlamaModelQuantizeParams llama_model_quantize_default_params();
    [LibraryImport(Llama, EntryPoint = "llama_model_quantize")] internal static partial uint llama_model_quantize(byte* input, byte* output, LlamaModelQuantizeParams* parameters);

    // --- ggml-opt (ggml-opt.h, in libggml-base) ---
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_dataset_init")] internal static partial nint ggml_opt_dataset_init(int typeData, int typeLabel, long elementsPerDatapoint, long elementsPerLabel, long datapoints, long datapointsPerShard);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_dataset_free")] internal static partial void ggml_opt_dataset_free(nint dataset);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_dataset_ndata")] internal static partial long ggml_opt_dataset_ndata(nint dataset);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_dataset_data")] internal static partial nint ggml_opt_dataset_data(nint dataset);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_dataset_labels")] internal static partial nint ggml_opt_dataset_labels(nint dataset);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_get_data")] internal static partial void* ggml_get_data(nint tensor);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_nbytes")] internal static partial nuint ggml_nbytes(nint tensor);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_init")] internal static partial nint ggml_opt_result_init();
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_free")] internal static partial void ggml_opt_result_free(nint result);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_reset")] internal static partial void ggml_opt_result_reset(nint result);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_ndata")] internal static partial void ggml_opt_result_ndata(nint result, long* ndata);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_loss")] internal static partial void ggml_opt_result_loss(nint result, double* loss, double* uncertainty);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_result_accuracy")] internal static partial void ggml_opt_result_accuracy(nint result, double* accuracy, double* uncertainty);
    [LibraryImport(GgmlBase, EntryPoint = "ggml_opt_get_default_optimizer_params")] internal static partial GgmlOptOptimizerParams ggml_opt_get_default_optimizer_params(void* userData);

    /// <summary>
    /// Addresses of C functions passed to llama.cpp as callbacks rather than called from here:
    /// llama_opt_param_filter_all (train every tensor llama.cpp offers) and ggml_opt_get_constant_optimizer_params
    /// (returns the struct its user data points to, so the learning rate is changed by writing that struct).
    /// </summary>
    internal static nint ExportedFunction(string library, string name)
    {
        NativeLibraryLoader.EnsureLoaded();
        return NativeLibraryLoader.Export(library, name);
    }
}

/// <summary>llama_opt_params (48 bytes on x64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaOptParams
{
    /// <summary>Context size the trained model declares; 0 = the training context's n_ctx.</summary>
    public uint ContextLengthAfterTraining;
    /// <summary>bool (*)(const ggml_tensor*, void*): which tensors are trained.</summary>
    public nint ParamFilter;
    public nint ParamFilterUserData;
    /// <summary>ggml_opt_optimizer_params (*)(void*): called before each optimizer step.</summary>
    public nint GetOptimizerParams;
    public nint GetOptimizerParamsUserData;
    public GgmlOptOptimizerType OptimizerType;
}

/// <summary>ggml_opt_optimizer_params (28 bytes): AdamW's and SGD's hyperparameters.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GgmlOptOptimizerParams
{
    public float AdamWAlpha;
    public float AdamWBeta1;
    public float AdamWBeta2;
    public float AdamWEpsilon;
    public float AdamWWeightDecay;
    public float SgdAlpha;
    public float SgdWeightDecay;
}

public enum GgmlOptOptimizerType { AdamW = 0, Sgd = 1 }

/// <summary>llama_model_quantize_params (64 bytes on x64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaModelQuantizeParams
{
    /// <summary>Threads; &lt;= 0 uses every hardware thread.</summary>
    public int ThreadCount;
    /// <summary>enum llama_ftype.</summary>
    public int FileType;
    /// <summary>enum ggml_type of output.weight; GGML_TYPE_COUNT (43) = chosen by the file type.</summary>
    public int OutputTensorType;
    /// <summary>enum ggml_type of token_embd.weight; GGML_TYPE_COUNT (43) = chosen by the file type.</summary>
    public int TokenEmbeddingType;
    public byte AllowRequantize;
    public byte QuantizeOutputTensor;
    public byte OnlyCopy;
    public byte Pure;
    public byte KeepSplit;
    public byte DryRun;
    public nint ImportanceMatrix;
    public nint KvOverrides;
    public nint TensorTypeOverrides;
    public nint PruneLayers;
    public nuint MaxBufferSize;
}
