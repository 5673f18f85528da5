using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// Sentence embeddings from any GGUF model through llama.cpp's pooling (an embedding model's own pooling, or mean
/// pooling for a generative model): each text is one sequence, many texts go through one llama_decode, and
/// llama_get_embeddings_seq returns each sequence's pooled vector. Owns its context, and its model when it loaded it.
/// Not thread-safe: one caller at a time.
/// </summary>
public sealed class GgufTextEmbedder : ITextEmbedder, IDisposable
{
    private readonly LlamaModel _model;
    private readonly bool _ownsModel;
    private readonly LlamaContext _context;
    private readonly LlamaBatchBuffer _batch;

    /// <param name="modelPath">The GGUF embedding model (validated by the managed reader first).</param>
    /// <param name="pooling">Model = what the file declares (mean when it declares none).</param>
    /// <param name="sequences">Texts per decode; rounded up to a power of two (llama.cpp's pooling needs it to divide the batch size).</param>
    /// <param name="batchSize">Tokens per decode; a text must fit in one.</param>
    /// <param name="modelOptions">Device and load settings.</param>
    public GgufTextEmbedder(string modelPath, SequencePooling pooling = SequencePooling.Model, int sequences = 16, int batchSize = 512, ModelOptions? modelOptions = null)
        : this(CheckShape(sequences, batchSize), LlamaModel.Load(modelPath, modelOptions), pooling, batchSize, ownsModel: true) // arguments run in order: checked before loading
    {
    }

    /// <summary>Embeds with a model the caller has loaded and keeps owning (e.g. a served model, beside its other contexts).</summary>
    public GgufTextEmbedder(LlamaModel model, SequencePooling pooling = SequencePooling.Model, int sequences = 16, int batchSize = 512)
        : this(CheckShape(sequences, batchSize), model ?? throw new ArgumentNullException(nameof(model)), pooling, batchSize, ownsModel: false)
    {
    }

    private GgufTextEmbedder(int sequences, LlamaModel model, SequencePooling pooling, int batchSize, bool ownsModel)
    {
        _model = model;
        _ownsModel = ownsModel;
        try
        {
            _context = _model.CreateContext(new ContextOptions { Pooling = pooling, MaxSequences = sequences, BatchSize = batchSize, ContextSize = Math.Max(batchSize, 256) });
            _batch = new LlamaBatchBuffer(_context.BatchSize);
        }
        catch
        {
            _context?.Dispose();
            if (ownsModel) _model.Dispose();
            throw;
        }
    }

    /// <summary>Texts per decode rounded up to a power of two, checked against the batch size before anything loads.</summary>
    private static int CheckShape(int sequences, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sequences, 256);
        sequences = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)sequences);
        if (batchSize % sequences != 0) throw new ArgumentException($"the batch size ({batchSize}) must be a multiple of {sequences} (texts per decode, rounded up to a power of two)", nameof(batchSize));
        return sequences;
    }

    public LlamaPoolingType Pooling => _context.PoolingType;

    public int Dimension => _context.HiddenSize;

    /// <summary>Most tokens one text may have (one decode holds a whole text).</summary>
    public int MaxTokensPerText => _batch.Capacity;

    /// <summary>The tokenizer texts go through (with the model's special tokens added, as <see cref="Embed"/> does).</summary>
    public Vocabulary Vocabulary => _model.Vocabulary;

    public IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var tokens = new int[texts.Count][];
        for (int i = 0; i < texts.Count; i++)
            tokens[i] = _model.Vocabulary.Tokenize(texts[i] ?? throw new ArgumentException($"text {i} is null", nameof(texts)), addSpecial: true, parseSpecial: false);
        return EmbedTokens(tokens, cancellationToken);
    }

    /// <summary>
    /// One pooled vector per token sequence (not normalised). A sequence longer than <see cref="MaxTokensPerText"/>
    /// or holding a token outside the vocabulary is an ArgumentException naming its index; an empty one gives the zero vector.
    /// </summary>
    public IReadOnlyList<float[]> EmbedTokens(IReadOnlyList<int[]> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var vocab = _model.Vocabulary;
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i] ?? throw new ArgumentException($"text {i} is null", nameof(tokens));
            if (t.Length > _batch.Capacity)
                throw new ArgumentException($"text {i} has {t.Length} tokens; the embedder reads at most {_batch.Capacity} per text", nameof(tokens));
            foreach (int token in t)
                if (!vocab.IsValid(token)) throw new ArgumentException($"text {i} has token {token}, outside the vocabulary (0..{vocab.Count - 1})", nameof(tokens));
        }
        var result = new float[tokens.Count][];
        int next = 0;
        while (next < tokens.Count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _context.ClearCache();
            _batch.Clear();
            var inBatch = new List<(int Text, int Sequence)>();
            while (next < tokens.Count && inBatch.Count < _context.MaxSequences)
            {
                int[] t = tokens[next];
                if (t.Length == 0) { result[next++] = new float[Dimension]; continue; } // nothing to read: the zero vector (similarity 0)
                if (_batch.Count + t.Length > _batch.Capacity) break;
                int seq = inBatch.Count;
                for (int i = 0; i < t.Length; i++) _batch.Add(t[i], i, seq, wantOutput: true);
                inBatch.Add((next++, seq));
            }
            if (inBatch.Count == 0) continue;
            _context.Decode(_batch, cancellationToken);
            foreach (var (text, seq) in inBatch) result[text] = _context.GetSequenceEmbedding(seq).ToArray();
        }
        return result;
    }

    public void Dispose()
    {
        _batch.Dispose();
        _context.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
