using UQEngine.Evaluation.Metrics;
namespace UQEngine.Evaluation.Calibration;

/// <summary>
/// Histogram binning (Zadrozny &amp; Elkan 2001): the calibration scores are split into equal-mass bins and a score's
/// calibrated confidence is the fraction of correct answers in its bin.
/// </summary>
/// <remarks>
/// Bins follow <see cref="BinningScheme.EqualMass"/> exactly (about n/B calibration items each; tied scores never
/// split; empty bins dropped; at most n bins). A new score goes to the bin whose score range contains it; between
/// two bins the cut is the midpoint of the last score of the lower bin and the first score of the upper one (a score
/// equal to the midpoint goes to the lower bin); scores beyond the calibration range go to the end bins. The
/// mapping is a step function and need not be monotone (use <see cref="IsotonicRegression"/> for that).
/// </remarks>
public sealed class HistogramBinning : ICalibrator
{
    private readonly int _bins;
    private double[] _cuts = [];
    private double[] _values = [];

    /// <param name="bins">Number of equal-mass bins (default 15).</param>
    public HistogramBinning(int bins = CalibrationMetrics.DefaultBins)
    {
        Guard.Bins(bins);
        _bins = bins;
    }

    public string Name => "histogram";

    public bool IsFitted { get; private set; }

    /// <summary>Cut points between consecutive bins (one fewer than the bins).</summary>
    public IReadOnlyList<double> Cuts => _cuts;

    /// <summary>Fraction correct in each bin, ascending in score.</summary>
    public IReadOnlyList<double> BinValues => _values;

    public void Fit(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        CalibrationMath.CheckFit(scores, labels);
        var order = ScoreOrder.Ascending(scores);
        int[] groupBin = CalibrationMetrics.EqualMassGroupBins(order, default, _bins, out int slots);
        var count = new double[slots];
        var positive = new double[slots];
        var min = new double[slots];
        var max = new double[slots];
        ReadOnlySpan<int> idx = order.Order;
        ReadOnlySpan<int> ends = order.GroupEnds;
        int start = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            int b = groupBin[g];
            for (int p = start; p < ends[g]; p++)
            {
                int i = idx[p];
                if (count[b] == 0) min[b] = scores[i];
                max[b] = scores[i];
                count[b]++;
                if (labels[i]) positive[b]++;
            }
            start = ends[g];
        }

        var cuts = new List<double>();
        var values = new List<double>();
        double previousMax = 0;
        for (int b = 0; b < slots; b++)
        {
            if (count[b] == 0) continue;
            if (values.Count > 0) cuts.Add(previousMax + (min[b] - previousMax) / 2);
            values.Add(positive[b] / count[b]);
            previousMax = max[b];
        }
        _cuts = cuts.ToArray();
        _values = values.ToArray();
        IsFitted = true;
    }

    /// <summary>Fraction correct of the bin the score falls in.</summary>
    public double Apply(double score)
    {
        if (!IsFitted) throw new InvalidOperationException("Fit the histogram first.");
        CalibrationMath.CheckApply(score);
        // First cut ≥ score: BinarySearch gives it directly (found) or as the complement of the insertion point.
        int k = Array.BinarySearch(_cuts, score);
        if (k < 0) k = ~k;
        else while (k > 0 && _cuts[k - 1] == score) k--;
        return _values[k];
    }

    public void Apply(ReadOnlySpan<double> scores, Span<double> destination)
    {
        CalibrationMath.CheckDestination(scores, destination);
        for (int i = 0; i < scores.Length; i++) destination[i] = Apply(scores[i]);
    }
}
