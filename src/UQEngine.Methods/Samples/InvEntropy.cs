using UQEngine.Methods.Samples.LinearAlgebra;
namespace UQEngine.Methods.Samples;

/// <summary>The quantities of the dual-random-walk framework for one question.</summary>
/// <param name="InvEntropy">
/// The diagonal ("pseudo") entropy of the inverse model, −Σ_i p(x_i|y_i) ln p(x_i|y_i) (reference column
/// <c>pseduo_entropy_x_y_I</c>). Higher = more uncertain.
/// </param>
/// <param name="ForwardPseudoEntropy">−Σ_i p(y_i|x_i) ln p(y_i|x_i) with p(y|x) from Bayes' rule (reference <c>pseduo_entropy_y_x_I</c>).</param>
/// <param name="MarginalWasserstein">1-D Wasserstein distance between the value sets of the two marginals (reference <c>WD_px_py_I</c>).</param>
/// <param name="MaxOutputMarginal">max_i p(y_i) (reference <c>max_y_I</c>).</param>
public readonly record struct InvEntropyResult(double InvEntropy, double ForwardPseudoEntropy, double MarginalWasserstein, double MaxOutputMarginal);

/// <summary>
/// Inv-Entropy (Song et al., "Inv-Entropy: A Fully Probabilistic Framework for Uncertainty Quantification in
/// Language Models"), following the authors' evaluate.py. The n items are (input, output) pairs: every perturbed
/// input x_i (repeated once per response drawn for it) with its response y_i. Entropies use natural logs, as the
/// reference does (its log2 helpers are unused).
/// </summary>
/// <remarks>
/// With S^X, S^Y the n×n input and output similarity matrices:
/// <list type="number">
/// <item>Transition matrices (row-normalised random walks): P^X_ab = S^X_ab / Σ_c S^X_ac, P^Y_ab = S^Y_ab / Σ_c S^Y_ac.</item>
/// <item>Output marginal, one Y step from the uniform start π = 1/n: q^Y_j = (1/n) Σ_i P^Y_ij.</item>
/// <item>Inverse model (a Y step, then an X step): M = P^Y P^X, M_ik = Σ_j P^Y_ij P^X_jk, read as p(x_k | y_i) = M_ik.</item>
/// <item>Input marginal: q^X_k = (1/n) Σ_i (P^Y P^Y P^X)_ik (the reference's π·P^Y·P^Y·P^X, two Y steps, kept as written).</item>
/// <item>Forward model by Bayes' rule: p(y_i | x_k) = M_ik q^Y_i / q^X_k; joint p(x_k, y_i) = M_ik q^Y_i.</item>
/// <item>Inv-Entropy = −Σ_i M_ii ln M_ii; forward pseudo-entropy = −Σ_i B_i ln B_i with B_i = M_ii q^Y_i / q^X_i;
/// max marginal = max_i q^Y_i; Wasserstein = (1/n) Σ_r |q^X_(r) − q^Y_(r)| over the sorted values (scipy's
/// wasserstein_distance of two equal-size samples with unit weights).</item>
/// </list>
/// Only the diagonal i = k enters the entropies, exactly as in the reference. Conventions where the reference
/// would produce NaN: 0·ln 0 = 0; a row of S with zero sum becomes a self-loop (P_aa = 1); B_i = 0 when q^X_i = 0.
/// </remarks>
public static class InvEntropy
{
    public static InvEntropyResult Compute(SquareMatrix inputSimilarity, SquareMatrix outputSimilarity)
    {
        ArgumentNullException.ThrowIfNull(inputSimilarity);
        ArgumentNullException.ThrowIfNull(outputSimilarity);
        int n = inputSimilarity.Size;
        if (n == 0) throw new ArgumentException("At least one (input, output) pair is needed.", nameof(inputSimilarity));
        outputSimilarity.RequireSize(n, nameof(outputSimilarity));
        var px = RowNormalized(inputSimilarity, nameof(inputSimilarity));
        var py = RowNormalized(outputSimilarity, nameof(outputSimilarity));

        var qy = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) qy[j] += py[i, j] / n;

