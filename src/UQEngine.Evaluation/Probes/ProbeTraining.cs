using UQEngine.Methods.Samples;
using System.Numerics.Tensors;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Optimization;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Calibration;

using UQEngine.Methods.Probes;

namespace UQEngine.Evaluation.Probes;

/// <summary>Settings of <see cref="ProbeTrainer.Train"/>.</summary>
public sealed record ProbeTrainingOptions
{
    public ProbeKind Kind { get; init; } = ProbeKind.Logistic;

    /// <summary>L2 penalty λ on the weights (not the biases), in units of the mean per-example loss.</summary>
    public double L2 { get; init; } = 1e-2;

    /// <summary>Hidden units of the MLP.</summary>
    public int HiddenUnits { get; init; } = 32;

    /// <summary>Fraction of the examples held out (stratified) to fit Platt scaling and measure held-out AUROC.</summary>
    public double CalibrationFraction { get; init; } = 0.2;

    /// <summary>Seeds the split and the MLP's initial weights.</summary>
    public int Seed { get; init; } = 42;

    public int MaxIterations { get; init; } = 500;

    internal void Validate()
    {
        if (!(L2 >= 0 && double.IsFinite(L2))) throw new ArgumentOutOfRangeException(nameof(L2), L2, "the L2 penalty must be finite and >= 0");
        if (HiddenUnits < 1) throw new ArgumentOutOfRangeException(nameof(HiddenUnits), HiddenUnits, "the MLP needs at least one hidden unit");
        if (!(CalibrationFraction >= 0 && CalibrationFraction < 1)) throw new ArgumentOutOfRangeException(nameof(CalibrationFraction), CalibrationFraction, "the calibration fraction must be in [0, 1)");
        if (MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "at least one iteration");
    }
}

/// <summary>
/// The class-balanced, L2-regularised logistic loss of a probe, with its gradient: what the optimizer minimises and
/// what the gradient check tests. Examples are standardized rows; weights c₊ = n / (2 n₊), c₋ = n / (2 n₋) make both
/// classes count equally. Loss = (1/n) Σ cᵢ [softplus(zᵢ) − yᵢ zᵢ] + (λ/2) ‖weights‖² (biases are not penalised).
/// </summary>
internal sealed class ProbeLoss
{
    private readonly double[][] _x;
    private readonly bool[] _y;
    private readonly double[] _c;
    private readonly double _l2;
    private readonly int _hidden; // 0 = logistic
    public int Dimension { get; }

    public ProbeLoss(double[][] x, bool[] y, double l2, int hiddenUnits)
    {
        _x = x; _y = y; _l2 = l2; _hidden = hiddenUnits;
        Dimension = x[0].Length;
        int n = y.Length, positives = y.Count(v => v);
        if (positives == 0 || positives == n) throw new ArgumentException($"training needs both classes; got {positives} positive and {n - positives} negative example(s)");
        double cPos = n / (2.0 * positives), cNeg = n / (2.0 * (n - positives));
        _c = [.. y.Select(v => v ? cPos : cNeg)];
    }

    /// <summary>Parameters: logistic [w (d), b]; MLP [W1 (H·d row-major), b1 (H), w2 (H), b2].</summary>
    public int ParameterCount => _hidden == 0 ? Dimension + 1 : _hidden * Dimension + 2 * _hidden + 1;

