using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// Owns a ggml_opt_dataset_t of I32 datapoints and I32 labels (next-token training): <see cref="Inputs"/> and
/// <see cref="Labels"/> are spans over its tensors, written in place.
/// </summary>
internal sealed unsafe class SafeGgmlOptDatasetHandle : SafeHandle
{
    private const int GgmlTypeI32 = 26;
    private int* _data;
    private int* _labels;

    private SafeGgmlOptDatasetHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    /// <summary>ggml_opt_dataset_init of <paramref name="datapoints"/> datapoints of <paramref name="tokens"/> inputs and as many labels, one per shard; an invalid handle when it fails.</summary>
    internal static SafeGgmlOptDatasetHandle CreateTokens(int tokens, long datapoints)
    {
        var dataset = new SafeGgmlOptDatasetHandle { TokensPerDatapoint = tokens };
        nint raw = LlamaNative.ggml_opt_dataset_init(GgmlTypeI32, GgmlTypeI32, tokens, tokens, datapoints, 1);
        if (raw == 0) return dataset;
        dataset.SetHandle(raw);
        dataset._data = (int*)LlamaNative.ggml_get_data(LlamaNative.ggml_opt_dataset_data(raw));
        dataset._labels = (int*)LlamaNative.ggml_get_data(LlamaNative.ggml_opt_dataset_labels(raw));
        return dataset;
    }

    public int TokensPerDatapoint { get; private init; }

    /// <summary>The input tokens of one datapoint.</summary>
    internal Span<int> Inputs(long datapoint) => Row(_data, datapoint);

    /// <summary>The label tokens of one datapoint (the next token of each input).</summary>
    internal Span<int> Labels(long datapoint) => Row(_labels, datapoint);

    private Span<int> Row(int* tensor, long datapoint)
    {
        ObjectDisposedException.ThrowIf(IsInvalid || IsClosed, this);
        return new Span<int>(tensor + datapoint * TokensPerDatapoint, TokensPerDatapoint);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaNative.ggml_opt_dataset_free(handle); return true; }
}
