using System.Text.Json.Serialization;

namespace UQEngine.Evaluation.Metrics;

/// <summary>How confidences are grouped into bins for ECE, MCE and reliability diagrams.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BinningScheme>))]
public enum BinningScheme
{
    /// <summary>
    /// B bins of width 1/B on [0, 1]. The edges are the doubles e_b = b / B (b = 0..B); bin b holds the confidences
    /// with e_b &lt; c ≤ e_{b+1} (right-closed, as in Guo et al. 2017), and bin 0 also holds c = 0.
    /// </summary>
    EqualWidth,

    /// <summary>
    /// About n / B items per bin ("adaptive" binning, Nguyen &amp; O'Connor 2015; Nixon et al. 2019). Items are sorted
    /// by confidence; the nominal boundaries sit before sorted positions ⌊j·n/B⌋, j = 1..B−1. Tied confidences are
    /// never split: a boundary that falls inside a run of equal confidences moves to the nearer end of the run (to
    /// the upper end when equidistant). Bins left empty by this are dropped, and with n &lt; B there are at most n
    /// bins. The result therefore depends only on the multiset of (confidence, label) pairs, never on input order.
    /// </summary>
    EqualMass,
}

/// <summary>One non-empty bin of a reliability diagram.</summary>
/// <param name="Index">Equal-width: the bin's position 0..B−1 on [0, 1]. Equal-mass: its position among the non-empty bins.</param>
/// <param name="Lower">Equal-width: the lower edge b/B. Equal-mass: the smallest confidence in the bin.</param>
/// <param name="Upper">Equal-width: the upper edge (b+1)/B. Equal-mass: the largest confidence in the bin.</param>
/// <param name="Count">Items in the bin (with bootstrap multiplicity).</param>
/// <param name="MeanConfidence">Mean confidence of the bin's items.</param>
/// <param name="Accuracy">Fraction of the bin's items that are correct.</param>
public readonly record struct ReliabilityBin(int Index, double Lower, double Upper, int Count, double MeanConfidence, double Accuracy)
{
    /// <summary>|accuracy − mean confidence|, the bin's calibration gap.</summary>
    public double Gap => Math.Abs(Accuracy - MeanConfidence);
}

