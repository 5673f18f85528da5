using UQEngine.Inference;
using UQEngine.Native;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods;

/// <summary>The similarity backends: llama.cpp pooling through the binding, lexical token ablation, the hidden-state backend.</summary>
[Trait("Category", "Integration")]
public sealed class SimilarityBackendTests
{
    /// <summary>The final hidden states of every token of a text, read with a per-token context (independent of pooling).</summary>
    private static float[][] TokenStates(LlamaModel model, int[] tokens)
    {
        using var context = model.CreateContext(new ContextOptions { ContextSize = 128, FinalHiddenState = true });
        using var batch = new LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: true);
        context.Decode(batch);
        return [.. Enumerable.Range(0, tokens.Length).Select(i => context.GetFinalHiddenState(i).ToArray())];
    }

    [Theory]
    [InlineData(SequencePooling.Mean)]
    [InlineData(SequencePooling.Last)]
    [InlineData(SequencePooling.Model)] // the synthetic llama declares no pooling: mean is the fallback
    public void Pooled_embeddings_are_the_mean_or_last_of_the_token_states_for_each_text_in_one_batch(SequencePooling pooling)
    {
        string[] texts = ["Hello world", "the cat sat on the mat", "blue"];
        using var embedder = new GgufTextEmbedder(TestModels.SyntheticPath, pooling, sequences: 4);
        Assert.Equal(pooling == SequencePooling.Last ? LlamaPoolingType.Last : LlamaPoolingType.Mean, embedder.Pooling);
        var embeddings = embedder.Embed(texts);
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        for (int t = 0; t < texts.Length; t++)
        {
            var states = TokenStates(model, model.Vocabulary.Tokenize(texts[t], addSpecial: true));
            var expected = new double[states[0].Length];
            if (pooling == SequencePooling.Last) expected = [.. states[^1].Select(v => (double)v)];
            else
                foreach (var h in states)
                    for (int k = 0; k < h.Length; k++) expected[k] += h[k] / states.Length;
            Assert.Equal(expected.Length, embeddings[t].Length);
            for (int k = 0; k < expected.Length; k++) Assert.Equal(expected[k], embeddings[t][k], 3e-4);
        }
        Assert.NotEqual(embeddings[0], embeddings[1]);
    }

    [Fact]
    public void Pooling_and_per_token_states_exclude_each_other_and_unpooled_contexts_refuse_sequence_embeddings()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        Assert.Throws<ArgumentException>(() => model.CreateContext(new ContextOptions { Pooling = SequencePooling.Mean, FinalHiddenState = true }));
        // 3 sequences do not divide a 512-token batch: llama.cpp v0.5.0 would abort the process; refused instead.
        Assert.Contains("must divide", Assert.Throws<ArgumentException>(() => model.CreateContext(new ContextOptions { Pooling = SequencePooling.Mean, MaxSequences = 3, BatchSize = 512 })).Message);
        using var plain = model.CreateContext(new ContextOptions { ContextSize = 64 });
        Assert.Throws<InvalidOperationException>(() => plain.GetSequenceEmbedding(0));
    }

    [Fact]
    public void Text_embedding_backend_batches_answers_and_ablations()
    {
        using var embedder = new GgufTextEmbedder(TestModels.SyntheticPath, SequencePooling.Mean, sequences: 3);
        var backend = new TextEmbeddingSimilarity(embedder, CosineMapping.Affine);
        var answers = new AnswerSet("Q:", [1], [
            new AnswerTokens("the cat", [1, 2], ["the", " cat"]),
            new AnswerTokens("a dog", [3, 4], ["a", " dog"]),
        ]);
        var r = backend.Compute(answers, tokenSimilarity: true);
        var e = embedder.Embed(["the cat", "a dog", " cat", "the"]);
        Assert.Equal(EmbeddingSimilarity.Cosine(e[0], e[1], CosineMapping.Affine), r.Matrix[0, 1], 6);
        Assert.Equal(EmbeddingSimilarity.Cosine(e[0], e[2], CosineMapping.Affine), r.TokenSimilarity![0][0], 6); // "the cat" without "the"
        Assert.Equal(EmbeddingSimilarity.Cosine(e[0], e[3], CosineMapping.Affine), r.TokenSimilarity![0][1], 6); // without " cat"
    }

    [Fact]
    public void Lexical_backend_scores_token_ablations_by_hand_computed_rouge_l()
    {
        var backend = new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l");
        var answers = new AnswerSet("Q:", [1], [
            new AnswerTokens("the cat sat", [1, 2, 3], ["the", " cat", " sat"]),
            new AnswerTokens("a cat", [4, 2], ["a", " cat"]),
        ]);
        var r = backend.Compute(answers, tokenSimilarity: true);
        // (the cat sat) vs (a cat): LCS 1 → 2·1/(3 + 2) = 0.4.
        Assert.Equal(0.4, r.Matrix[0, 1], 12);
        // Without one word: LCS 2 of 3 and 2 words → 2·2/(3 + 2) = 0.8, for each of the three.
        Assert.All(r.TokenSimilarity![0], v => Assert.Equal(0.8, v, 12));
        Assert.Equal(3, r.TokenSimilarity![0].Length);
        // "a cat" without "a" = " cat": LCS 1 → 2/(2 + 1); without " cat" = "a": the same.
        Assert.Equal(2, r.TokenSimilarity![1].Length);
        Assert.All(r.TokenSimilarity![1], v => Assert.Equal(2.0 / 3, v, 12));
    }

    [Fact]
    public void Hidden_state_backend_is_the_cosine_of_the_encoders_mean_states()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true, MaxSequences = 8 });
        using var encoder = new AnswerEncoder(context);
        int[] prompt = model.Vocabulary.Tokenize("Q: colour of the sky?\nA:", addSpecial: true);
        int[] a = model.Vocabulary.Tokenize(" blue sky", addSpecial: false), b = model.Vocabulary.Tokenize(" grey", addSpecial: false);
        var set = new AnswerSet("", prompt, [new AnswerTokens(" blue sky", a, []), new AnswerTokens(" grey", b, [])]);
        var r = new HiddenStateSimilarity(encoder, CosineMapping.Affine).Compute(set, tokenSimilarity: true);
        var naive = encoder.EncodeNaive(prompt, [a, b], ablations: true);
        Assert.Equal(EmbeddingSimilarity.Cosine(naive[0].Embedding, naive[1].Embedding, CosineMapping.Affine), r.Matrix[0, 1], 4);
        for (int t = 0; t < a.Length; t++)
            Assert.Equal(EmbeddingSimilarity.Cosine(naive[0].Embedding, naive[0].Ablations[t], CosineMapping.Affine), r.TokenSimilarity![0][t], 4);
        Assert.Equal(1.0, r.Matrix[0, 0]);
    }
}
