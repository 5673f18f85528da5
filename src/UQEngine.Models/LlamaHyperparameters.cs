namespace UQEngine.Models;

/// <summary>
/// Shape of a llama-architecture transformer as llama.cpp reads it from GGUF metadata. Defaults describe
/// a tiny test model; a model meant for K-quantization needs widths that are multiples of 256.
/// </summary>
public sealed record LlamaHyperparameters
{
    /// <summary>Number of tokens; the rows of the embedding and output matrices.</summary>
    public required int VocabularySize { get; init; }

    /// <summary>Hidden width (n_embd).</summary>
    public int EmbeddingLength { get; init; } = 64;

    /// <summary>Transformer blocks (n_layer).</summary>
    public int LayerCount { get; init; } = 2;

    /// <summary>Query heads (n_head).</summary>
    public int HeadCount { get; init; } = 4;

    /// <summary>Key/value heads (n_head_kv); fewer than <see cref="HeadCount"/> means grouped-query attention.</summary>
    public int HeadCountKv { get; init; } = 2;

    /// <summary>Width of the SwiGLU feed-forward layer (n_ff).</summary>
    public int FeedForwardLength { get; init; } = 128;

    /// <summary>Context length the model is declared to support (n_ctx_train).</summary>
    public int ContextLength { get; init; } = 512;

    /// <summary>Epsilon of the RMS norms.</summary>
    public float RmsNormEpsilon { get; init; } = 1e-5f;

    /// <summary>RoPE base frequency.</summary>
    public float RopeFreqBase { get; init; } = 10000f;

    /// <summary>When true the file has no "output.weight" and llama.cpp reuses the token embedding as the output projection.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Width of one attention head; llama rotates the whole head with RoPE.</summary>
    public int HeadDimension => EmbeddingLength / HeadCount;

    /// <summary>Width of the key and value projections (n_head_kv * head dimension).</summary>
    public int KeyValueWidth => HeadCountKv * HeadDimension;

    /// <summary>Checks the constraints llama.cpp's llama graph relies on.</summary>
    /// <exception cref="ArgumentException">A size is out of range or inconsistent.</exception>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
            {
                throw new ArgumentException($"{name} must be positive, got {value}.", name);
            }
        }

        Positive(VocabularySize, nameof(VocabularySize));
        Positive(EmbeddingLength, nameof(EmbeddingLength));
        Positive(LayerCount, nameof(LayerCount));
        Positive(HeadCount, nameof(HeadCount));
        Positive(HeadCountKv, nameof(HeadCountKv));
        Positive(FeedForwardLength, nameof(FeedForwardLength));
        Positive(ContextLength, nameof(ContextLength));
        if (EmbeddingLength % HeadCount != 0)
        {
            throw new ArgumentException($"EmbeddingLength {EmbeddingLength} must be a multiple of HeadCount {HeadCount}.", nameof(EmbeddingLength));
        }

        if (HeadDimension % 2 != 0)
        {
            throw new ArgumentException($"The head dimension {HeadDimension} must be even for RoPE.", nameof(HeadCount));
        }

        if (HeadCount % HeadCountKv != 0)
        {
            throw new ArgumentException($"HeadCount {HeadCount} must be a multiple of HeadCountKv {HeadCountKv}.", nameof(HeadCountKv));
        }

        if (LayerCount > 512)
        {
            throw new ArgumentException($"LayerCount {LayerCount} exceeds llama.cpp's limit of 512.", nameof(LayerCount));
        }

        if (!(RmsNormEpsilon > 0) || !(RopeFreqBase > 0))
        {
            throw new ArgumentException("RmsNormEpsilon and RopeFreqBase must be positive.");
        }
    }
}
