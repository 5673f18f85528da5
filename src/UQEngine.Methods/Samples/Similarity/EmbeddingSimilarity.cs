using UQEngine.Methods.Samples.LinearAlgebra;
using System.Numerics.Tensors;

namespace UQEngine.Methods.Samples.Similarity;

/// <summary>How a cosine in [−1, 1] becomes a similarity in [0, 1].</summary>
public enum CosineMapping
{
    /// <summary>|cos| — what the Inv-Entropy reference uses for its sentence-embedding similarity matrices.</summary>
    Absolute,
    /// <summary>max(0, cos).</summary>
    ClampNegative,
    /// <summary>(1 + cos)/2.</summary>
    Affine,
}

/// <summary>
/// Cosine similarity of sentence embeddings (e.g. pooled hidden states), via
/// <see cref="TensorPrimitives.CosineSimilarity(ReadOnlySpan{float}, ReadOnlySpan{float})"/>. A zero vector has
/// similarity 0 to everything except itself.
/// </summary>
public static class EmbeddingSimilarity
{
    /// <summary>Mapped cosine of two vectors of equal length.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b, CosineMapping mapping = CosineMapping.Absolute)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Embedding lengths differ ({a.Length} vs {b.Length}).", nameof(b));
        if (a.Length == 0) return 0;
        double cos = TensorPrimitives.CosineSimilarity(a, b);
        if (double.IsNaN(cos)) return 0; // a zero vector
        cos = Math.Clamp(cos, -1, 1);
        return mapping switch
        {
            CosineMapping.Absolute => Math.Abs(cos),
            CosineMapping.ClampNegative => Math.Max(0, cos),
            CosineMapping.Affine => 0.5 * (1 + cos),
            _ => throw new ArgumentOutOfRangeException(nameof(mapping)),
        };
    }

    /// <summary>K×K matrix of mapped cosines; the diagonal is 1.</summary>
    public static SquareMatrix Matrix(IReadOnlyList<float[]> embeddings, CosineMapping mapping = CosineMapping.Absolute)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        int n = embeddings.Count;
        var m = new SquareMatrix(n);
        for (int i = 0; i < n; i++)
        {
            m[i, i] = 1;
            for (int j = i + 1; j < n; j++)
                m[i, j] = m[j, i] = Cosine(embeddings[i], embeddings[j], mapping);
        }
        return m;
    }
}
