using System.Numerics.Tensors;
using UQEngine.Inference;
using UQEngine.MiniLM;

namespace UQEngine.Tests.MiniLM;

/// <summary>all-MiniLM-L6-v2 through ONNX Runtime: a reference sanity check (loads the 90 MB model).</summary>
[Trait("Category", "Integration")]
public sealed class MiniLmEmbedderTests
{
    [Fact]
    public void Paraphrases_score_far_above_an_unrelated_sentence_and_vectors_are_unit_384()
    {
        using var embedder = new MiniLmEmbedder(threads: 2);
        var e = embedder.Embed(["A man is playing a guitar.", "A person plays the guitar.", "The stock market fell today."]);
        Assert.All(e, v => Assert.Equal(384, v.Length));
        Assert.All(e, v => Assert.InRange(TensorPrimitives.Norm(v), 0.9999f, 1.0001f));
        float paraphrase = TensorPrimitives.CosineSimilarity(e[0], e[1]);
        float unrelated = TensorPrimitives.CosineSimilarity(e[0], e[2]);
        Assert.True(paraphrase > 0.7f, $"paraphrase cosine {paraphrase}");
        Assert.True(unrelated < 0.2f, $"unrelated cosine {unrelated}");
        Assert.True(paraphrase - unrelated > 0.5f);
    }

    [Fact]
    public void A_batch_equals_one_text_at_a_time()
    {
        using var embedder = new MiniLmEmbedder(threads: 2);
        string[] texts = ["Hi", "Zaibath lives in Daixburg, a city by the sea.", "", "日本語のテキスト", "Café résumé"];
        var batch = embedder.Embed(texts);
        for (int i = 0; i < texts.Length; i++)
        {
            var alone = embedder.Embed([texts[i]])[0];
            for (int d = 0; d < alone.Length; d++) Assert.Equal(alone[d], batch[i][d], 1e-4f);
        }
    }

    [Fact]
    public void Serves_the_embedding_similarity_with_batched_token_ablation()
    {
        using var embedder = new MiniLmEmbedder(threads: 2);
        ITextEmbedder asEmbedder = embedder;
        var e = asEmbedder.Embed(["Paris", "It is Paris", "London"]);
        Assert.True(TensorPrimitives.CosineSimilarity(e[0], e[1]) > TensorPrimitives.CosineSimilarity(e[0], e[2]));
    }
}
