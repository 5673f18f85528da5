using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// The state behind a context's two native callbacks, pinned so that llama.cpp reads it by pointer: the abort
/// flag (llama.cpp's abort callback, polled during a decode) and the graph-node callback that stops a decode once
/// a named node is computed (early exit) and hands wanted nodes to a <see cref="LayerInputCapture"/>. Lives as long
/// as the context it is installed on; <see cref="Release"/> frees the capture's handle after the context is gone.
/// </summary>
internal sealed unsafe class LlamaContextCallbacks
{
    // Pinned (POH) so llama.cpp's abort callback can read it by pointer.
    private readonly int[] _abortFlag = GC.AllocateArray<int>(1, pinned: true);
    // The graph-node callback's state (pinned, read by pointer): EvalState.
    private readonly byte[] _evalState = GC.AllocateArray<byte>(sizeof(EvalState), pinned: true);

    /// <summary>
    /// Points the context parameters' abort callback at this abort flag and, when <paramref name="earlyExit"/> or a
    /// <paramref name="capture"/> is given, the graph-node callback at this state (the capture held by a GCHandle).
    /// </summary>
    public void Install(ref LlamaContextParams parameters, bool earlyExit, LayerInputCapture? capture = null)
    {
        if (capture is not null)
            fixed (byte* raw = _evalState) ((EvalState*)raw)->Capture = GCHandle.ToIntPtr(GCHandle.Alloc(capture));
        if (earlyExit || capture is not null)
        {
            parameters.EvalCallback = (nint)(delegate* unmanaged<nint, byte, void*, byte>)&OnGraphNode;
            parameters.EvalCallbackUserData = (nint)Unsafe.AsPointer(ref _evalState[0]);
        }
        parameters.AbortCallback = (nint)(delegate* unmanaged<void*, byte>)&ShouldAbort;
        parameters.AbortCallbackData = (nint)Unsafe.AsPointer(ref _abortFlag[0]);
    }

    /// <summary>Frees the capture's handle; call once the native context that could call back is disposed.</summary>
    public void Release()
    {
        fixed (byte* raw = _evalState)
        {
            var state = (EvalState*)raw;
            if (state->Capture != 0) GCHandle.FromIntPtr(state->Capture).Free();
            state->Capture = 0;
        }
    }

    /// <summary>Clears the abort flag (before a decode).</summary>
    public void ClearAbort() => Volatile.Write(ref _abortFlag[0], 0);

    /// <summary>
    /// Registers <paramref name="cancellationToken"/> to raise the abort flag (from any thread), so llama.cpp stops the
    /// running decode; dispose the registration after the decode.
    /// </summary>
    public CancellationTokenRegistration AbortOn(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static s => Volatile.Write(ref ((int[])s!)[0], 1), _abortFlag) : default;

    /// <summary>Arms the early exit: the next decodes stop once the graph node named <paramref name="nodeName"/> (ASCII, at most 63 bytes) is computed.</summary>
    public void ArmStopAfter(string nodeName)
    {
        fixed (byte* raw = _evalState)
        {
            var state = (EvalState*)raw;
            var name = new Span<byte>(state->Name, 64);
            name.Clear();
            System.Text.Encoding.ASCII.GetBytes(nodeName, name[..63]);
            state->Stopped = 0;
            state->Armed = 1;
        }
    }

    /// <summary>Disarms the early exit; returns whether a decode since <see cref="ArmStopAfter"/> stopped at the node.</summary>
    public bool Disarm()
    {
        fixed (byte* raw = _evalState)
        {
            var state = (EvalState*)raw;
            state->Armed = 0;
            return state->Stopped != 0;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct EvalState
    {
        public int Armed;    // 1: stop after the node named Name
        public int Stopped;  // set when the computation stopped there
        public nint Capture; // GCHandle of the LayerInputCapture, or 0
        public fixed byte Name[64];
    }

    /// <summary>
    /// ggml's scheduler asks this for every graph node (ask = 1: "do you want this node's data?") and, for a node
    /// answered yes, calls it again once computed (ask = 0); returning 0 then stops the computation of the graph.
    /// </summary>
    [UnmanagedCallersOnly]
    private static byte OnGraphNode(nint tensor, byte ask, void* state)
    {
        var s = (EvalState*)state;
        if (s->Armed == 0 && s->Capture == 0) return 0; // nothing wanted: the scheduler computes the graph in one go
        var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(LlamaNative.ggml_get_name(tensor));
        bool stop = s->Armed != 0 && name.SequenceEqual(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(s->Name));
        var capture = s->Capture == 0 ? null : (LayerInputCapture?)GCHandle.FromIntPtr(s->Capture).Target;
        if (ask != 0) return stop || (capture?.Wants(name) ?? false) ? (byte)1 : (byte)0;
        capture?.Copy(tensor, name);
        if (!stop) return 1;
        s->Stopped = 1;
        return 0;
    }

    [UnmanagedCallersOnly]
    private static byte ShouldAbort(void* flag) => *(int*)flag != 0 ? (byte)1 : (byte)0;
}
