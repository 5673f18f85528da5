using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>Owns a ggml_opt_result_t: the loss and accuracy accumulated over an epoch.</summary>
internal sealed unsafe class SafeGgmlOptResultHandle : SafeHandle
{
    private SafeGgmlOptResultHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    /// <summary>ggml_opt_result_init.</summary>
    internal static SafeGgmlOptResultHandle Create()
    {
        var result = new SafeGgmlOptResultHandle();
        result.SetHandle(LlamaNative.ggml_opt_result_init());
        return result;
    }

    /// <summary>The mean loss and accuracy so far (ggml_opt_result_loss, ggml_opt_result_accuracy).</summary>
    internal (double Loss, double Accuracy) LossAndAccuracy()
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            return LossAndAccuracy(handle);
        }
        finally
        {
            if (added) DangerousRelease();
        }
    }

    internal static (double Loss, double Accuracy) LossAndAccuracy(nint result)
    {
        double loss, accuracy, uncertainty;
        LlamaNative.ggml_opt_result_loss(result, &loss, &uncertainty);
        LlamaNative.ggml_opt_result_accuracy(result, &accuracy, &uncertainty);
        return (loss, accuracy);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaNative.ggml_opt_result_free(handle); return true; }
}
