namespace UQEngine.Evaluation.Metrics;

/// <summary>
/// A risk–coverage curve: at coverage k/n the k least uncertain items are kept and the risk is their mean loss
/// (loss = 1 − quality; for binary correctness, the error rate). Tied uncertainties are averaged (see
/// <see cref="SelectivePredictionSet"/>). The prediction-rejection curve of PRR is the same data read as
/// rejection = 1 − coverage and quality = 1 − risk.
/// </summary>
/// <param name="Coverage">k/n for k = 1..n, ascending.</param>
/// <param name="Risk">Expected mean loss of the k least uncertain items.</param>
public sealed record RiskCoverageCurve(IReadOnlyList<double> Coverage, IReadOnlyList<double> Risk)
{
    /// <summary>The area under the curve, (1/n) Σ_k risk_k. Lower is better.</summary>
    public MetricValue Aurc
    {
        get
        {
            if (Risk.Count == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
            double sum = 0;
            foreach (double r in Risk) sum += r;
            return MetricValue.Defined(sum / Risk.Count);
        }
    }
}

/// <summary>
/// Selective prediction ("abstain on the most uncertain items") metrics over one set of items, sorted once so that
/// every metric, and every bootstrap resample of it, is O(n).
/// </summary>
/// <remarks>
/// <para><b>Ordering and ties.</b> Items are kept in ascending order of uncertainty u. Items with equal u cannot be
/// told apart by the score, so the curve is the <em>expectation over uniformly random tie-breaking</em>: when the k-th
/// kept item falls inside a tied group that starts at position s, the expected loss kept is
/// L_before + (k − s)·mean(loss of the group). This makes every metric below independent of input order, and a
/// constant score gives exactly the random-ranking value.</para>
/// <para><b>Loss and quality.</b> With binary labels loss = 1 − correct; with a graded quality q ∈ [0, 1] (higher =
/// better answer) loss = 1 − q.</para>
/// <list type="bullet">
/// <item>risk(k) = E[Σ_{i ≤ k} loss_(i)] / k, coverage k/n, k = 1..n.</item>
/// <item>AURC = (1/n) Σ_k risk(k) (Geifman et al. 2019). Lower is better.</item>
/// <item>Oracle AURC* = the same with items ordered by their loss ascending (the best possible order for these
/// labels; the exact discrete value, not the continuous approximation r + (1 − r) ln(1 − r)).</item>
/// <item>Random AURC = mean loss (every k has expected risk = mean loss under a random order).</item>
/// <item>E-AURC = AURC − AURC*. Lower is better; 0 = optimal ranking.</item>
/// <item>PRR (prediction rejection ratio, Malinin et al. 2017; LM-Polygraph). The rejection curve of quality keeps
/// the n − j least uncertain items after rejecting j; its area is AUC = (1/n) Σ_{k=1..n} mean quality of the k kept
/// = 1 − AURC. Then PRR = (AUC_unc − AUC_random) / (AUC_oracle − AUC_random)
/// = (AURC_random − AURC) / (AURC_random − AURC*). Higher is better: 1 = oracle, 0 = random, negative = worse than
/// random. AUC_random is the exact expectation, mean quality, where LM-Polygraph averages 1000 random permutations;
/// LM-Polygraph also min-max normalises the quality first, which PRR is invariant to (it is a ratio of differences
/// of quantities linear in the quality). The whole rejection range (0 to 100%) is used. Undefined when every item
/// has the same quality (0/0): <see cref="UndefinedReasons.OneClassOnly"/> for binary labels,
/// <see cref="UndefinedReasons.ConstantQuality"/> for graded.</item>
/// <item>Selective accuracy at coverage c: keep k = ⌈c·n − 1e−9⌉ items (at least 1; the 1e−9 absorbs rounding so
/// that 0.7 × 10 keeps 7); accuracy = 1 − risk(k) (for graded quality: the mean quality kept). Higher is better.</item>
/// </list>
/// <para>Every method takes optional bootstrap multiplicities: item i counts <c>counts[i]</c> times (empty = once
/// each), which is exactly the metric on the resample (duplicates of an item tie with it).</para>
/// </remarks>
public sealed class SelectivePredictionSet
{
    private readonly double[] _loss;
    private readonly ScoreOrder _byUncertainty;
    private readonly ScoreOrder _byLoss;

    /// <summary>Items with binary correctness.</summary>
    public SelectivePredictionSet(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct)
    {
        Guard.SameLength(uncertainty.Length, correct.Length, nameof(correct));
        _loss = new double[correct.Length];
        for (int i = 0; i < _loss.Length; i++) _loss[i] = correct[i] ? 0 : 1;
        _byUncertainty = ScoreOrder.Ascending(uncertainty);
        _byLoss = ScoreOrder.Ascending(_loss);
        IsBinary = true;
    }

