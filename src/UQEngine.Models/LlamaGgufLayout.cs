using System.Collections.Immutable;
using System.Globalization;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>What a tensor of a llama-architecture model does.</summary>
public enum LlamaTensorRole
{
    TokenEmbedding,
    OutputNorm,
    Output,
    AttentionNorm,
    AttentionQuery,
    AttentionKey,
    AttentionValue,
    AttentionOutput,
    FeedForwardNorm,
    FeedForwardGate,
    FeedForwardDown,
    FeedForwardUp,
}

/// <summary>
/// One tensor llama.cpp expects in a llama-architecture GGUF. <see cref="Dimensions"/> are in ggml order:
/// a matrix [in, out] holds <c>out</c> rows of <c>in</c> contiguous values, i.e. the row-major
/// [out, in] weight of a linear layer y = W x. Vectors (the RMS-norm weights) have one dimension.
/// </summary>
/// <param name="Name">GGUF tensor name, e.g. "blk.0.attn_q.weight".</param>
/// <param name="Role">What the tensor does.</param>
/// <param name="Layer">Block index, or -1 for tensors outside the blocks.</param>
/// <param name="Dimensions">Extents, innermost first.</param>
public sealed record LlamaTensorSpec(string Name, LlamaTensorRole Role, int Layer, ImmutableArray<ulong> Dimensions)
{
    /// <summary>Number of values.</summary>
    public int ElementCount
    {
        get
        {
            ulong count = 1;
            foreach (ulong extent in Dimensions)
            {
                count *= extent;
            }

            return checked((int)count);
        }
    }

    /// <summary>True for one-dimensional tensors (norm weights), which llama.cpp conventionally keeps in F32.</summary>
    public bool IsVector => Dimensions.Length == 1;
}

/// <summary>
/// The tensor names, shapes and architecture metadata of a llama-architecture GGUF for given
/// hyperparameters, as the bundled llama.cpp loads them. Shared by the synthetic test model and by
/// trainers that export real weights, so both produce files llama.cpp accepts.
/// </summary>
/// <remarks>
/// llama.cpp applies RoPE to the query and key projections in its "normal" mode, rotating adjacent pairs
/// (dimensions 2i and 2i+1 of each head); weights trained with the half-split convention must be permuted.
/// </remarks>
public sealed class LlamaGgufLayout
{
    /// <summary>Value of "general.architecture" and prefix of the architecture keys.</summary>
    public const string Architecture = "llama";

    /// <summary>Creates the layout; the hyperparameters are validated.</summary>
    public LlamaGgufLayout(LlamaHyperparameters hyperparameters)
    {
        ArgumentNullException.ThrowIfNull(hyperparameters);
        hyperparameters.Validate();
        Hyperparameters = hyperparameters;
        Tensors = BuildTensorList(hyperparameters);
    }

    public LlamaHyperparameters Hyperparameters { get; }

    /// <summary>Every tensor of the model, in the order they are written.</summary>
    public ImmutableArray<LlamaTensorSpec> Tensors { get; }

    /// <summary>Total number of parameters (elements over all tensors).</summary>
    public long ParameterCount => Tensors.Sum(t => (long)t.ElementCount);

    /// <summary>The GGUF name of a tensor; <paramref name="layer"/> is ignored for tensors outside the blocks.</summary>
    public static string TensorName(LlamaTensorRole role, int layer = -1)
    {
        string Block(string suffix) => "blk." + layer.ToString(CultureInfo.InvariantCulture) + "." + suffix + ".weight";

        return role switch
        {
            LlamaTensorRole.TokenEmbedding => "token_embd.weight",
            LlamaTensorRole.OutputNorm => "output_norm.weight",
            LlamaTensorRole.Output => "output.weight",
            LlamaTensorRole.AttentionNorm => Block("attn_norm"),
            LlamaTensorRole.AttentionQuery => Block("attn_q"),
            LlamaTensorRole.AttentionKey => Block("attn_k"),
            LlamaTensorRole.AttentionValue => Block("attn_v"),
            LlamaTensorRole.AttentionOutput => Block("attn_output"),
            LlamaTensorRole.FeedForwardNorm => Block("ffn_norm"),
            LlamaTensorRole.FeedForwardGate => Block("ffn_gate"),
            LlamaTensorRole.FeedForwardDown => Block("ffn_down"),
            LlamaTensorRole.FeedForwardUp => Block("ffn_up"),
            _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
        };
    }

    /// <summary>
    /// The architecture keys ("llama.*") that llama.cpp reads for this architecture. The caller adds
    /// "general.*" and tokenizer keys.
    /// </summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> ArchitectureMetadata()
    {
        var h = Hyperparameters;
        const string p = Architecture + ".";
        yield return new(p + "vocab_size", GgufValue.FromUInt32((uint)h.VocabularySize));
        yield return new(p + "context_length", GgufValue.FromUInt32((uint)h.ContextLength));
        yield return new(p + "embedding_length", GgufValue.FromUInt32((uint)h.EmbeddingLength));
        yield return new(p + "block_count", GgufValue.FromUInt32((uint)h.LayerCount));
        yield return new(p + "feed_forward_length", GgufValue.FromUInt32((uint)h.FeedForwardLength));
        yield return new(p + "rope.dimension_count", GgufValue.FromUInt32((uint)h.HeadDimension));
        yield return new(p + "rope.freq_base", GgufValue.FromFloat32(h.RopeFreqBase));
        yield return new(p + "attention.head_count", GgufValue.FromUInt32((uint)h.HeadCount));
        yield return new(p + "attention.head_count_kv", GgufValue.FromUInt32((uint)h.HeadCountKv));
        yield return new(p + "attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(h.RmsNormEpsilon));
    }

    private static ImmutableArray<LlamaTensorSpec> BuildTensorList(LlamaHyperparameters h)
    {
        ulong embd = (ulong)h.EmbeddingLength;
        ulong vocab = (ulong)h.VocabularySize;
        ulong ff = (ulong)h.FeedForwardLength;
        ulong queryWidth = (ulong)(h.HeadCount * h.HeadDimension);
        ulong keyValueWidth = (ulong)h.KeyValueWidth;

        var list = ImmutableArray.CreateBuilder<LlamaTensorSpec>();
        void Add(LlamaTensorRole role, int layer, params ulong[] dims) =>
            list.Add(new LlamaTensorSpec(TensorName(role, layer), role, layer, [.. dims]));

        Add(LlamaTensorRole.TokenEmbedding, -1, embd, vocab);
        for (int layer = 0; layer < h.LayerCount; layer++)
        {
            Add(LlamaTensorRole.AttentionNorm, layer, embd);
            Add(LlamaTensorRole.AttentionQuery, layer, embd, queryWidth);
            Add(LlamaTensorRole.AttentionKey, layer, embd, keyValueWidth);
            Add(LlamaTensorRole.AttentionValue, layer, embd, keyValueWidth);
            Add(LlamaTensorRole.AttentionOutput, layer, queryWidth, embd);
            Add(LlamaTensorRole.FeedForwardNorm, layer, embd);
            Add(LlamaTensorRole.FeedForwardGate, layer, embd, ff);
            Add(LlamaTensorRole.FeedForwardUp, layer, embd, ff);
            Add(LlamaTensorRole.FeedForwardDown, layer, ff, embd);
        }

        Add(LlamaTensorRole.OutputNorm, -1, embd);
        if (!h.TiedEmbeddings)
        {
            Add(LlamaTensorRole.Output, -1, embd, vocab);
        }

        return list.ToImmutable();
    }
}
