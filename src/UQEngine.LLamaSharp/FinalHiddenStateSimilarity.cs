using LLama;
using LLama.Native;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.LLamaSharp;

/// <summary>
/// Sample similarity from the model's own final hidden states, through LLamaSharp: each answer's embedding is the mean,
/// over its tokens, of the final hidden state (llama.cpp's output-normed state, llama_get_embeddings_ith) with the
/// prompt before it; similarity is the cosine mapped to [0, 1] (max(0, cos) by default, as UQEngine's hidden backend).
/// </summary>
/// <remarks>
/// LLamaSharp 0.30.0 gives per-token final states when the context is created with <c>Embeddings = true</c> and
/// <c>PoolingType = None</c> (logits are still computed, so the same context can sample). It binds no per-layer
/// state: llama.cpp's <c>llama_set_embeddings_layer_inp</c>/<c>llama_get_embeddings_layer_inp</c> are in its
/// libllama.so only as C++ symbols, so UQEngine's default (the input of the middle layer) and its early exit are not
/// available here. Each answer is encoded again (prompt + answer in sequence 0 of the given context, cleared before
/// and after), where UQEngine's encoder reuses the samples' KV cells. Token ablation (SAR's relevance) is not offered:
/// <see cref="SampleConsistency"/> computes it lexically.
/// </remarks>
public sealed class FinalHiddenStateSimilarity(LLamaContext context, string prompt, CosineMapping mapping = CosineMapping.ClampNegative) : ISentenceSimilarity
{
    private readonly LLamaContext _context = context ?? throw new ArgumentNullException(nameof(context));
    private readonly string _prompt = prompt ?? throw new ArgumentNullException(nameof(prompt));

    public string Name => "hidden-final";

    public SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        if (tokenSimilarity)
            throw new NotSupportedException("final-hidden-state token ablation is not implemented for LLamaSharp; SampleConsistency computes SAR's relevance with ROUGE-L");
        var promptTokens = _context.Tokenize(_prompt, addBos: true, special: true);
        var embeddings = answers.Answers.Select(a =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Embed(promptTokens, a.TokenIds.Select(id => (LLamaToken)id).ToArray());
        }).ToList();
        return new SentenceSimilarityResult(EmbeddingSimilarity.Matrix(embeddings, mapping), null);
    }

    /// <summary>The mean final state over the answer's tokens (a zero vector for an answer with none).</summary>
    public float[] Embed(IReadOnlyList<LLamaToken> prompt, IReadOnlyList<LLamaToken> answer)
    {
        var handle = _context.NativeHandle;
        int width = _context.EmbeddingSize;
        var mean = new float[width];
        if (answer.Count == 0) return mean;
        int total = prompt.Count + answer.Count;
        if (total > _context.ContextSize) throw new ArgumentException($"prompt and answer are {total} tokens, but the context holds {_context.ContextSize}");
        var sequence = (LLamaSeqId)0;
        handle.MemorySequenceRemove(sequence, -1, -1);
        var batch = new LLamaBatch();
        int batchSize = (int)Math.Max(1, _context.BatchSize);
        try
        {
            for (int start = 0; start < total; start += batchSize)
            {
                batch.Clear();
                int end = Math.Min(total, start + batchSize);
                for (int position = start; position < end; position++)
                    batch.Add(position < prompt.Count ? prompt[position] : answer[position - prompt.Count], position, sequence, position >= prompt.Count);
                var result = _context.Decode(batch);
                if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed while encoding an answer ({result})");
                for (int position = Math.Max(start, prompt.Count); position < end; position++)
                {
                    var state = handle.GetEmbeddingsIth(position - start);
                    if (state.Length != width)
                        throw new InvalidOperationException("the context gives no per-token final states: create it with Embeddings = true and PoolingType = None");
                    System.Numerics.Tensors.TensorPrimitives.Add(mean, state, mean);
                }
            }
        }
        finally { handle.MemorySequenceRemove(sequence, -1, -1); }
        System.Numerics.Tensors.TensorPrimitives.Divide(mean, answer.Count, mean);
        return mean;
    }
}
