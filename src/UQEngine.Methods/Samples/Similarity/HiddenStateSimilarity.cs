using UQEngine.Inference;

namespace UQEngine.Methods.Samples.Similarity;

/// <summary>
/// The default backend: no extra model. Each answer's sentence embedding is the mean of the generating model's
/// final hidden states over the answer's tokens, read after the prompt (<see cref="AnswerEncoder"/>); similarity is
/// their cosine mapped to [0, 1]. Answers still in the KV cache from their sampling (with states captured there) are
/// not decoded again. Token ablation re-reads each "answer without token t" with the shared prefix's KV cells
/// reused, all variants batched together.
/// </summary>
/// <remarks>
/// Hidden states of one model are anisotropic (cosines between unrelated answers are often far above 0), so a
/// clustering threshold tuned for a lexical or embedding-model backend does not carry over: the sensitivity report
/// (<c>uqengine sensitivity</c>) shows how the threshold moves the results.
/// </remarks>
public sealed class HiddenStateSimilarity(AnswerEncoder encoder, CosineMapping mapping = CosineMapping.ClampNegative) : ISentenceSimilarity
{
    public string Name => "hidden";

    public SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var encoded = encoder.Encode(answers.PromptTokens, [.. answers.Answers.Select(a => a.TokenIds)], tokenSimilarity,
            [.. answers.Answers.Select(a => a.Cache)], cancellationToken);
        var matrix = EmbeddingSimilarity.Matrix([.. encoded.Select(e => e.Embedding)], mapping);
        if (!tokenSimilarity) return new SentenceSimilarityResult(matrix, null);
        var tokens = new double[encoded.Count][];
        for (int a = 0; a < tokens.Length; a++)
            tokens[a] = [.. encoded[a].Ablations.Select(v => EmbeddingSimilarity.Cosine(encoded[a].Embedding, v, mapping))];
        return new SentenceSimilarityResult(matrix, tokens);
    }
}