    public (double Loss, double[] Gradient) Evaluate(ReadOnlySpan<double> p)
    {
        var g = new double[p.Length];
        double loss = 0;
        int n = _x.Length, d = Dimension;
        if (_hidden == 0)
        {
            var w = p[..d];
            double b = p[d];
            for (int i = 0; i < n; i++)
            {
                double z = TensorPrimitives.Dot(w, _x[i]) + b;
                loss += _c[i] * CalibrationMath.LogLoss(z, _y[i] ? 1 : 0);
                double r = _c[i] * (LogMath.Sigmoid(z) - (_y[i] ? 1 : 0)) / n;
                TensorPrimitives.MultiplyAdd(_x[i], r, g.AsSpan(0, d), g.AsSpan(0, d));
                g[d] += r;
            }
            loss /= n;
            loss += 0.5 * _l2 * TensorPrimitives.Dot(w, w);
            TensorPrimitives.MultiplyAdd(w, _l2, g.AsSpan(0, d), g.AsSpan(0, d));
            return (loss, g);
        }

        int h = _hidden;
        var w1 = p[..(h * d)];
        var b1 = p.Slice(h * d, h);
        var w2 = p.Slice(h * d + h, h);
        double b2 = p[h * d + 2 * h];
        var act = new double[h];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < h; k++) act[k] = Math.Tanh(TensorPrimitives.Dot(w1.Slice(k * d, d), _x[i]) + b1[k]);
            double z = TensorPrimitives.Dot(w2, act) + b2;
            loss += _c[i] * CalibrationMath.LogLoss(z, _y[i] ? 1 : 0);
            double r = _c[i] * (LogMath.Sigmoid(z) - (_y[i] ? 1 : 0)) / n;
            for (int k = 0; k < h; k++)
            {
                g[h * d + h + k] += r * act[k];
                double da = r * w2[k] * (1 - act[k] * act[k]);
                if (da == 0) continue;
                var gRow = g.AsSpan(k * d, d);
                TensorPrimitives.MultiplyAdd(_x[i], da, gRow, gRow);
                g[h * d + k] += da;
            }
            g[h * d + 2 * h] += r;
        }
        loss /= n;
        loss += 0.5 * _l2 * (TensorPrimitives.Dot(w1, w1) + TensorPrimitives.Dot(w2, w2));
        TensorPrimitives.MultiplyAdd(w1, _l2, g.AsSpan(0, h * d), g.AsSpan(0, h * d));
        TensorPrimitives.MultiplyAdd(w2, _l2, g.AsSpan(h * d + h, h), g.AsSpan(h * d + h, h));
        return (loss, g);
    }
}

/// <summary>Trains probes: standardize, minimise <see cref="ProbeLoss"/> with MathNet's L-BFGS, fit Platt on a held-out part.</summary>
public static class ProbeTrainer
{
    /// <param name="features">One row per graded answer (all the same length).</param>
    /// <param name="correct">Whether each answer was graded correct (the positive class).</param>
    /// <param name="options">Kind, penalty, held-out fraction, seed.</param>
    public static ProbeWeights Train(IReadOnlyList<float[]> features, IReadOnlyList<bool> correct, ProbeTrainingOptions? options = null)
    {
        options ??= new ProbeTrainingOptions();
        options.Validate();
        if (features.Count != correct.Count) throw new ArgumentException($"{features.Count} feature rows but {correct.Count} labels");
        if (features.Count < 2) throw new ArgumentException($"training needs at least 2 examples, got {features.Count}");
        int d = features[0].Length;
        for (int i = 0; i < features.Count; i++)
        {
            if (features[i].Length != d) throw new ArgumentException($"feature row {i} has {features[i].Length} values, row 0 has {d}");
            if (features[i].Any(v => !float.IsFinite(v))) throw new ArgumentException($"feature row {i} holds a non-finite value");
        }

        var (train, calibration) = StratifiedSplit(correct, options.CalibrationFraction, options.Seed);
        var trainRows = train.Select(i => features[i]).ToList();
        var scaler = Standardizer.Fit(trainRows);
        double[][] x = [.. trainRows.Select(r => scaler.Apply(r))];
        bool[] y = [.. train.Select(i => correct[i])];
        int hidden = options.Kind == ProbeKind.Mlp ? options.HiddenUnits : 0;
        var loss = new ProbeLoss(x, y, options.L2, hidden);
        var (parameters, finalLoss, iterations, exit) = Minimise(loss, Initial(loss, hidden, d, options.Seed), options.MaxIterations);

        var weights = ProbeWeights.FromStandardized(options.Kind, scaler, parameters, hidden);
        double[] trainScores = [.. trainRows.Select(r => weights.Logit(r))];
        double? trainAuroc = RankingMetrics.Auroc(trainScores, y).AsNullable;
        double? heldOut = null;
        var platt = (A: 1.0, B: 0.0);
        if (calibration.Count > 0)
        {
            double[] calScores = [.. calibration.Select(i => weights.Logit(features[i]))];
            bool[] calLabels = [.. calibration.Select(i => correct[i])];
            heldOut = RankingMetrics.Auroc(calScores, calLabels).AsNullable;
            var p = new PlattScaling(l2: 1e-3);
            p.Fit(calScores, calLabels);
            platt = (p.A, p.B);
        }
        return weights with
        {
            PlattA = platt.A, PlattB = platt.B,
            Metrics = new ProbeTrainingMetrics
            {
                TrainCount = train.Count, TrainPositives = y.Count(v => v),
                CalibrationCount = calibration.Count, CalibrationPositives = calibration.Count(i => correct[i]),
                TrainAuroc = trainAuroc, HeldOutAuroc = heldOut, FinalLoss = finalLoss, Iterations = iterations, OptimizerExit = exit,
            },
        };
    }

