using UQEngine.Methods.Samples.LinearAlgebra;
namespace UQEngine.Methods.Samples.Similarity;

/// <summary>
/// A similarity between two texts in [0, 1] (1 = same meaning / same words). Implementations must be symmetric
/// unless they say otherwise; directional scorers (NLI) use <see cref="INliScorer"/> instead.
/// </summary>
public interface ISimilarity
{
    /// <summary>sim(a, b) ∈ [0, 1].</summary>
    double Score(string a, string b);

    /// <summary>
    /// The K×K symmetric matrix S with S[i,j] = Score(texts[i], texts[j]) for i ≠ j (each unordered pair scored
    /// once) and S[i,i] = 1 (a text is identical to itself; LM-Polygraph's Jaccard matrix starts from the identity
    /// for the same reason). Identical strings are scored once per distinct pair of strings.
    /// </summary>
    SquareMatrix Matrix(IReadOnlyList<string> texts) => SimilarityMatrix.Build(this, texts);
}

/// <summary>Builds similarity matrices from any <see cref="ISimilarity"/>.</summary>
public static class SimilarityMatrix
{
    /// <summary>See <see cref="ISimilarity.Matrix"/>. Pairs of equal strings reuse the first score computed.</summary>
    public static SquareMatrix Build(ISimilarity similarity, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        ArgumentNullException.ThrowIfNull(texts);
        int n = texts.Count;
        var m = new SquareMatrix(n);
        var cache = new Dictionary<(string, string), double>();
        for (int i = 0; i < n; i++)
        {
            m[i, i] = 1;
            for (int j = i + 1; j < n; j++)
            {
                string a = texts[i], b = texts[j];
                var key = string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);
                if (!cache.TryGetValue(key, out double s))
                {
                    s = similarity.Score(a, b);
                    if (!(s >= 0 && s <= 1)) throw new InvalidOperationException($"Similarity {s} for pair ({i}, {j}) is outside [0, 1].");
                    cache[key] = s;
                }
                m[i, j] = m[j, i] = s;
            }
        }
        return m;
    }
}