        var m = py.Multiply(px);
        var qx = new double[n];
        // π P^Y P^Y P^X = (qy P^Y) P^X: a row vector pushed through, O(n²) per step.
        var r = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) r[j] += qy[i] * py[i, j];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) qx[k] += r[i] * px[i, k];

        double inv = 0, forward = 0;
        for (int i = 0; i < n; i++)
        {
            double mii = m[i, i];
            inv -= LogMath.XLogX(mii);
            double b = qx[i] > 0 ? mii * qy[i] / qx[i] : 0;
            forward -= LogMath.XLogX(b);
        }

        double maxY = qy.Max();
        double[] sx = (double[])qx.Clone(), sy = (double[])qy.Clone();
        Array.Sort(sx);
        Array.Sort(sy);
        double wd = 0;
        for (int i = 0; i < n; i++) wd += Math.Abs(sx[i] - sy[i]);
        wd /= n;
        return new InvEntropyResult(inv, forward, wd, maxY);
    }

    /// <summary>
    /// The reference's evaluation protocol: the n items come in consecutive groups of <paramref name="groupSize"/>
    /// (the responses of one perturbed input); each draw keeps one random item per group, computes
    /// <see cref="Compute"/> on that submatrix, and the results are averaged over <paramref name="draws"/>
    /// distinct draws (reference: 10 inputs × 5 responses, 20 draws). Seeded here; the reference's index draws come
    /// from Python's unseeded <c>random</c>, so its values are not reproducible run to run. When fewer distinct
    /// draws exist than requested, every distinct draw is used once.
    /// </summary>
    public static InvEntropyResult Subsampled(SquareMatrix inputSimilarity, SquareMatrix outputSimilarity, int groupSize, int draws = 20, int seed = 333)
    {
        ArgumentNullException.ThrowIfNull(inputSimilarity);
        int n = inputSimilarity.Size;
        ArgumentOutOfRangeException.ThrowIfLessThan(groupSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 1);
        if (n == 0 || n % groupSize != 0) throw new ArgumentException($"{n} items do not split into groups of {groupSize}.", nameof(groupSize));
        int groups = n / groupSize;
        double distinct = Math.Pow(groupSize, groups);
        int target = distinct < draws ? (int)distinct : draws;

        var rng = new Random(seed);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var keep = new int[groups];
        double a = 0, b = 0, c = 0, d = 0;
        int done = 0;
        while (done < target)
        {
            for (int g = 0; g < groups; g++) keep[g] = g * groupSize + rng.Next(groupSize);
            if (!used.Add(string.Join(',', keep))) continue;
            var res = Compute(inputSimilarity.Submatrix(keep), outputSimilarity.Submatrix(keep));
            a += res.InvEntropy; b += res.ForwardPseudoEntropy; c += res.MarginalWasserstein; d += res.MaxOutputMarginal;
            done++;
        }
        return new InvEntropyResult(a / done, b / done, c / done, d / done);
    }

    /// <summary>P_ab = S_ab / Σ_c S_ac; a zero row becomes a self-loop.</summary>
    public static SquareMatrix RowNormalized(SquareMatrix similarity, string name = "similarity")
    {
        similarity.RequireFinite(name);
        int n = similarity.Size;
        var p = new SquareMatrix(n);
        for (int a = 0; a < n; a++)
        {
            double s = 0;
            foreach (double v in similarity.Row(a))
            {
                if (v < 0) throw new ArgumentException($"'{name}' has a negative entry ({v}).", name);
                s += v;
            }
            if (s == 0) { p[a, a] = 1; continue; }
            for (int b = 0; b < n; b++) p[a, b] = similarity[a, b] / s;
        }
        return p;
    }
}
