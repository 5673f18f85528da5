using UQEngine.Evaluation.Metrics;
namespace UQEngine.Evaluation.Calibration;

/// <summary>
/// Isotonic regression calibration (Zadrozny &amp; Elkan 2002): the non-decreasing function of the score closest in
/// squared error to the labels, fitted by pool-adjacent-violators (PAV; Ayer et al. 1955).
/// </summary>
/// <remarks>
/// Tied scores are pooled first (one point per distinct score, weighted by its count, at the mean label), so tied
/// calibration items always get the same output. PAV then merges adjacent blocks while a block's mean exceeds the
/// next one's (equal means are not merged). Between distinct calibration scores the output is interpolated
/// linearly between their fitted values; outside the calibration range it is clamped to the end values (as
/// scikit-learn's <c>out_of_bounds="clip"</c>). The output is non-decreasing in the score and lies in [0, 1]
/// for binary labels.
/// </remarks>
public sealed class IsotonicRegression : ICalibrator
{
    private double[] _x = [];
    private double[] _y = [];

    public string Name => "isotonic";

    public bool IsFitted { get; private set; }

    /// <summary>The distinct calibration scores, ascending.</summary>
    public IReadOnlyList<double> Scores => _x;

    /// <summary>The fitted value at each of <see cref="Scores"/> (non-decreasing).</summary>
    public IReadOnlyList<double> FittedValues => _y;

    public void Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        CalibrationMath.CheckFit(scores, labels);
        var targets = new double[labels.Length];
        for (int i = 0; i < targets.Length; i++) targets[i] = labels[i] ? 1 : 0;
        Fit(scores, targets);
    }

    /// <summary>Fits to graded targets (any finite values, e.g. a quality in [0, 1]).</summary>
    public void Fit(ReadOnlySpan<double> scores, ReadOnlySpan<double> targets)
    {
        Guard.SameLength(scores.Length, targets.Length, nameof(targets));
        if (scores.IsEmpty) throw new ArgumentException("At least one calibration item is needed.", nameof(scores));
        Guard.Finite(scores, nameof(scores));
        Guard.Finite(targets, nameof(targets));

        var order = ScoreOrder.Ascending(scores);
        int groups = order.GroupCount;
        var x = new double[groups];
        // PAV stack: block weight, weighted sum, and the last group it covers.
        var weight = new double[groups];
        var sum = new double[groups];
        var last = new int[groups];
        int top = -1;
        for (int g = 0; g < groups; g++)
        {
            ReadOnlySpan<int> members = order.Group(g);
            x[g] = scores[members[0]];
            double s = 0;
            foreach (int i in members) s += targets[i];
            top++;
            weight[top] = members.Length;
            sum[top] = s;
            last[top] = g;
            while (top > 0 && sum[top - 1] / weight[top - 1] > sum[top] / weight[top])
            {
                weight[top - 1] += weight[top];
                sum[top - 1] += sum[top];
                last[top - 1] = last[top];
                top--;
            }
        }
        var y = new double[groups];
        int first = 0;
        for (int b = 0; b <= top; b++)
        {
            double mean = sum[b] / weight[b];
            for (int g = first; g <= last[b]; g++) y[g] = mean;
            first = last[b] + 1;
        }
        _x = x;
        _y = y;
        IsFitted = true;
    }

    /// <summary>The fitted non-decreasing function at <paramref name="score"/> (linear between calibration scores, clamped outside).</summary>
    public double Apply(double score)
    {
        if (!IsFitted) throw new InvalidOperationException("Fit the isotonic regression first.");
        CalibrationMath.CheckApply(score);
        if (score <= _x[0]) return _y[0];
        if (score >= _x[^1]) return _y[^1];
        int k = Array.BinarySearch(_x, score);
        if (k >= 0) return _y[k];
        k = ~k; // _x[k - 1] < score < _x[k]
        double f = (score - _x[k - 1]) / (_x[k] - _x[k - 1]);
        return _y[k - 1] + f * (_y[k] - _y[k - 1]);
    }

    public void Apply(ReadOnlySpan<double> scores, Span<double> destination)
    {
        CalibrationMath.CheckDestination(scores, destination);
        for (int i = 0; i < scores.Length; i++) destination[i] = Apply(scores[i]);
    }
}