    /// <summary>Items with a graded quality in [0, 1] (higher = better answer).</summary>
    public SelectivePredictionSet(ReadOnlySpan<double> uncertainty, ReadOnlySpan<double> quality)
    {
        Guard.SameLength(uncertainty.Length, quality.Length, nameof(quality));
        Guard.UnitInterval(quality, nameof(quality));
        _loss = new double[quality.Length];
        for (int i = 0; i < _loss.Length; i++) _loss[i] = 1 - quality[i];
        _byUncertainty = ScoreOrder.Ascending(uncertainty);
        _byLoss = ScoreOrder.Ascending(_loss);
    }

    /// <summary>Number of items.</summary>
    public int Count => _loss.Length;

    /// <summary>True when built from binary correctness.</summary>
    public bool IsBinary { get; }

    /// <summary>Area under the risk–coverage curve. Lower is better.</summary>
    public MetricValue Aurc(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        var (sum, m) = Area(_byUncertainty, counts, default);
        return m == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(sum / m);
    }

    /// <summary>AURC of the oracle order (loss ascending), the lowest possible for these labels.</summary>
    public MetricValue OracleAurc(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        var (sum, m) = Area(_byLoss, counts, default);
        return m == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(sum / m);
    }

    /// <summary>Expected AURC of a random order: the mean loss.</summary>
    public MetricValue RandomAurc(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        double sum = 0, m = 0;
        for (int i = 0; i < _loss.Length; i++)
        {
            int w = Guard.Weight(counts, i);
            sum += w * _loss[i];
            m += w;
        }
        return m == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined(sum / m);
    }

    /// <summary>E-AURC = AURC − AURC*. Lower is better; 0 = optimal.</summary>
    public MetricValue ExcessAurc(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        var (sum, m) = Area(_byUncertainty, counts, default);
        if (m == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        var (oracle, _) = Area(_byLoss, counts, default);
        return MetricValue.Defined((sum - oracle) / m);
    }

    /// <summary>Prediction rejection ratio (AURC_random − AURC) / (AURC_random − AURC*). Higher is better.</summary>
    public MetricValue PredictionRejectionRatio(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        double min = double.PositiveInfinity, max = double.NegativeInfinity, lossSum = 0;
        long m = 0;
        for (int i = 0; i < _loss.Length; i++)
        {
            int w = Guard.Weight(counts, i);
            if (w == 0) continue;
            min = Math.Min(min, _loss[i]);
            max = Math.Max(max, _loss[i]);
            lossSum += w * _loss[i];
            m += w;
        }
        if (m == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        if (min == max) return MetricValue.Undefined(IsBinary ? UndefinedReasons.OneClassOnly : UndefinedReasons.ConstantQuality);
        var (area, _) = Area(_byUncertainty, counts, default);
        var (oracle, _) = Area(_byLoss, counts, default);
        double random = lossSum / m;
        return MetricValue.Defined((random - area / m) / (random - oracle / m));
    }

    /// <summary>Expected mean loss of the ⌈c·n⌉ least uncertain items (at least one). Lower is better.</summary>
    public MetricValue SelectiveRisk(double coverage, ReadOnlySpan<int> counts = default)
    {
        if (!(coverage > 0 && coverage <= 1)) throw new ArgumentOutOfRangeException(nameof(coverage), coverage, "Coverage must lie in (0, 1].");
        Guard.Counts(counts, Count);
        long m = 0;
        for (int i = 0; i < _loss.Length; i++) m += Guard.Weight(counts, i);
        if (m == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        long k = Math.Clamp((long)Math.Ceiling(coverage * m - 1e-9), 1, m);

        ReadOnlySpan<int> idx = _byUncertainty.Order;
        ReadOnlySpan<int> ends = _byUncertainty.GroupEnds;
        double lossBefore = 0;
        long kept = 0;
        int start = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            double w = 0, l = 0;
            for (int p = start; p < ends[g]; p++)
            {
                int i = idx[p];
                int c = Guard.Weight(counts, i);
                w += c;
                l += c * _loss[i];
            }
            start = ends[g];
            if (w == 0) continue;
            if (kept + w >= k) return MetricValue.Defined((lossBefore + (k - kept) * (l / w)) / k);
            kept += (long)w;
            lossBefore += l;
        }
        throw new InvalidOperationException("unreachable: coverage beyond the items");
    }

    /// <summary>1 − <see cref="SelectiveRisk"/>: accuracy (binary) or mean quality (graded) of the ⌈c·n⌉ kept items. Higher is better.</summary>
    public MetricValue SelectiveAccuracy(double coverage, ReadOnlySpan<int> counts = default) =>
        SelectiveRisk(coverage, counts).Select(r => 1 - r);

    /// <summary>The full curve, one point per kept count k = 1..n (with multiplicities, n = Σ counts).</summary>
    public RiskCoverageCurve RiskCoverageCurve(ReadOnlySpan<int> counts = default)
    {
        Guard.Counts(counts, Count);
        long m = 0;
        for (int i = 0; i < _loss.Length; i++) m += Guard.Weight(counts, i);
        var risk = new double[m];
        var coverage = new double[m];
        Area(_byUncertainty, counts, risk);
        for (long k = 0; k < m; k++) coverage[k] = (double)(k + 1) / m;
        return new RiskCoverageCurve(coverage, risk);
    }

    /// <summary>Σ_k risk(k) over k = 1..m in the given order, ties averaged; optionally writes risk(k) to <paramref name="curve"/>.</summary>
    private (double Sum, long M) Area(ScoreOrder order, ReadOnlySpan<int> counts, Span<double> curve)
    {
        ReadOnlySpan<int> idx = order.Order;
        ReadOnlySpan<int> ends = order.GroupEnds;
        double lossBefore = 0, sum = 0;
        long k = 0;
        int start = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            long w = 0;
            double l = 0;
            for (int p = start; p < ends[g]; p++)
            {
                int i = idx[p];
                int c = Guard.Weight(counts, i);
                w += c;
                l += c * _loss[i];
            }
            start = ends[g];
            if (w == 0) continue;
            double mean = l / w;
            for (long j = 1; j <= w; j++)
            {
                double risk = (lossBefore + j * mean) / (k + j);
                sum += risk;
                if (!curve.IsEmpty) curve[(int)(k + j - 1)] = risk;
            }
            k += w;
            lossBefore += l;
        }
        return (sum, k);
    }
}

/// <summary>One-call forms of the <see cref="SelectivePredictionSet"/> metrics (each call sorts; build a set to reuse).</summary>
public static class SelectivePrediction
{
    /// <summary>Risk–coverage curve, errors as loss.</summary>
    public static RiskCoverageCurve RiskCoverageCurve(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct) =>
        new SelectivePredictionSet(uncertainty, correct).RiskCoverageCurve();

