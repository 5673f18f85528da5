using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples;

namespace UQEngine.Tests.Methods.Samples;

public class InvEntropyTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Two_items_closed_form()
    {
        // S^X all ones → P^X = all ½, so M = P^Y P^X = all ½ (rows of P^Y sum to 1) and q^X = (½, ½).
        // S^Y = [[3,1],[1,1]] → P^Y = [[.75,.25],[.5,.5]] → q^Y = ((.75+.5)/2, (.25+.5)/2) = (.625, .375).
        // Inv-Entropy = −2·½ ln ½ = ln 2.
        // Forward: B_i = M_ii q^Y_i / q^X_i = (.625, .375) → −(.625 ln .625 + .375 ln .375).
        // max q^Y = .625. Wasserstein: sorted (.5,.5) vs (.375,.625) → (.125 + .125)/2 = .125.
        var sx = SquareMatrix.FromRows([1, 1], [1, 1]);
        var sy = SquareMatrix.FromRows([3, 1], [1, 1]);
        var r = InvEntropy.Compute(sx, sy);
        Assert.Equal(Math.Log(2), r.InvEntropy, Tol);
        Assert.Equal(-(0.625 * Math.Log(0.625) + 0.375 * Math.Log(0.375)), r.ForwardPseudoEntropy, Tol);
        Assert.Equal(0.625, r.MaxOutputMarginal, Tol);
        Assert.Equal(0.125, r.MarginalWasserstein, Tol);
    }

    [Fact]
    public void Three_items_match_an_index_by_index_evaluation()
    {
        double[][] sx = [[1, 0.8, 0.3], [0.8, 1, 0.5], [0.3, 0.5, 1]];
        double[][] sy = [[1, 0.2, 0.6], [0.2, 1, 0.9], [0.6, 0.9, 1]];
        // Independent evaluation of the reference's formulas, written with explicit indices.
        int n = 3;
        double[,] px = new double[n, n], py = new double[n, n];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) { px[a, b] = sx[a][b] / sx[a].Sum(); py[a, b] = sy[a][b] / sy[a].Sum(); }
        double[] qy = new double[n];
        for (int j = 0; j < n; j++) for (int i = 0; i < n; i++) qy[j] += py[i, j] / n;      // π P^Y
        double[] qx = new double[n];
        for (int k = 0; k < n; k++)                                                          // π P^Y P^Y P^X
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    for (int l = 0; l < n; l++) qx[k] += py[i, j] * py[j, l] * px[l, k] / n;
        double inv = 0, fwd = 0;
        for (int i = 0; i < n; i++)
        {
            double mii = 0;
            for (int j = 0; j < n; j++) mii += py[i, j] * px[j, i];                          // (P^Y P^X)_ii
            inv -= mii * Math.Log(mii);
            double b = mii * qy[i] / qx[i];
            fwd -= b * Math.Log(b);
        }
        double[] sqx = qx.Order().ToArray(), sqy = qy.Order().ToArray();
        double wd = Enumerable.Range(0, n).Sum(i => Math.Abs(sqx[i] - sqy[i])) / n;

        var r = InvEntropy.Compute(SquareMatrix.FromRows(sx), SquareMatrix.FromRows(sy));
        Assert.Equal(inv, r.InvEntropy, Tol);
        Assert.Equal(fwd, r.ForwardPseudoEntropy, Tol);
        Assert.Equal(qy.Max(), r.MaxOutputMarginal, Tol);
        Assert.Equal(wd, r.MarginalWasserstein, Tol);
        Assert.Equal(1.0, qx.Sum(), 1e-12); // the marginals are distributions
    }

    [Fact]
    public void Degenerate_inputs()
    {
        // One pair: M = [1] → 0·… = 0.
        var one = InvEntropy.Compute(SquareMatrix.Identity(1), SquareMatrix.Identity(1));
        Assert.Equal(0, one.InvEntropy, Tol);
        Assert.Equal(1, one.MaxOutputMarginal, Tol);
        // Everything identical (all-ones similarities, n = 4): M = all ¼ → Inv-Entropy = −4·¼ ln ¼ = ln 4.
        var ones = SquareMatrix.FromRows([1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]);
        Assert.Equal(Math.Log(4), InvEntropy.Compute(ones, ones).InvEntropy, Tol);
        // Zero similarity: rows become self-loops (P = I) → M = I → M_ii ln M_ii = 0 → Inv-Entropy 0, no NaN.
        var z = InvEntropy.Compute(new SquareMatrix(3), new SquareMatrix(3));
        Assert.Equal(0, z.InvEntropy, Tol);
        Assert.Equal(0, z.ForwardPseudoEntropy, Tol);
        Assert.Equal(1.0 / 3, z.MaxOutputMarginal, Tol);
    }

    [Fact]
    public void Subsampled_averages_distinct_one_per_group_draws_deterministically()
    {
        // Two groups of two: 4 distinct draws exist; asking for 20 uses each once. The all-ones input makes every
        // 2×2 submatrix give Inv-Entropy ln 2 (M = all ½), so the mean is ln 2 regardless of the draw.
        var ones = SquareMatrix.FromRows([1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]);
        var rng = new Random(3);
        var sy = new SquareMatrix(4);
        for (int i = 0; i < 4; i++) for (int j = i; j < 4; j++) sy[i, j] = sy[j, i] = i == j ? 1 : rng.NextDouble();
        var r = InvEntropy.Subsampled(ones, sy, groupSize: 2);
        Assert.Equal(Math.Log(2), r.InvEntropy, Tol);
        Assert.Equal(r, InvEntropy.Subsampled(ones, sy, groupSize: 2));
        // The mean over all four draws equals the average of the four submatrix results.
        double expected = 0;
        foreach (int a in new[] { 0, 1 })
            foreach (int b in new[] { 2, 3 })
                expected += InvEntropy.Compute(ones.Submatrix([a, b]), sy.Submatrix([a, b])).ForwardPseudoEntropy / 4;
        Assert.Equal(expected, r.ForwardPseudoEntropy, Tol);
    }
}
