using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods.Samples;

public class GraphUncertaintyTests
{
    private const double Tol = 1e-10;

    // W(a): unit diagonal, a off the diagonal (3 samples). Degrees 1 + 2a, so D^(−½) W D^(−½) = W/(1 + 2a).
    // W's eigenvalues: 1 + 2a (vector 1), 1 − a (twice) → normalised 1 and (1 − a)/(1 + 2a) (twice)
    // → L's eigenvalues 0 and 3a/(1 + 2a) (twice).
    private static SquareMatrix Uniform3(double a) => SquareMatrix.FromRows([1, a, a], [a, 1, a], [a, a, 1]);

    // Samples 0, 1 identical, 2 unrelated. D = diag(2, 2, 1); D^(−½)WD^(−½) = [[.5,.5,0],[.5,.5,0],[0,0,1]]
    // with eigenvalues 1 ([1,1,0]/√2), 0 ([1,−1,0]/√2), 1 ([0,0,1]) → L's eigenvalues 0, 0, 1.
    private static SquareMatrix Blocks() => SquareMatrix.FromRows([1, 1, 0], [1, 1, 0], [0, 0, 1]);

    [Fact]
    public void Jacobi_matches_closed_forms_and_reconstructs()
    {
        Assert.Equal([1.0, 3.0], SymmetricEigen.Eigenvalues(SquareMatrix.FromRows([2, 1], [1, 2])).Select(v => Math.Round(v, 12)));
        double[] l = SymmetricEigen.Eigenvalues(GraphUncertainty.NormalizedLaplacian(Uniform3(0.5)));
        Assert.Equal(0, l[0], Tol);
        Assert.Equal(0.75, l[1], Tol); // 3·0.5/2
        Assert.Equal(0.75, l[2], Tol);

        // A random symmetric 7×7: A v_k = λ_k v_k and VᵀV = I.
        var rng = new Random(7);
        var a = new SquareMatrix(7);
        for (int i = 0; i < 7; i++)
            for (int j = i; j < 7; j++) a[i, j] = a[j, i] = rng.NextDouble() * 2 - 1;
        double[] lambda = SymmetricEigen.Decompose(a, out var v);
        for (int k = 0; k < 7; k++)
        {
            if (k > 0) Assert.True(lambda[k] >= lambda[k - 1]);
            for (int r = 0; r < 7; r++)
            {
                double av = 0;
                for (int c = 0; c < 7; c++) av += a[r, c] * v[c, k];
                Assert.Equal(lambda[k] * v[r, k], av, 1e-10);
            }
            for (int k2 = 0; k2 < 7; k2++)
            {
                double dot = 0;
                for (int r = 0; r < 7; r++) dot += v[r, k] * v[r, k2];
                Assert.Equal(k == k2 ? 1 : 0, dot, 1e-10);
            }
        }
    }

    [Fact]
    public void EigValLaplacian_hand_values()
    {
        // Σ max(0, 1 − λ) = 1 + 2(1 − a)/(1 + 2a).
        Assert.Equal(1.5, GraphUncertainty.EigValLaplacian(Uniform3(0.5)), Tol);       // 1 + 2·0.5/2
        Assert.Equal(1 + 0.4 / 2.6, GraphUncertainty.EigValLaplacian(Uniform3(0.8)), Tol);
        Assert.Equal(1, GraphUncertainty.EigValLaplacian(Uniform3(1)), Tol);           // identical samples
        Assert.Equal(3, GraphUncertainty.EigValLaplacian(Uniform3(0)), Tol);           // unrelated samples
        Assert.Equal(2, GraphUncertainty.EigValLaplacian(Blocks()), Tol);              // 1 + 1 + 0
        Assert.Equal(1, GraphUncertainty.EigValLaplacian(SquareMatrix.Identity(1)), Tol);
        Assert.Equal(3, GraphUncertainty.EigValLaplacian(new SquareMatrix(3)), Tol);   // zero matrix: self-loop convention
    }

