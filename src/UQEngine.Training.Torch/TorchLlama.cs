using TorchSharp;
using UQEngine.Models;
using static TorchSharp.torch;

namespace UQEngine.Training.Torch;

/// <summary>
/// The forward pass of llama.cpp's "llama" graph (v0.5.0) in TorchSharp, with every weight trainable. Weights are kept in
/// the same memory order as the GGUF tensors: a linear weight is [out, in] row-major, which is ggml's [in, out]; the
/// token embedding is [vocab, embd]. RoPE follows llama.cpp's NORM mode (LLAMA_ROPE_TYPE_NORM for LLM_ARCH_LLAMA):
/// adjacent pairs (2i, 2i+1) of each head rotate by pos * base^(-2i/head_dim).
/// </summary>
public sealed class TorchLlama : IDisposable
{
    /// <summary>Test switch: rotate halves (NEOX) instead of adjacent pairs; the transfer check must then fail.</summary>
    public static bool NeoxRopeForTesting { get; set; }

    private readonly LlamaHyperparameters _h;
    private readonly LlamaGgufLayout _layout;
    private readonly Dictionary<string, TorchSharp.Modules.Parameter> _weights = new();

    public TorchLlama(LlamaHyperparameters hyperparameters, long seed, double std)
    {
        _h = hyperparameters;
        _layout = new LlamaGgufLayout(hyperparameters);
        var gen = new Generator((ulong)seed);
        double residualStd = std / Math.Sqrt(2.0 * hyperparameters.LayerCount);
        foreach (var spec in _layout.Tensors)
        {
            long[] shape = spec.Dimensions.Reverse().Select(d => (long)d).ToArray();
            Tensor t;
            if (spec.IsVector) t = ones(shape);
            else
            {
                double sd = spec.Role is LlamaTensorRole.AttentionOutput or LlamaTensorRole.FeedForwardDown ? residualStd : std;
                t = normal(0, sd, shape, generator: gen);
            }
            _weights[spec.Name] = new TorchSharp.Modules.Parameter(t, requires_grad: true);
        }
    }

    public IEnumerable<TorchSharp.Modules.Parameter> Parameters => _weights.Values;

    /// <summary>Matrices (weight decay applies) vs. norm vectors (no decay).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> Matrices => _layout.Tensors.Where(t => !t.IsVector).Select(t => _weights[t.Name]);
    public IEnumerable<TorchSharp.Modules.Parameter> Vectors => _layout.Tensors.Where(t => t.IsVector).Select(t => _weights[t.Name]);

    private Tensor W(LlamaTensorRole role, int layer = -1) => _weights[LlamaGgufLayout.TensorName(role, layer)];

    /// <summary>
    /// A LoRA (or any additive) hook on the block matrices: given the GGUF tensor name and the input, it returns the
    /// term to add to W x, or null to leave that matrix alone. Token embedding and output are never hooked.
    /// </summary>
    public Func<string, Tensor, Tensor?>? MatrixHook { get; set; }

    private Tensor Linear(Tensor x, LlamaTensorRole role, int layer)
    {
        string name = LlamaGgufLayout.TensorName(role, layer);
        var y = nn.functional.linear(x, _weights[name]);
        return MatrixHook?.Invoke(name, x) is { } delta ? y + delta : y;
    }

    /// <summary>Stops gradients to every base weight (LoRA training keeps the model frozen).</summary>
    public void Freeze()
    {
        foreach (var w in _weights.Values) w.requires_grad = false;
    }

    private Tensor RmsNorm(Tensor x, Tensor weight) =>
        x * rsqrt(x.pow(2).mean([-1], keepdim: true) + _h.RmsNormEpsilon) * weight;

    /// <summary>cos and sin tables [T, head_dim/2] for positions 0..T-1.</summary>
    private (Tensor cos, Tensor sin) Rope(long T)
    {
        int d = _h.HeadDimension;
        var inv = pow(_h.RopeFreqBase, -arange(0, d, 2, dtype: float64) / d);
        var ang = outer(arange(T, dtype: float64), inv);
        return (ang.cos().to_type(float32), ang.sin().to_type(float32));
    }

    /// <summary>NORM-mode RoPE on x [B, H, T, D]: pairs (2i, 2i+1).</summary>
    private static Tensor ApplyRope(Tensor x, Tensor cos, Tensor sin)
    {
        if (NeoxRopeForTesting)
        {
            // Negative control for the transfer check: the half-split (NEOX) convention llama.cpp does not use for llama.
            var half = x.shape[3] / 2;
            var a = x[.., .., .., ..(int)half]; var b2 = x[.., .., .., (int)half..];
            return cat([a * cos - b2 * sin, a * sin + b2 * cos], -1);
        }
        var shape = x.shape;
        var pairs = x.reshape(shape[0], shape[1], shape[2], shape[3] / 2, 2);
        var x0 = pairs.select(-1, 0);
        var x1 = pairs.select(-1, 1);
        var r0 = x0 * cos - x1 * sin;
        var r1 = x0 * sin + x1 * cos;
        return stack([r0, r1], -1).reshape(shape);
    }

