using UQEngine.Methods.Samples.LinearAlgebra;
namespace UQEngine.Methods.Samples;

/// <summary>
/// Spectral / degree uncertainty of the sample-similarity graph (Lin, Trivedi, Sun, arXiv 2305.19187), as
/// LM-Polygraph's eig_val_laplacian.py, deg_mat.py and eccentricity.py compute them. Higher = more uncertain.
/// </summary>
/// <remarks>
/// <para>The affinity W is the K×K similarity matrix symmetrised as (W + Wᵀ)/2 (a no-op for symmetric W; LM-Polygraph
/// symmetrises NLI matrices and builds Jaccard symmetric). LM-Polygraph's NLI affinities are W = P_entail ("entail",
/// the default) or W = 1 − P_contra ("contra", <see cref="SquareMatrix.OneMinus"/>); its lexical alternative is the
/// Jaccard matrix with unit diagonal.</para>
/// <para>Degrees d_i = Σ_j W_ij, D = diag(d), normalised Laplacian L = I − D^(−1/2) W D^(−1/2). A zero degree
/// (a sample with zero similarity to everything, itself included) is treated as a self-loop: its row and column of
/// D^(−1/2) W D^(−1/2) are the unit vector, so L_ii = 0 and the sample counts as its own semantic set (numpy's
/// inverse raises there). With a zero matrix EigValLaplacian is therefore K, as for an identity W.</para>
/// </remarks>
public static class GraphUncertainty
{
    /// <summary>LM-Polygraph's Eccentricity eigenvalue threshold: eigenvectors with λ &lt; 0.9 are kept.</summary>
    public const double DefaultEccentricityThreshold = 0.9;

    /// <summary>The normalised graph Laplacian L = I − D^(−1/2) W D^(−1/2) of the symmetrised affinity.</summary>
    public static SquareMatrix NormalizedLaplacian(SquareMatrix affinity)
    {
        var w = Affinity(affinity);
        int n = w.Size;
        Span<double> inv = n <= 256 ? stackalloc double[n] : new double[n];
        for (int i = 0; i < n; i++)
        {
            double d = 0;
            foreach (double v in w.Row(i)) d += v;
            inv[i] = d > 0 ? 1 / Math.Sqrt(d) : 0;
        }
        var l = new SquareMatrix(n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                l[i, j] = (i == j ? 1 : 0) - inv[i] * w[i, j] * inv[j];
        for (int i = 0; i < n; i++)
            if (inv[i] == 0) l[i, i] = 0; // isolated: self-loop convention
        return l;
    }

    /// <summary>EigValLaplacian: U = Σ_k max(0, 1 − λ_k(L)). A continuous count of semantic sets (K disconnected samples → K).</summary>
    public static double EigValLaplacian(SquareMatrix affinity)
    {
        double u = 0;
        foreach (double lambda in SymmetricEigen.Eigenvalues(NormalizedLaplacian(affinity))) u += Math.Max(0, 1 - lambda);
        return u;
    }

    /// <summary>
    /// DegMat: U = trace(K·I − D)/K² = 1 − Σ_ij W_ij / K² (LM-Polygraph's <c>np.trace(len(answers) − D) / len(answers)²</c>;
    /// the diagonal of W counts). 0 when every pair is fully similar.
    /// </summary>
    public static double DegreeMatrix(SquareMatrix affinity)
    {
        var w = Affinity(affinity);
        int k = w.Size;
        if (k == 0) throw new ArgumentException("At least one sample is needed.", nameof(affinity));
        return 1 - w.Sum() / ((double)k * k);
    }

    /// <summary>
    /// Eccentricity. Let u_1..u_m be the unit eigenvectors of L with eigenvalue λ &lt; <paramref name="threshold"/>
    /// (all of them when the threshold is null), U = [u_1..u_m] (K×m), and v_j = row j of U (sample j's spectral
    /// embedding), v̄ = mean_j v_j. Then U_Ecc = ‖[v_1 − v̄; …; v_K − v̄]‖_F = sqrt(Σ_l Σ_j (u_l[j] − mean(u_l))²), and the
    /// per-sample confidence is C_j = −‖v_j − v̄‖₂. LM-Polygraph computes U_Ecc as the 2-norm of the per-eigenvector
    /// norms ‖u_l − mean(u_l)‖, which is the same number; its per-item vector is per eigenvector (and depends on the
    /// eigenbasis) rather than the paper's per-sample C_j returned here. U_Ecc and C_j depend only on the kept
    /// eigenspace, not on the basis chosen within it.
    /// </summary>
    public static double Eccentricity(SquareMatrix affinity, double? threshold = DefaultEccentricityThreshold) =>
        Eccentricity(affinity, out _, threshold);

    /// <inheritdoc cref="Eccentricity(SquareMatrix, double?)"/>
    public static double Eccentricity(SquareMatrix affinity, out double[] sampleConfidence, double? threshold = DefaultEccentricityThreshold)
    {
        var l = NormalizedLaplacian(affinity);
        int k = l.Size;
        double[] lambda = SymmetricEigen.Decompose(l, out var vectors);
        sampleConfidence = new double[k];
        var sq = new double[k];
        double total = 0;
        for (int c = 0; c < k; c++)
        {
            if (threshold is double t && !(lambda[c] < t)) continue;
            double mean = 0;
            for (int r = 0; r < k; r++) mean += vectors[r, c];
            mean /= k;
            for (int r = 0; r < k; r++)
            {
                double d = vectors[r, c] - mean;
                sq[r] += d * d;
                total += d * d;
            }
        }
        for (int r = 0; r < k; r++) sampleConfidence[r] = -Math.Sqrt(sq[r]);
        return Math.Sqrt(total);
    }

    private static SquareMatrix Affinity(SquareMatrix affinity)
    {
        ArgumentNullException.ThrowIfNull(affinity);
        affinity.RequireFinite(nameof(affinity));
        foreach (double v in affinity.AsSpan())
            if (v < 0) throw new ArgumentException($"Affinities must be non-negative (found {v}).", nameof(affinity));
        return affinity.Symmetrized();
    }
}

/// <summary>
/// Lexical similarity (Fomicheva et al.; LM-Polygraph lexical_similarity.py): U = −mean_{i&lt;j} sim(y_i, y_j) over the
/// K(K−1)/2 unordered sample pairs, with ROUGE-L F1 by default. Higher = more uncertain; ranges [−1, 0].
/// For K = 1 (no pairs; LM-Polygraph's mean of nothing is NaN) this returns −1, the value for identical samples.
/// </summary>
public static class LexicalSimilarity
{
    /// <summary>From a precomputed matrix (upper triangle read).</summary>
    public static double Compute(SquareMatrix similarity)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        similarity.RequireFinite(nameof(similarity));
        int k = similarity.Size;
        if (k == 0) throw new ArgumentException("At least one sample is needed.", nameof(similarity));
        if (k == 1) return -1;
        double s = 0;
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++) s += similarity[i, j];
        return -s / (k * (k - 1) / 2.0);
    }

    /// <summary>From texts and a similarity (default ROUGE-L F1).</summary>
    public static double Compute(IReadOnlyList<string> texts, Similarity.ISimilarity? similarity = null) =>
        Compute((similarity ?? new Similarity.RougeLSimilarity()).Matrix(texts));
}