    [Fact]
    public void DegMat_hand_values()
    {
        // 1 − ΣW/K²: (3 + 6a)/9 summed.
        Assert.Equal(1.0 / 3, GraphUncertainty.DegreeMatrix(Uniform3(0.5)), Tol);     // 1 − 6/9
        Assert.Equal(4.0 / 9, GraphUncertainty.DegreeMatrix(Blocks()), Tol);          // 1 − 5/9
        Assert.Equal(0, GraphUncertainty.DegreeMatrix(Uniform3(1)), Tol);
        Assert.Equal(0, GraphUncertainty.DegreeMatrix(SquareMatrix.Identity(1)), Tol);
        Assert.Equal(1, GraphUncertainty.DegreeMatrix(new SquareMatrix(2)), Tol);
        // Directional input is symmetrised: [[1, .2], [.6, 1]] → off-diagonal .4 → 1 − 2.8/4.
        Assert.Equal(0.3, GraphUncertainty.DegreeMatrix(SquareMatrix.FromRows([1, 0.2], [0.6, 1])), Tol);
    }

    [Fact]
    public void Eccentricity_hand_values()
    {
        // a = 0.5: λ = 0, .75, .75 all < .9 → all three eigenvectors kept, an orthonormal basis U.
        // ‖(I − J/3) U‖_F² = trace(I − J/3) = 2 → √2.
        Assert.Equal(Math.Sqrt(2), GraphUncertainty.Eccentricity(Uniform3(0.5)), Tol);
        // a = 0.8: 3·.8/2.6 = .923 ≥ .9 → only λ = 0, eigenvector ∝ D^(½)1 = constant → centred to 0.
        Assert.Equal(0, GraphUncertainty.Eccentricity(Uniform3(0.8)), Tol);
        // No threshold keeps everything: √2 again.
        Assert.Equal(Math.Sqrt(2), GraphUncertainty.Eccentricity(Uniform3(0.8), threshold: null), Tol);

        // Blocks: kept eigenspace λ = 0 is span{[1,1,0]/√2, [0,0,1]}; its projector Π = [[.5,.5,0],[.5,.5,0],[0,0,1]]
        // has Π1 = 1, so (I − J/3)Π(I − J/3) = Π − J/3, diagonal (1/6, 1/6, 2/3), trace 1 → U = 1;
        // per-sample C_j = −√diag = (−√(1/6), −√(1/6), −√(2/3)). Independent of the basis Jacobi picks.
        double u = GraphUncertainty.Eccentricity(Blocks(), out double[] c);
        Assert.Equal(1, u, Tol);
        Assert.Equal(-Math.Sqrt(1.0 / 6), c[0], Tol);
        Assert.Equal(-Math.Sqrt(1.0 / 6), c[1], Tol);
        Assert.Equal(-Math.Sqrt(2.0 / 3), c[2], Tol);

        Assert.Equal(0, GraphUncertainty.Eccentricity(SquareMatrix.Identity(1)), Tol);
        Assert.Equal(0, GraphUncertainty.Eccentricity(Uniform3(1)), Tol);             // identical: L eigenvalues 0, 1.5, 1.5
    }

    [Fact]
    public void Lexical_similarity_is_minus_the_mean_pairwise_similarity()
    {
        // ROUGE-L: ("a b","a b") = 1, ("a b","c") = 0, ("a b","c") = 0 → −1/3.
        Assert.Equal(-1.0 / 3, LexicalSimilarity.Compute(["a b", "a b", "c"]), Tol);
        Assert.Equal(-0.5, LexicalSimilarity.Compute(SquareMatrix.FromRows([1, 0.5], [0.5, 1])), Tol);
        Assert.Equal(-1, LexicalSimilarity.Compute(["only"]));                           // one sample: defined as −1
        Assert.Equal(0, LexicalSimilarity.Compute(["x", "y"], new JaccardSimilarity())); // nothing shared
    }

    [Fact]
    public void Nli_affinities_build_the_matrices_lm_polygraph_uses()
    {
        // contra affinity: W = 1 − P_contra, then symmetrised.
        var contra = SquareMatrix.FromRows([0, 0.2], [0.4, 0]);
        var w = contra.OneMinus();
        Assert.Equal(0.7, w.Symmetrized()[0, 1], Tol);
        Assert.Equal(1 - (2 + 1.4) / 4, GraphUncertainty.DegreeMatrix(w), Tol);
    }
}
