using UQEngine.Methods.Samples;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Evaluation.Calibration;

/// <summary>
/// Platt scaling (Platt 1999): calibrated confidence = σ(a·s + b), a logistic regression of correctness on the
/// score s. The score can be any finite real; a is fitted freely, so a score that decreases with correctness (an
/// uncertainty) gets a &lt; 0.
/// </summary>
/// <remarks>
/// (a, b) minimise Σ_i [softplus(z_i) − t_i z_i] + (λ/2)(a² + b²), z_i = a s_i + b, by Newton's method (IRLS) with
/// a backtracking (Armijo) line search, starting from a = 0, b = logit((n₊ + 1)/(n + 2)). The targets t_i are the
/// labels, or with <c>smoothTargets</c> Platt's (n₊ + 1)/(n₊ + 2) for positives and 1/(n₋ + 2) for negatives. The
/// small ridge λ (default 1e−6, on the summed loss) keeps the optimum finite when the classes are separable or only
/// one class is present; it is negligible otherwise. Iteration stops when the Newton step is below
/// 1e−10·(1 + |a| + |b|) or after 200 iterations (<see cref="Converged"/> says which).
/// </remarks>
public sealed class PlattScaling : ICalibrator
{
    private readonly double _l2;
    private readonly bool _smoothTargets;

    /// <param name="l2">Ridge λ on (a, b); must be positive.</param>
    /// <param name="smoothTargets">Use Platt's smoothed targets instead of 0/1.</param>
    public PlattScaling(double l2 = 1e-6, bool smoothTargets = false)
    {
        if (!(l2 > 0 && double.IsFinite(l2))) throw new ArgumentOutOfRangeException(nameof(l2), l2, "The ridge must be positive and finite.");
        _l2 = l2;
        _smoothTargets = smoothTargets;
    }

    public string Name => "platt";

    public bool IsFitted { get; private set; }

    /// <summary>Slope a.</summary>
    public double A { get; private set; }

    /// <summary>Intercept b.</summary>
    public double B { get; private set; }

    /// <summary>Newton iterations used by the last fit.</summary>
    public int Iterations { get; private set; }

    /// <summary>True when the last fit met the step tolerance.</summary>
    public bool Converged { get; private set; }

    public void Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        CalibrationMath.CheckFit(scores, labels);
        int n = scores.Length, positives = 0;
        foreach (bool y in labels) if (y) positives++;
        double tPos = _smoothTargets ? (positives + 1.0) / (positives + 2.0) : 1;
        double tNeg = _smoothTargets ? 1.0 / (n - positives + 2.0) : 0;

        double a = 0, b = CalibrationMath.Logit((positives + 1.0) / (n + 2.0));
        double f = Objective(scores, labels, a, b, tPos, tNeg);
        Converged = false;
        int iter;
        for (iter = 1; iter <= 200; iter++)
        {
            double ga = _l2 * a, gb = _l2 * b, haa = _l2, hab = 0, hbb = _l2;
            for (int i = 0; i < n; i++)
            {
                double s = scores[i];
                double p = LogMath.Sigmoid(a * s + b);
                double r = p - (labels[i] ? tPos : tNeg);
                double w = p * (1 - p);
                ga += r * s; gb += r;
                haa += w * s * s; hab += w * s; hbb += w;
            }
            double det = haa * hbb - hab * hab;
            double da = -(hbb * ga - hab * gb) / det;
            double db = -(haa * gb - hab * ga) / det;
            double slope = ga * da + gb * db;
            if (!(slope < 0)) { Converged = true; break; } // no descent direction left: at the optimum to rounding

            double step = 1, fNew = f;
            for (int k = 0; k < 60; k++, step /= 2)
            {
                fNew = Objective(scores, labels, a + step * da, b + step * db, tPos, tNeg);
                if (fNew <= f + 1e-4 * step * slope) break;
            }
            if (!(fNew <= f)) { Converged = true; break; } // rounding floor reached
            a += step * da;
            b += step * db;
            f = fNew;
            if (Math.Abs(step * da) + Math.Abs(step * db) < 1e-10 * (1 + Math.Abs(a) + Math.Abs(b))) { Converged = true; break; }
        }
        Iterations = Math.Min(iter, 200);
        A = a;
        B = b;
        IsFitted = true;
    }

    /// <summary>σ(a·s + b).</summary>
    public double Apply(double score)
    {
        if (!IsFitted) throw new InvalidOperationException("Fit Platt scaling first.");
        CalibrationMath.CheckApply(score);
        return LogMath.Sigmoid(A * score + B);
    }

    public void Apply(ReadOnlySpan<double> scores, Span<double> destination)
    {
        CalibrationMath.CheckDestination(scores, destination);
        for (int i = 0; i < scores.Length; i++) destination[i] = Apply(scores[i]);
    }

    private double Objective(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, double a, double b, double tPos, double tNeg)
    {
        double sum = 0.5 * _l2 * (a * a + b * b);
        for (int i = 0; i < scores.Length; i++) sum += CalibrationMath.LogLoss(a * scores[i] + b, labels[i] ? tPos : tNeg);
        return sum;
    }
}
