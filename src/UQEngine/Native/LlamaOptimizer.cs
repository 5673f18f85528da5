using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// llama.cpp's training API (llama_opt_init, llama_opt_epoch) over ggml-opt datasets and results. Every tensor
/// llama.cpp offers is trained (llama_opt_param_filter_all); the optimizer's hyperparameters are read before each
/// step from a <see cref="GgmlOptimizerParamsBlock"/> (ggml_opt_get_constant_optimizer_params), so writing that block
/// changes the learning rate.
/// </summary>
internal static unsafe class LlamaOptimizer
{
    /// <summary>Called after every optimizer step of an epoch with the step, the steps of the epoch, and the running loss and accuracy.</summary>
    internal delegate void StepCallback(long step, long steps, double loss, double accuracy);

    [ThreadStatic] private static StepCallback? _onStep;

    /// <summary>llama_opt_init: prepares the context's optimizer to train <paramref name="model"/>.</summary>
    internal static void Init(SafeLlamaContextHandle context, SafeLlamaModelHandle model, GgmlOptimizerParamsBlock optimizerParams, GgmlOptOptimizerType optimizer)
    {
        var p = new LlamaOptParams
        {
            ContextLengthAfterTraining = 0,
            ParamFilter = LlamaNative.ExportedFunction(LlamaNative.Llama, "llama_opt_param_filter_all"),
            GetOptimizerParams = LlamaNative.ExportedFunction(LlamaNative.GgmlBase, "ggml_opt_get_constant_optimizer_params"),
            GetOptimizerParamsUserData = optimizerParams.Address,
            OptimizerType = optimizer,
        };
        LlamaNative.llama_opt_init(context, model, p);
    }

    /// <summary>
    /// llama_opt_epoch: trains on the datapoints of <paramref name="dataset"/> before <paramref name="trainSplit"/>
    /// (no evaluation part), accumulating into <paramref name="result"/>, calling <paramref name="onStep"/> on this
    /// thread after every step (an exception it throws is swallowed: it must not cross into native code).
    /// </summary>
    internal static void RunEpoch(SafeLlamaContextHandle context, SafeGgmlOptDatasetHandle dataset, SafeGgmlOptResultHandle result, long trainSplit, StepCallback? onStep)
    {
        bool datasetRef = false, resultRef = false;
        var previous = _onStep;
        try
        {
            dataset.DangerousAddRef(ref datasetRef);
            result.DangerousAddRef(ref resultRef);
            _onStep = onStep;
            LlamaNative.llama_opt_epoch(context, dataset.DangerousGetHandle(), result.DangerousGetHandle(), 0, trainSplit, &OnStep, null);
        }
        finally
        {
            _onStep = previous;
            if (resultRef) result.DangerousRelease();
            if (datasetRef) dataset.DangerousRelease();
        }
    }

    // ggml_opt_epoch_callback: called by llama_opt_epoch on this thread after every ubatch (= optimizer step).
    [UnmanagedCallersOnly]
    private static void OnStep(byte train, nint optContext, nint dataset, nint result, long batch, long batchMax, long startMicroseconds)
    {
        var callback = _onStep;
        if (callback is null) return;
        try
        {
            var (loss, accuracy) = SafeGgmlOptResultHandle.LossAndAccuracy(result);
            callback(batch, batchMax, loss, accuracy);
        }
        catch
        {
            // never let an exception cross into native code
        }
    }
}