    /// <summary>Logits [B, T, vocab] for tokens [B, T] (positions 0..T-1, causal). <paramref name="kvCacheF16"/> rounds K and V to F16 as llama.cpp's default KV cache does.</summary>
    public Tensor Forward(Tensor tokens, bool kvCacheF16 = false)
    {
        long B = tokens.shape[0], T = tokens.shape[1];
        int nh = _h.HeadCount, nkv = _h.HeadCountKv, d = _h.HeadDimension;
        var (cos, sin) = Rope(T);
        var mask = ones(T, T, dtype: ScalarType.Bool).triu(1);
        var x = W(LlamaTensorRole.TokenEmbedding).index_select(0, tokens.reshape(-1)).view(B, T, _h.EmbeddingLength);
        double scale = 1.0 / Math.Sqrt(d);
        for (int l = 0; l < _h.LayerCount; l++)
        {
            var h = RmsNorm(x, W(LlamaTensorRole.AttentionNorm, l));
            var q = Linear(h, LlamaTensorRole.AttentionQuery, l).view(B, T, nh, d).transpose(1, 2);
            var k = Linear(h, LlamaTensorRole.AttentionKey, l).view(B, T, nkv, d).transpose(1, 2);
            var v = Linear(h, LlamaTensorRole.AttentionValue, l).view(B, T, nkv, d).transpose(1, 2);
            q = ApplyRope(q, cos, sin);
            k = ApplyRope(k, cos, sin);
            if (kvCacheF16)
            {
                // llama.cpp's default KV cache stores the roped K and V in F16.
                q = q.to_type(float16).to_type(float32); // CPU flash attention converts Q to K's type
                k = k.to_type(float16).to_type(float32);
                v = v.to_type(float16).to_type(float32);
            }
            if (nkv != nh)
            {
                // llama.cpp's GQA: query head j uses kv head j / (nh / nkv).
                k = k.repeat_interleave(nh / nkv, dim: 1);
                v = v.repeat_interleave(nh / nkv, dim: 1);
            }
            var att = matmul(q, k.transpose(-2, -1)) * scale;
            att = att.masked_fill(mask, double.NegativeInfinity).softmax(-1);
            var o = matmul(att, v).transpose(1, 2).reshape(B, T, nh * d);
            x = x + Linear(o, LlamaTensorRole.AttentionOutput, l);
            h = RmsNorm(x, W(LlamaTensorRole.FeedForwardNorm, l));
            var g = Linear(h, LlamaTensorRole.FeedForwardGate, l);
            var u = Linear(h, LlamaTensorRole.FeedForwardUp, l);
            x = x + Linear(nn.functional.silu(g) * u, LlamaTensorRole.FeedForwardDown, l);
        }
        x = RmsNorm(x, W(LlamaTensorRole.OutputNorm));
        var output = _h.TiedEmbeddings ? W(LlamaTensorRole.TokenEmbedding) : W(LlamaTensorRole.Output);
        return nn.functional.linear(x, output);
    }

    /// <summary>Copies a weight out in ggml order (same memory order as the torch tensor).</summary>
    public void CopyWeight(LlamaTensorSpec spec, Span<float> destination)
    {
        var t = _weights[spec.Name].detach().contiguous().cpu();
        var data = t.data<float>().ToArray();
        if (data.Length != destination.Length) throw new InvalidOperationException($"{spec.Name}: {data.Length} values, expected {destination.Length}");
        data.AsSpan().CopyTo(destination);
    }

    /// <summary>Loads every weight from a GGUF of this shape (F32 tensors, e.g. the trainer's trained-f32.gguf) to continue training it.</summary>
    public void Load(UQEngine.Gguf.GgufFile file)
    {
        var byName = file.Tensors.ToDictionary(t => t.Name);
        using var noGrad = torch.no_grad();
        foreach (var spec in _layout.Tensors)
        {
            if (!byName.TryGetValue(spec.Name, out var info)) throw new InvalidOperationException($"{file.Path}: no tensor '{spec.Name}'");
            float[] values = file.ReadTensorAsSingles(info);
            var target = _weights[spec.Name];
            if (values.Length != target.numel()) throw new InvalidOperationException($"{file.Path}: '{spec.Name}' has {values.Length} values, this model {target.numel()}");
            target.copy_(tensor(values).view(target.shape));
        }
    }

    public float MaxAbsWeight() => _weights.Values.Select(w => w.detach().abs().max().item<float>()).Max();

    public void Dispose()
    {
        foreach (var w in _weights.Values) w.Dispose();
    }
}
