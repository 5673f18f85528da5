using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// A ggml_opt_optimizer_params in native memory, at a fixed address that llama.cpp reads before each optimizer
/// step (<see cref="LlamaOptimizer.Init"/>). Starts as ggml's defaults; write <see cref="Value"/> to change it.
/// </summary>
internal sealed unsafe class GgmlOptimizerParamsBlock : IDisposable
{
    private GgmlOptOptimizerParams* _params;

    public GgmlOptimizerParamsBlock()
    {
        _params = (GgmlOptOptimizerParams*)NativeMemory.AllocZeroed((nuint)sizeof(GgmlOptOptimizerParams));
        *_params = LlamaNative.ggml_opt_get_default_optimizer_params(null);
    }

    /// <summary>The parameters llama.cpp will read at the next step.</summary>
    public ref GgmlOptOptimizerParams Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(_params == null, this);
            return ref *_params;
        }
    }

    internal nint Address => (nint)_params;

    public void Dispose()
    {
        NativeMemory.Free(_params);
        _params = null;
    }
}