    /// <summary>Risk–coverage curve, 1 − quality as loss.</summary>
    public static RiskCoverageCurve RiskCoverageCurve(ReadOnlySpan<double> uncertainty, ReadOnlySpan<double> quality) =>
        new SelectivePredictionSet(uncertainty, quality).RiskCoverageCurve();

    /// <summary>AURC with binary correctness. Lower is better.</summary>
    public static MetricValue Aurc(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct) =>
        new SelectivePredictionSet(uncertainty, correct).Aurc();

    /// <summary>AURC with graded quality. Lower is better.</summary>
    public static MetricValue Aurc(ReadOnlySpan<double> uncertainty, ReadOnlySpan<double> quality) =>
        new SelectivePredictionSet(uncertainty, quality).Aurc();

    /// <summary>E-AURC with binary correctness. Lower is better.</summary>
    public static MetricValue ExcessAurc(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct) =>
        new SelectivePredictionSet(uncertainty, correct).ExcessAurc();

    /// <summary>E-AURC with graded quality. Lower is better.</summary>
    public static MetricValue ExcessAurc(ReadOnlySpan<double> uncertainty, ReadOnlySpan<double> quality) =>
        new SelectivePredictionSet(uncertainty, quality).ExcessAurc();

    /// <summary>PRR with binary correctness as the quality. Higher is better.</summary>
    public static MetricValue PredictionRejectionRatio(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct) =>
        new SelectivePredictionSet(uncertainty, correct).PredictionRejectionRatio();

    /// <summary>PRR with a graded quality in [0, 1]. Higher is better.</summary>
    public static MetricValue PredictionRejectionRatio(ReadOnlySpan<double> uncertainty, ReadOnlySpan<double> quality) =>
        new SelectivePredictionSet(uncertainty, quality).PredictionRejectionRatio();

    /// <summary>Accuracy of the ⌈c·n⌉ least uncertain items. Higher is better.</summary>
    public static MetricValue SelectiveAccuracy(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct, double coverage) =>
        new SelectivePredictionSet(uncertainty, correct).SelectiveAccuracy(coverage);
}