    /// <summary>Seeded, stratified: each class contributes round(fraction · its size) examples to the calibration part.</summary>
    public static (List<int> Train, List<int> Calibration) StratifiedSplit(IReadOnlyList<bool> labels, double fraction, int seed)
    {
        var random = new Random(seed);
        var train = new List<int>();
        var calibration = new List<int>();
        foreach (bool label in new[] { true, false })
        {
            int[] idx = [.. Enumerable.Range(0, labels.Count).Where(i => labels[i] == label)];
            random.Shuffle(idx);
            int held = (int)Math.Round(fraction * idx.Length);
            if (held == idx.Length && held > 0) held--; // keep every class in training
            calibration.AddRange(idx.Take(held));
            train.AddRange(idx.Skip(held));
        }
        train.Sort(); calibration.Sort();
        return (train, calibration);
    }

    private static double[] Initial(ProbeLoss loss, int hidden, int d, int seed)
    {
        var p = new double[loss.ParameterCount];
        if (hidden == 0) return p; // convex: start at zero
        // Break the symmetry of the hidden units; scale keeps tanh out of saturation for standardized inputs.
        var random = new Random(seed);
        double scale = 1 / Math.Sqrt(d);
        for (int i = 0; i < hidden * d; i++) p[i] = (random.NextDouble() * 2 - 1) * scale;
        for (int k = 0; k < hidden; k++) p[hidden * d + hidden + k] = (random.NextDouble() * 2 - 1) / Math.Sqrt(hidden);
        return p;
    }

    private static (double[] Parameters, double Loss, int Iterations, string Exit) Minimise(ProbeLoss loss, double[] start, int maxIterations)
    {
        // MathNet throws when it runs out of iterations or its line search stalls; keep the best point seen so a
        // slow fit still returns its best weights rather than nothing.
        double[] best = start;
        double bestLoss = double.PositiveInfinity;
        var objective = ObjectiveFunction.Gradient(v =>
        {
            var (f, g) = loss.Evaluate(v.AsArray() ?? v.ToArray());
            if (f < bestLoss) { bestLoss = f; best = v.ToArray(); }
            return (f, Vector<double>.Build.DenseOfArray(g));
        });
        var minimizer = new LimitedMemoryBfgsMinimizer(gradientTolerance: 1e-6, parameterTolerance: 1e-10, functionProgressTolerance: 1e-12, memory: 10, maximumIterations: maxIterations);
        try
        {
            var result = minimizer.FindMinimum(objective, Vector<double>.Build.DenseOfArray(start));
            double[] p = result.MinimizingPoint.ToArray();
            double f = result.FunctionInfoAtMinimum.Value;
            return f <= bestLoss ? (p, f, result.Iterations, result.ReasonForExit.ToString()) : (best, bestLoss, result.Iterations, result.ReasonForExit.ToString());
        }
        catch (Exception e) when (e is MaximumIterationsException or OptimizationException or ArithmeticException)
        {
            if (!double.IsFinite(bestLoss)) throw new InvalidOperationException($"probe training failed: {e.Message}", e);
            return (best, bestLoss, maxIterations, $"stopped: {e.GetType().Name}");
        }
    }
}
