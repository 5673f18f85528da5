using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// Sentence embeddings from any GGUF model through llama.cpp's pooling (an embedding model's own pooling, or mean
/// pooling for a generative model): each text is one sequence, many texts go through one llama_decode, and
/// llama_get_embeddings_seq returns each sequence's pooled vector. Owns its model and context.
/// </summary>
public sealed class GgufTextEmbedder : ITextEmbedder, IDisposable
{
    private readonly LlamaModel _model;
    private readonly LlamaContext _context;
    private readonly LlamaBatchBuffer _batch;

    /// <param name="modelPath">The GGUF embedding model (validated by the managed reader first).</param>
    /// <param name="pooling">Model = what the file declares (mean when it declares none).</param>
    /// <param name="sequences">Texts per decode; rounded up to a power of two (llama.cpp's pooling needs it to divide the batch size).</param>
    /// <param name="batchSize">Tokens per decode; a text must fit in one.</param>
    /// <param name="modelOptions">Device and load settings.</param>
    public GgufTextEmbedder(string modelPath, SequencePooling pooling = SequencePooling.Model, int sequences = 16, int batchSize = 512, ModelOptions? modelOptions = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sequences, 256);
        sequences = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)sequences);
        if (batchSize % sequences != 0) throw new ArgumentException($"the batch size ({batchSize}) must be a multiple of {sequences} (texts per decode, rounded up to a power of two)", nameof(batchSize));
        _model = LlamaModel.Load(modelPath, modelOptions);
        try
        {
            _context = _model.CreateContext(new ContextOptions { Pooling = pooling, MaxSequences = sequences, BatchSize = batchSize, ContextSize = Math.Max(batchSize, 256) });
            _batch = new LlamaBatchBuffer(_context.BatchSize);
        }
        catch
        {
            _context?.Dispose();
            _model.Dispose();
            throw;
        }
    }

    public LlamaPoolingType Pooling => _context.PoolingType;

    public int Dimension => _context.HiddenSize;

    public IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var vocab = _model.Vocabulary;
        var tokens = new int[texts.Count][];
        for (int i = 0; i < texts.Count; i++)
        {
            tokens[i] = vocab.Tokenize(texts[i] ?? throw new ArgumentException($"text {i} is null", nameof(texts)), addSpecial: true, parseSpecial: false);
            if (tokens[i].Length > _batch.Capacity)
                throw new ArgumentException($"text {i} has {tokens[i].Length} tokens; the embedder reads at most {_batch.Capacity} per text", nameof(texts));
        }
        var result = new float[texts.Count][];
        int next = 0;
        while (next < texts.Count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _context.ClearCache();
            _batch.Clear();
            var inBatch = new List<(int Text, int Sequence)>();
            while (next < texts.Count && inBatch.Count < _context.MaxSequences)
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
        _model.Dispose();
    }
}
