using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// Per-layer inputs read out of the graph while it is computed, for architectures whose llama.cpp v0.5.0 graph does
/// not record them (llama_set_embeddings_layer_inp does nothing there). The graph-node callback
/// (<see cref="LlamaContextCallbacks"/>) asks for the node that holds each wanted state and hands it here once
/// computed: layer 0's input is the token embeddings ("embd", or "inp_scaled" where the graph scales them, as Gemma's
/// does), layer L's is the output of layer L - 1 ("l_out-(L-1)"). Rows are appended micro-batch after micro-batch,
/// the token order llama.cpp's own recording keeps. Lives as long as its context; called on the decoding thread only.
/// </summary>
internal sealed unsafe class LayerInputCapture
{
    private readonly int _hiddenSize;
    private readonly int[] _layers;             // sorted
    private readonly byte[][] _names;           // node names, UTF-8
    private readonly int[] _nameLayer;          // index into _layers per name
    private readonly bool[] _replaces;          // the node rewrites the rows the one before it wrote ("inp_scaled" after "embd")
    private readonly float[][] _rows;
    private readonly int[] _count;
    private readonly int[] _lastStart;

    public LayerInputCapture(IReadOnlyList<int> layers, int hiddenSize)
    {
        _hiddenSize = hiddenSize;
        _layers = [.. layers.Distinct().Order()];
        var names = new List<(string Name, int Layer, bool Replaces)>();
        for (int i = 0; i < _layers.Length; i++)
        {
            if (_layers[i] == 0) names.AddRange([("embd", i, false), ("inp_scaled", i, true)]);
            else names.Add(($"l_out-{_layers[i] - 1}", i, false));
        }

        _names = [.. names.Select(n => System.Text.Encoding.ASCII.GetBytes(n.Name))];
        _nameLayer = [.. names.Select(n => n.Layer)];
        _replaces = [.. names.Select(n => n.Replaces)];
        _rows = [.. _layers.Select(_ => new float[64 * hiddenSize])];
        _count = new int[_layers.Length];
        _lastStart = new int[_layers.Length];
    }

    /// <summary>Why the last decode's states are unusable (a node of another shape or type), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Forgets the last decode's rows (before the next decode).</summary>
    public void Reset()
    {
        Array.Clear(_count);
        Array.Clear(_lastStart);
        Error = null;
    }

    /// <summary>Whether the node named <paramref name="name"/> holds a wanted state.</summary>
    public bool Wants(ReadOnlySpan<byte> name) => IndexOf(name) >= 0;

    /// <summary>Copies a computed node's rows if it holds a wanted state. Never throws: it runs inside a native callback.</summary>
    public void Copy(nint tensor, ReadOnlySpan<byte> name)
    {
        int n = IndexOf(name);
        if (n < 0) return;
        try
        {
            long elements = LlamaNative.ggml_nelements(tensor);
            nuint bytes = LlamaNative.ggml_nbytes(tensor);
            if ((long)bytes != elements * sizeof(float) || elements % _hiddenSize != 0 || !LlamaNative.ggml_is_contiguous(tensor))
            {
                Error = $"graph node '{System.Text.Encoding.ASCII.GetString(name)}' is not a contiguous F32 tensor of {_hiddenSize}-wide rows";
                return;
            }

            int layer = _nameLayer[n];
            int rows = (int)(elements / _hiddenSize);
            int start = _replaces[n] ? _lastStart[layer] : _count[layer];
            int needed = (start + rows) * _hiddenSize;
            if (_rows[layer].Length < needed) Array.Resize(ref _rows[layer], Math.Max(needed, _rows[layer].Length * 2));
            fixed (float* destination = &_rows[layer][start * _hiddenSize])
                LlamaNative.ggml_backend_tensor_get(tensor, destination, 0, bytes);
            _lastStart[layer] = start;
            _count[layer] = start + rows;
        }
        catch (Exception e)
        {
            Error = $"reading graph node '{System.Text.Encoding.ASCII.GetString(name)}' failed: {e.Message}";
        }
    }

    /// <summary>The input of <paramref name="layer"/> for the token at <paramref name="batchIndex"/> of the last decode.</summary>
    /// <exception cref="InvalidOperationException">The last decode did not compute that state (it stopped below the layer).</exception>
    public ReadOnlySpan<float> Row(int layer, int batchIndex)
    {
        int i = Array.BinarySearch(_layers, layer);
        if (i < 0) throw new InvalidOperationException($"layer {layer} is not captured");
        if (Error is not null) throw new InvalidOperationException(Error);
        if (batchIndex >= _count[i])
            throw new InvalidOperationException($"the input of layer {layer} was not computed for batch index {batchIndex} in the last decode (it stopped at a lower layer)");
        return _rows[i].AsSpan(batchIndex * _hiddenSize, _hiddenSize);
    }

    private int IndexOf(ReadOnlySpan<byte> name)
    {
        for (int i = 0; i < _names.Length; i++)
            if (name.SequenceEqual(_names[i])) return i;
        return -1;
    }
}
