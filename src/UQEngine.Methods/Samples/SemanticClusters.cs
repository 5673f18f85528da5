using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods.Samples;

/// <summary>A partition of K samples into semantic classes.</summary>
/// <param name="SampleToClass">Class index of each sample.</param>
/// <param name="ClassToSamples">Members of each class, in sample order; class c's first member is its representative.</param>
public sealed record SemanticClusters(int[] SampleToClass, int[][] ClassToSamples)
{
    public int ClassCount => ClassToSamples.Length;
    public int SampleCount => SampleToClass.Length;

    /// <summary>
    /// LM-Polygraph's greedy rule (stat_calculators/semantic_classes.py): sample 0 opens class 0; each later sample i
    /// joins the first existing class c (in creation order) whose representative r (its first member) satisfies
    /// entails(r, i) and entails(i, r); otherwise it opens a new class. Only the representative is tested, so the
    /// result is not transitive-closure clustering (see <see cref="SemanticSets"/> for that).
    /// </summary>
    public static SemanticClusters Greedy(int sampleCount, Func<int, int, bool> entails)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCount);
        ArgumentNullException.ThrowIfNull(entails);
        var sampleToClass = new int[sampleCount];
        var classes = new List<List<int>>();
        for (int i = 0; i < sampleCount; i++)
        {
            int found = -1;
            for (int c = 0; c < classes.Count && found < 0; c++)
            {
                int r = classes[c][0];
                if (entails(r, i) && entails(i, r)) found = c;
            }
            if (found < 0) { found = classes.Count; classes.Add([]); }
            classes[found].Add(i);
            sampleToClass[i] = found;
        }
        return new SemanticClusters(sampleToClass, classes.Select(c => c.ToArray()).ToArray());
    }

    /// <summary>
    /// Greedy classes from a similarity matrix: "entails(i, j)" is S[i, j] ≥ <paramref name="threshold"/>
    /// (tested both ways, so a non-symmetric S is handled like NLI). The threshold is this library's choice:
    /// LM-Polygraph clusters only with NLI.
    /// </summary>
    public static SemanticClusters Greedy(SquareMatrix similarity, double threshold = SemanticSets.DefaultSimilarityThreshold)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        similarity.RequireFinite(nameof(similarity));
        return Greedy(similarity.Size, (i, j) => similarity[i, j] >= threshold);
    }

    /// <summary>Greedy classes with LM-Polygraph's NLI test: entailment is the arg-max label in both directions.</summary>
    public static SemanticClusters Greedy(NliMatrices nli)
    {
        ArgumentNullException.ThrowIfNull(nli);
        return Greedy(nli.Entailment.Size, nli.Entails);
    }
}

/// <summary>
/// Number of semantic sets (NumSemSets; Lin et al., arXiv 2305.19187), as LM-Polygraph's num_sem_sets.py: an
/// undirected graph joins i and j when the pair passes the test in both directions, and the estimate is the number
/// of its connected components (so membership is transitive, unlike <see cref="SemanticClusters.Greedy(int, Func{int, int, bool})"/>).
/// Ranges 1..K for K ≥ 1; higher = more uncertain.
/// </summary>
public static class SemanticSets
{
    /// <summary>Default similarity threshold for the similarity-matrix forms (this library's choice).</summary>
    public const double DefaultSimilarityThreshold = 0.5;

    /// <summary>Connected components of the graph with an edge i–j iff related(i, j) and related(j, i).</summary>
    public static int Count(int sampleCount, Func<int, int, bool> related)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCount);
        ArgumentNullException.ThrowIfNull(related);
        Span<int> parent = sampleCount <= 256 ? stackalloc int[sampleCount] : new int[sampleCount];
        for (int i = 0; i < sampleCount; i++) parent[i] = i;
        int components = sampleCount;
        for (int i = 0; i < sampleCount; i++)
            for (int j = i + 1; j < sampleCount; j++)
                if (related(i, j) && related(j, i))
                {
                    int a = Find(parent, i), b = Find(parent, j);
                    if (a != b) { parent[Math.Max(a, b)] = Math.Min(a, b); components--; }
                }
        return components;
    }

    /// <summary>LM-Polygraph's test: p_entail(i→j) &gt; p_contra(i→j), required in both directions.</summary>
    public static int Count(SquareMatrix entailment, SquareMatrix contradiction)
    {
        ArgumentNullException.ThrowIfNull(entailment);
        ArgumentNullException.ThrowIfNull(contradiction);
        contradiction.RequireSize(entailment.Size, nameof(contradiction));
        return Count(entailment.Size, (i, j) => entailment[i, j] > contradiction[i, j]);
    }

    /// <summary>Similarity form: related(i, j) iff S[i, j] ≥ threshold.</summary>
    public static int Count(SquareMatrix similarity, double threshold = DefaultSimilarityThreshold)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        similarity.RequireFinite(nameof(similarity));
        return Count(similarity.Size, (i, j) => similarity[i, j] >= threshold);
    }

    private static int Find(Span<int> parent, int i)
    {
        while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; }
        return i;
    }
}
