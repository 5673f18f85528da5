using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Inference;

namespace UQEngine.Methods.Samples.Similarity;

/// <summary>One answer as the similarity backends see it: its text and the model tokens it was generated as.</summary>
/// <param name="Text">The answer text (what lexical and text-embedding backends compare).</param>
/// <param name="TokenIds">The answer's token ids (what the hidden-state backend feeds back to the model).</param>
/// <param name="Pieces">Each token's text; their concatenation is <paramref name="Text"/> (for token ablation of texts).</param>
public sealed record AnswerTokens(string Text, int[] TokenIds, string[] Pieces)
{
    public int Count => TokenIds.Length;

    /// <summary>Where the answer was generated, when it still sits in the KV cache (the hidden-state backend reuses it).</summary>
    public CachedSequence? Cache { get; init; }
}

/// <summary>Answers to one prompt, to be compared with each other (and token by token with themselves).</summary>
/// <param name="Prompt">The prompt text the answers continue.</param>
/// <param name="PromptTokens">The prompt's token ids (with the special tokens the generation used).</param>
/// <param name="Answers">The answers.</param>
public sealed record AnswerSet(string Prompt, int[] PromptTokens, IReadOnlyList<AnswerTokens> Answers);

/// <summary>What a backend computed for an <see cref="AnswerSet"/>.</summary>
/// <param name="Matrix">K×K similarity of the answers, symmetric, in [0, 1], unit diagonal.</param>
/// <param name="TokenSimilarity">
/// When asked for: per answer, s_t = sim(answer, answer without token t) for every token t, the raw input of
/// SAR's relevance R_t = 1 − s_t (before <see cref="Sar.ApplyTokenConventions"/>).
/// </param>
public sealed record SentenceSimilarityResult(SquareMatrix Matrix, double[][]? TokenSimilarity);

/// <summary>
/// A notion of "same meaning" between answers, shared by every sampling method (semantic entropy's clusters,
/// the graph methods' affinities, SAR's sentence similarity and token relevance). Backends: the generating model's
/// own hidden states (<c>HiddenStateSimilarity</c>, the default), a GGUF embedding model
/// (<see cref="TextEmbeddingSimilarity"/> over <see cref="ITextEmbedder"/>), lexical overlap
/// (<see cref="LexicalSentenceSimilarity"/>). An NLI or cross-encoder model joins by implementing this interface
/// (or <see cref="ISimilarity"/> and wrapping it in <see cref="LexicalSentenceSimilarity"/>).
/// </summary>
public interface ISentenceSimilarity
{
    /// <summary>Short name for reports ("hidden", "embedding", "rouge-l", "jaccard").</summary>
    string Name { get; }

    /// <param name="answers">The answers.</param>
    /// <param name="tokenSimilarity">Also compute the per-token ablation similarities (costlier).</param>
    /// <param name="cancellationToken">Stops a backend that runs a model.</param>
    SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default);
}

/// <summary>
/// Any pairwise text similarity (<see cref="RougeLSimilarity"/>, <see cref="JaccardSimilarity"/>, a future
/// cross-encoder) as a backend: the answer matrix from <see cref="SimilarityMatrix.Build"/>, and token ablation by
/// text, sim(answer, answer with token t's characters removed) (<see cref="TokenAblation.Texts"/>; the answer alone,
/// no prompt prepended).
/// </summary>
public sealed class LexicalSentenceSimilarity(ISimilarity similarity, string name) : ISentenceSimilarity
{
    public string Name { get; } = name;

    public SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var matrix = SimilarityMatrix.Build(similarity, [.. answers.Answers.Select(a => a.Text)]);
        if (!tokenSimilarity) return new SentenceSimilarityResult(matrix, null);
        var tokens = new double[answers.Answers.Count][];
        for (int a = 0; a < tokens.Length; a++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var answer = answers.Answers[a];
            var (reference, ablated) = TokenAblation.Texts(answer.Text, TokenAblation.SpansFromPieces(answer.Pieces));
            tokens[a] = [.. ablated.Select(t => similarity.Score(reference, t))];
        }
        return new SentenceSimilarityResult(matrix, tokens);
    }
}

/// <summary>
/// Cosine similarity of text embeddings (a GGUF embedding model through llama.cpp's pooling, or any
/// <see cref="ITextEmbedder"/>), mapped to [0, 1] by <see cref="CosineMapping"/>. Token ablation embeds each
/// "answer with token t's characters removed" text; all texts of one call go to the embedder together.
/// </summary>
public sealed class TextEmbeddingSimilarity(ITextEmbedder embedder, CosineMapping mapping = CosineMapping.ClampNegative, string name = "embedding") : ISentenceSimilarity
{
    public string Name { get; } = name;

    public SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var texts = new List<string>(answers.Answers.Select(a => a.Text));
        var ablatedStart = new int[answers.Answers.Count];
        if (tokenSimilarity)
            for (int a = 0; a < answers.Answers.Count; a++)
            {
                var answer = answers.Answers[a];
                ablatedStart[a] = texts.Count;
                texts.AddRange(TokenAblation.Texts(answer.Text, TokenAblation.SpansFromPieces(answer.Pieces)).Ablated);
            }
        var embeddings = embedder.Embed(texts, cancellationToken);
        int k = answers.Answers.Count;
        var matrix = EmbeddingSimilarity.Matrix([.. embeddings.Take(k)], mapping);
        if (!tokenSimilarity) return new SentenceSimilarityResult(matrix, null);
        var tokens = new double[k][];
        for (int a = 0; a < k; a++)
        {
            tokens[a] = new double[answers.Answers[a].Count];
            for (int t = 0; t < tokens[a].Length; t++)
                tokens[a][t] = EmbeddingSimilarity.Cosine(embeddings[a], embeddings[ablatedStart[a] + t], mapping);
        }
        return new SentenceSimilarityResult(matrix, tokens);
    }
}
