using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods.Samples;

public class SimilarityTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void RougeL_is_the_lcs_f_measure()
    {
        // "the cat sat on the mat" vs "the cat is on the mat": 6 and 6 tokens, LCS = "the cat on the mat" = 5.
        // P = R = 5/6 → F = 5/6.
        var r = new RougeLSimilarity();
        Assert.Equal(5.0 / 6, r.Score("The cat sat on the mat.", "the cat is on the mat"), Tol);
        // "a b c d" vs "a c": LCS 2; P = 2/2, R = 2/4 → F = 2·1·½/(1 + ½) = 2/3 (= 2L/(|a|+|b|) = 4/6). Symmetric.
        Assert.Equal(2.0 / 3, r.Score("a b c d", "a c"), Tol);
        Assert.Equal(2.0 / 3, r.Score("a c", "a b c d"), Tol);
        Assert.Equal(0, r.Score("", "a"));
        Assert.Equal(0, r.Score("x y", "z"));
        Assert.Equal(1, r.Score("Paris!", "paris"), Tol); // alphanumeric tokens drop punctuation
    }

    [Fact]
    public void Jaccard_uses_lowercased_whitespace_tokens()
    {
        // {the, cat, sat} vs {the, cat, ran}: ∩ = 2, ∪ = 4 → ½.
        var j = new JaccardSimilarity();
        Assert.Equal(0.5, j.Score("The cat sat", "the cat ran"), Tol);
        // Whitespace split keeps punctuation: {cat.} vs {cat} share nothing (LM-Polygraph's lower().split()).
        Assert.Equal(0, j.Score("cat.", "cat"));
        Assert.Equal(1, new JaccardSimilarity(TokenNormalization.Alphanumeric).Score("cat.", "cat"));
        Assert.Equal(0, j.Score("", "  ")); // empty union → 0
    }

    [Fact]
    public void Matrix_is_symmetric_with_unit_diagonal_and_scores_repeated_pairs_once()
    {
        var counting = new CountingSimilarity();
        var m = ((ISimilarity)counting).Matrix(["a", "b", "a"]);
        Assert.Equal(3, m.Size);
        for (int i = 0; i < 3; i++) Assert.Equal(1, m[i, i]);
        Assert.Equal(m[0, 1], m[1, 0]);
        Assert.Equal(0.25, m[0, 1]);
        Assert.Equal(0.25, m[1, 2]);
        Assert.Equal(2, counting.Calls); // (a,b) once, (a,a) once; (b,a) reuses (a,b)
    }

    [Fact]
    public void Embedding_cosine_maps_to_unit_interval()
    {
        float[] x = [1, 0], y = [-1, 0], z = [0, 1], w = [1, 1];
        Assert.Equal(1, EmbeddingSimilarity.Cosine(x, y, CosineMapping.Absolute), 1e-6);
        Assert.Equal(0, EmbeddingSimilarity.Cosine(x, y, CosineMapping.ClampNegative), 1e-6);
        Assert.Equal(0, EmbeddingSimilarity.Cosine(x, y, CosineMapping.Affine), 1e-6);
        Assert.Equal(0.5, EmbeddingSimilarity.Cosine(x, z, CosineMapping.Affine), 1e-6);
        Assert.Equal(Math.Sqrt(0.5), EmbeddingSimilarity.Cosine(x, w), 1e-6); // cos 45°
        Assert.Equal(0, EmbeddingSimilarity.Cosine(x, [0, 0])); // zero vector: no NaN
        var m = EmbeddingSimilarity.Matrix([x, z, w]);
        Assert.Equal(1, m[1, 1]);
        Assert.Equal(Math.Sqrt(0.5), m[2, 1], 1e-6);
    }

    [Fact]
    public void Nli_matrices_are_directional()
    {
        var nli = NliMatrices.Build(new OneWayNli(), ["long answer", "short"]);
        // "long answer" → "short" entails; the reverse is neutral.
        Assert.True(nli.Entails(0, 1));
        Assert.False(nli.Entails(1, 0));
        Assert.Equal(0.1, nli.Contradiction[1, 0]);
    }

    private sealed class CountingSimilarity : ISimilarity
    {
        public int Calls;
        public double Score(string a, string b) { Calls++; return a == b ? 1 : 0.25; }
    }

    private sealed class OneWayNli : INliScorer
    {
        public NliProbabilities Predict(string premise, string hypothesis) =>
            premise.Length >= hypothesis.Length ? new(0.8, 0.1, 0.1) : new(0.2, 0.7, 0.1);
    }
}