/// <summary>
/// Reliability-diagram data: per non-empty bin, its count, mean confidence and accuracy. Another component draws the plot
/// (bars of <see cref="ReliabilityBin.Accuracy"/> against <see cref="ReliabilityBin.MeanConfidence"/>, diagonal = perfect).
/// </summary>
/// <param name="Scheme">How the bins were formed.</param>
/// <param name="RequestedBins">The B asked for.</param>
/// <param name="TotalCount">Items binned.</param>
/// <param name="Bins">Non-empty bins, ascending in confidence.</param>
public sealed record ReliabilityDiagram(BinningScheme Scheme, int RequestedBins, int TotalCount, IReadOnlyList<ReliabilityBin> Bins)
{
    /// <summary>ECE = Σ_b (n_b / n) · |acc_b − conf_b|. Lower is better; 0 = calibrated. Undefined with no items.</summary>
    public MetricValue ExpectedCalibrationError
    {
        get
        {
            if (TotalCount == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
            double sum = 0;
            foreach (var b in Bins) sum += b.Count * b.Gap;
            return MetricValue.Defined(sum / TotalCount);
        }
    }

    /// <summary>MCE = max over non-empty bins of |acc_b − conf_b|. Lower is better. Undefined with no items.</summary>
    public MetricValue MaximumCalibrationError
    {
        get
        {
            if (TotalCount == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
            double max = 0;
            foreach (var b in Bins) max = Math.Max(max, b.Gap);
            return MetricValue.Defined(max);
        }
    }

    /// <summary>The diagram of <paramref name="confidence"/> (each in [0, 1]) against <paramref name="correct"/>.</summary>
    public static ReliabilityDiagram Create(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme = BinningScheme.EqualWidth, int bins = CalibrationMetrics.DefaultBins) =>
        Create(confidence, correct, scheme, bins, null, default);

    /// <summary>
    /// As <see cref="Create(ReadOnlySpan{double}, ReadOnlySpan{bool}, BinningScheme, int)"/> with per-item multiplicities
    /// (empty = once each). <paramref name="confidenceOrder"/> (optional, equal-mass only) is
    /// <see cref="ScoreOrder.Ascending"/> of <paramref name="confidence"/>, passed to avoid re-sorting per resample.
    /// </summary>
    public static ReliabilityDiagram Create(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme, int bins, ScoreOrder? confidenceOrder, ReadOnlySpan<int> counts)
    {
        var acc = CalibrationMetrics.Accumulate(confidence, correct, scheme, bins, confidenceOrder, counts);
        var list = new List<ReliabilityBin>(acc.Used);
        for (int b = 0; b < acc.Slots; b++)
        {
            double n = acc.Count[b];
            if (n == 0) continue;
            int index = scheme == BinningScheme.EqualWidth ? b : list.Count;
            double lower = scheme == BinningScheme.EqualWidth ? (double)b / bins : acc.Lower[b];
            double upper = scheme == BinningScheme.EqualWidth ? (double)(b + 1) / bins : acc.Upper[b];
            list.Add(new ReliabilityBin(index, lower, upper, (int)n, acc.SumConfidence[b] / n, acc.SumCorrect[b] / n));
        }
        return new ReliabilityDiagram(scheme, bins, (int)acc.Total, list);
    }
}

/// <summary>
/// Calibration metrics of confidences c ∈ [0, 1] (the model's probability that its answer is correct) against
/// binary correctness. All are "lower is better". Confidences outside [0, 1] or NaN are rejected.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>ECE (Naeini et al. 2015; Guo et al. 2017) = Σ_b (n_b/n)|acc_b − conf_b|, with B = 15 bins by default; see
/// <see cref="BinningScheme"/> for the bin edge rules. MCE = max_b |acc_b − conf_b| over non-empty bins.</item>
/// <item>Brier score (Brier 1950) = (1/n) Σ (c_i − y_i)², y ∈ {0, 1}; 0 is perfect, 0.25 is a constant 0.5.</item>
/// <item>NLL = −(1/n) Σ ln clip(p_i, 1e−12, 1 − 1e−12) in nats, where p_i = c_i if the answer is correct and
/// 1 − c_i if not (the probability given to what happened), so a confident mistake costs at most
/// ln(1e12) ≈ 27.63 nats instead of infinity. This equals the usual −[y ln c̃ + (1 − y) ln(1 − c̃)] with
/// c̃ = clip(c), except that the clip is applied after forming 1 − c, which keeps both ends exactly symmetric.</item>
/// </list>
/// All are undefined (<see cref="UndefinedReasons.NoItems"/>) on empty input and defined for a single class.
/// </remarks>
public static class CalibrationMetrics
{
    /// <summary>The default number of bins, 15.</summary>
    public const int DefaultBins = 15;

    /// <summary>NLL clips probabilities to [ProbabilityClip, 1 − ProbabilityClip].</summary>
    public const double ProbabilityClip = 1e-12;

    /// <summary>Expected calibration error. Lower is better.</summary>
    public static MetricValue ExpectedCalibrationError(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme = BinningScheme.EqualWidth, int bins = DefaultBins) =>
        ExpectedCalibrationError(confidence, correct, scheme, bins, null, default);

    /// <summary>Expected calibration error with per-item multiplicities (see <see cref="ReliabilityDiagram.Create(ReadOnlySpan{double}, ReadOnlySpan{bool}, BinningScheme, int, ScoreOrder?, ReadOnlySpan{int})"/>).</summary>
    public static MetricValue ExpectedCalibrationError(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme, int bins, ScoreOrder? confidenceOrder, ReadOnlySpan<int> counts)
    {
        var acc = Accumulate(confidence, correct, scheme, bins, confidenceOrder, counts);
        if (acc.Total == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        double sum = 0;
        for (int b = 0; b < acc.Slots; b++) sum += Math.Abs(acc.SumCorrect[b] - acc.SumConfidence[b]);
        return MetricValue.Defined(sum / acc.Total);
    }

    /// <summary>Maximum calibration error. Lower is better.</summary>
    public static MetricValue MaximumCalibrationError(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme = BinningScheme.EqualWidth, int bins = DefaultBins) =>
        MaximumCalibrationError(confidence, correct, scheme, bins, null, default);

    /// <summary>Maximum calibration error with per-item multiplicities.</summary>
    public static MetricValue MaximumCalibrationError(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct,
        BinningScheme scheme, int bins, ScoreOrder? confidenceOrder, ReadOnlySpan<int> counts)
    {
        var acc = Accumulate(confidence, correct, scheme, bins, confidenceOrder, counts);
        if (acc.Total == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        double max = 0;
        for (int b = 0; b < acc.Slots; b++)
        {
            double n = acc.Count[b];
            if (n > 0) max = Math.Max(max, Math.Abs(acc.SumCorrect[b] - acc.SumConfidence[b]) / n);
        }
        return MetricValue.Defined(max);
    }

    /// <summary>Brier score (1/n) Σ (c − y)². Lower is better.</summary>
    public static MetricValue BrierScore(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct) =>
        BrierScore(confidence, correct, default);

    /// <summary>Brier score with per-item multiplicities.</summary>
    public static MetricValue BrierScore(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct, ReadOnlySpan<int> counts)
    {
        Validate(confidence, correct, counts);
        double sum = 0, total = 0;
        for (int i = 0; i < confidence.Length; i++)
        {
            int w = Guard.Weight(counts, i);
            if (w == 0) continue;
            double d = confidence[i] - (correct[i] ? 1.0 : 0.0);
            sum += w * d * d;
            total += w;
        }
        return total == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(sum / total);
    }

    /// <summary>Mean negative log-likelihood in nats, probabilities clipped to [1e−12, 1 − 1e−12]. Lower is better.</summary>
    public static MetricValue NegativeLogLikelihood(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct) =>
        NegativeLogLikelihood(confidence, correct, default);

    /// <summary>Negative log-likelihood with per-item multiplicities.</summary>
    public static MetricValue NegativeLogLikelihood(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct, ReadOnlySpan<int> counts)
    {
        Validate(confidence, correct, counts);
        double sum = 0, total = 0;
        for (int i = 0; i < confidence.Length; i++)
        {
            int w = Guard.Weight(counts, i);
            if (w == 0) continue;
            // The probability given to what happened, clipped; 1 − c is exact for c ≥ ½, so both ends clip alike.
            double p = Math.Clamp(correct[i] ? confidence[i] : 1 - confidence[i], ProbabilityClip, 1 - ProbabilityClip);
            sum -= w * Math.Log(p);
            total += w;
        }
        return total == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(sum / total);
    }

    /// <summary>
    /// The equal-width bin of a confidence: bin b holds e_b &lt; c ≤ e_{b+1} with e_b = b / bins, and bin 0 also holds 0.
    /// </summary>
    public static int EqualWidthBin(double confidence, int bins)
    {
        Guard.Bins(bins);
        if (!(confidence >= 0 && confidence <= 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "A confidence must lie in [0, 1].");
        int b = Math.Clamp((int)Math.Ceiling(confidence * bins) - 1, 0, bins - 1);
        // The product can round across an edge; settle the bin against the edges themselves.
        while (b > 0 && confidence <= (double)b / bins) b--;
        while (b < bins - 1 && confidence > (double)(b + 1) / bins) b++;
        return b;
    }

    private static void Validate(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct, ReadOnlySpan<int> counts)
    {
        Guard.SameLength(confidence.Length, correct.Length, nameof(correct));
        Guard.UnitInterval(confidence, nameof(confidence));
        Guard.Counts(counts, confidence.Length);
    }

    /// <summary>Per-bin sums. Equal-width: slot b = bin b. Equal-mass: slot j = j-th nominal bin (some may be empty).</summary>
    internal sealed class BinSums(int slots)
    {
        public readonly int Slots = slots;
        public readonly double[] Count = new double[slots];
        public readonly double[] SumConfidence = new double[slots];
        public readonly double[] SumCorrect = new double[slots];
        public readonly double[] Lower = new double[slots];
        public readonly double[] Upper = new double[slots];
        public double Total;
        public int Used;

        public void Add(int slot, double weight, double confidence, bool correct)
        {
            if (Count[slot] == 0) { Lower[slot] = confidence; Upper[slot] = confidence; Used++; }
            else { Lower[slot] = Math.Min(Lower[slot], confidence); Upper[slot] = Math.Max(Upper[slot], confidence); }
            Count[slot] += weight;
            SumConfidence[slot] += weight * confidence;
            if (correct) SumCorrect[slot] += weight;
            Total += weight;
        }
    }

    internal static BinSums Accumulate(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct, BinningScheme scheme,
        int bins, ScoreOrder? confidenceOrder, ReadOnlySpan<int> counts)
    {
        Validate(confidence, correct, counts);
        Guard.Bins(bins);
        switch (scheme)
        {
            case BinningScheme.EqualWidth:
            {
                var sums = new BinSums(bins);
                for (int i = 0; i < confidence.Length; i++)
                {
                    int w = Guard.Weight(counts, i);
                    if (w > 0) sums.Add(EqualWidthBin(confidence[i], bins), w, confidence[i], correct[i]);
                }
                return sums;
            }
            case BinningScheme.EqualMass:
            {
                var order = confidenceOrder ?? ScoreOrder.Ascending(confidence);
                Guard.Order(order, confidence.Length, nameof(confidenceOrder));
                int[] groupBin = EqualMassGroupBins(order, counts, bins, out int slots);
                var sums = new BinSums(Math.Max(slots, 1));
                ReadOnlySpan<int> idx = order.Order;
                ReadOnlySpan<int> ends = order.GroupEnds;
                int start = 0;
                for (int g = 0; g < ends.Length; g++)
                {
                    for (int p = start; p < ends[g]; p++)
                    {
                        int i = idx[p];
                        int w = Guard.Weight(counts, i);
                        if (w > 0) sums.Add(groupBin[g], w, confidence[i], correct[i]);
                    }
                    start = ends[g];
                }
                return sums;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(scheme), scheme, null);
        }
    }

    /// <summary>
    /// The equal-mass bin of each tie group of <paramref name="order"/> (see <see cref="BinningScheme.EqualMass"/>),
    /// computed on the expanded sequence in which item i appears counts[i] times. Groups of zero weight get bin 0
    /// (they add nothing). <paramref name="slots"/> is the number of nominal bins, min(bins, total weight).
    /// </summary>
    internal static int[] EqualMassGroupBins(ScoreOrder order, ReadOnlySpan<int> counts, int bins, out int slots)
    {
        ReadOnlySpan<int> idx = order.Order;
        ReadOnlySpan<int> ends = order.GroupEnds;
        long[] groupWeight = new long[ends.Length];
        long total = 0;
        int start = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            long w = 0;
            for (int p = start; p < ends[g]; p++) w += Guard.Weight(counts, idx[p]);
            groupWeight[g] = w;
            total += w;
            start = ends[g];
        }

        int[] result = new int[ends.Length];
        slots = (int)Math.Min(bins, total);
        if (slots <= 1) return result;

        // Nominal boundaries before expanded positions ⌊j·m/B⌋, j = 1..B−1, snapped out of tie runs.
        long[] boundary = new long[slots - 1];
        for (int j = 1; j < slots; j++) boundary[j - 1] = j * total / slots;
        int k = 0;
        long s = 0;
        for (int g = 0; g < ends.Length && k < boundary.Length; g++)
        {
            long e = s + groupWeight[g];
            for (; k < boundary.Length && boundary[k] < e; k++)
                if (boundary[k] > s) boundary[k] = boundary[k] - s < e - boundary[k] ? s : e;
            s = e;
        }

        // A group's bin is the number of boundaries at or before its first expanded position.
        k = 0;
        s = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            while (k < boundary.Length && boundary[k] <= s) k++;
            result[g] = k;
            s += groupWeight[g];
        }
        return result;
    }
}
