namespace UQEngine.Methods.Samples.LinearAlgebra;

/// <summary>
/// Eigen-decomposition of a small real symmetric matrix by the cyclic Jacobi method (rotations zero the
/// off-diagonal entries one at a time; each sweep visits every pair p &lt; q). Quadratic convergence; for the
/// n ≤ ~50 similarity graphs here it costs a few sweeps of O(n³). Only the upper triangle's symmetric part is used.
/// </summary>
public static class SymmetricEigen
{
    private const int MaxSweeps = 100;

    /// <summary>
    /// Eigenvalues in ascending order, and (when <paramref name="vectors"/> is requested) the matching unit
    /// eigenvectors as the columns of <c>vectors</c>: A·v_k = λ_k·v_k with v_k = column k.
    /// </summary>
    public static double[] Decompose(SquareMatrix symmetric, out SquareMatrix vectors)
    {
        int n = symmetric.Size;
        var a = symmetric.Symmetrized();
        var v = SquareMatrix.Identity(n);
        double norm = 0;
        foreach (double x in a.AsSpan()) norm += x * x;
        double tiny = 1e-30 + 1e-300 * norm;

        for (int sweep = 0; sweep < MaxSweeps; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++) off += a[p, q] * a[p, q];
            if (off <= 1e-30 * norm || off < tiny) break;

            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p, q];
                    if (apq == 0) continue;
                    double app = a[p, p], aqq = a[q, q];
                    // Rotation angle θ with tan(2θ) = 2 a_pq / (a_qq − a_pp); t = tan θ, the smaller root.
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;

                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    a[p, q] = a[q, p] = 0;
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }

        var order = new int[n];
        var values = new double[n];
        for (int i = 0; i < n; i++) { order[i] = i; values[i] = a[i, i]; }
        Array.Sort((double[])values.Clone(), order);
        var sortedValues = new double[n];
        vectors = new SquareMatrix(n);
        for (int k = 0; k < n; k++)
        {
            sortedValues[k] = values[order[k]];
            for (int r = 0; r < n; r++) vectors[r, k] = v[r, order[k]];
        }
        return sortedValues;
    }

    /// <summary>Eigenvalues only, ascending.</summary>
    public static double[] Eigenvalues(SquareMatrix symmetric) => Decompose(symmetric, out _);
}
