namespace UQEngine.Evaluation.Metrics;

/// <summary>
/// Threshold-free ranking metrics: how well a score separates two classes. Both are undefined
/// (<see cref="UndefinedReasons.OneClassOnly"/>) unless there is at least one positive and one negative.
/// </summary>
/// <remarks>
/// <para>Two conventions are offered for uncertainty evaluation:</para>
/// <list type="bullet">
/// <item><b>Error detection</b>: positives are the <em>wrong</em> answers, ranked by the uncertainty u (higher u should
/// mean "more likely wrong"). This is the usual "AUROC of the uncertainty score" in the UQ literature.</item>
/// <item><b>Correctness</b>: positives are the <em>correct</em> answers, ranked by the confidence c (higher c should
/// mean "more likely right"), as in misclassification-detection work that ranks by maximum softmax probability.</item>
/// </list>
/// <para>AUROC is symmetric: AUROC(errors, u) = AUROC(correct, −u). AUPRC is not (its baseline is the positive rate).</para>
/// <para><b>AUROC</b> is the Mann–Whitney statistic: AUROC = U / (n₊ n₋) with U = R₊ − n₊(n₊+1)/2, where R₊ is the sum of
/// the positives' <em>midranks</em> (tied scores share the mean of the ranks they span). Equivalently
/// AUROC = P(s₊ &gt; s₋) + ½ P(s₊ = s₋) over all positive–negative pairs, which is also the trapezoidal area under the
/// ROC curve with one vertex per distinct score (Hanley &amp; McNeil 1982). It is computed by one pass over the tie groups.
/// Higher is better; 0.5 = random ranking, 1 = perfect, 0 = perfectly inverted.</para>
/// <para><b>AUPRC</b> is average precision with ties grouped: walking the distinct scores from the highest down,
/// AP = Σ_t (R_t − R_{t−1}) · P_t, where P_t and R_t are the precision and recall when every item scoring ≥ t is
/// flagged. A tied group is flagged all at once, so its positives all get the precision of the whole group (the
/// step-wise, non-interpolated convention of scikit-learn's <c>average_precision_score</c>; it is not the
/// expectation over random tie-breaking). Higher is better; a random ranking scores about the positive rate, a
/// perfect one 1.</para>
/// </remarks>
public static class RankingMetrics
{
    /// <summary>AUROC of <paramref name="scores"/> for the items where <paramref name="isPositive"/> is true (positives should score higher).</summary>
    public static MetricValue Auroc(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isPositive)
    {
        Guard.SameLength(scores.Length, isPositive.Length, nameof(isPositive));
        return Auroc(ScoreOrder.Ascending(scores), isPositive, positiveLabel: true, default);
    }

    /// <summary>Average precision (AUPRC) of <paramref name="scores"/> for the items where <paramref name="isPositive"/> is true.</summary>
    public static MetricValue AveragePrecision(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isPositive)
    {
        Guard.SameLength(scores.Length, isPositive.Length, nameof(isPositive));
        return AveragePrecision(ScoreOrder.Ascending(scores), isPositive, positiveLabel: true, default);
    }

    /// <summary>AUROC with the errors as positives, ranked by <paramref name="uncertainty"/> (higher = less certain). Higher is better.</summary>
    public static MetricValue AurocErrorDetection(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct)
    {
        Guard.SameLength(uncertainty.Length, correct.Length, nameof(correct));
        return Auroc(ScoreOrder.Ascending(uncertainty), correct, positiveLabel: false, default);
    }

    /// <summary>AUPRC with the errors as positives, ranked by <paramref name="uncertainty"/>. Higher is better; baseline = error rate.</summary>
    public static MetricValue AuprcErrorDetection(ReadOnlySpan<double> uncertainty, ReadOnlySpan<bool> correct)
    {
        Guard.SameLength(uncertainty.Length, correct.Length, nameof(correct));
        return AveragePrecision(ScoreOrder.Ascending(uncertainty), correct, positiveLabel: false, default);
    }

    /// <summary>AUROC with the correct answers as positives, ranked by <paramref name="confidence"/> (higher = more certain). Higher is better.</summary>
    public static MetricValue AurocCorrectness(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct)
    {
        Guard.SameLength(confidence.Length, correct.Length, nameof(correct));
        return Auroc(ScoreOrder.Ascending(confidence), correct, positiveLabel: true, default);
    }

    /// <summary>AUPRC with the correct answers as positives, ranked by <paramref name="confidence"/>. Higher is better; baseline = accuracy.</summary>
    public static MetricValue AuprcCorrectness(ReadOnlySpan<double> confidence, ReadOnlySpan<bool> correct)
    {
        Guard.SameLength(confidence.Length, correct.Length, nameof(correct));
        return AveragePrecision(ScoreOrder.Ascending(confidence), correct, positiveLabel: true, default);
    }

    /// <summary>
    /// AUROC over a presorted score with per-item multiplicities: item i counts <c>counts[i]</c> times (empty = once each).
    /// Positives are the items whose label equals <paramref name="positiveLabel"/>. O(n).
    /// </summary>
    public static MetricValue Auroc(ScoreOrder order, ReadOnlySpan<bool> labels, bool positiveLabel, ReadOnlySpan<int> counts)
    {
        Guard.Order(order, labels.Length, nameof(order));
        Guard.Counts(counts, labels.Length);
        ReadOnlySpan<int> idx = order.Order;
        ReadOnlySpan<int> ends = order.GroupEnds;
        double negativesBelow = 0, positives = 0, u = 0;
        int start = 0;
        for (int g = 0; g < ends.Length; g++)
        {
            double pos = 0, neg = 0;
            for (int p = start; p < ends[g]; p++)
            {
                int i = idx[p];
                int w = Guard.Weight(counts, i);
                if (labels[i] == positiveLabel) pos += w; else neg += w;
            }
            // Each positive here beats every negative below and ties (½) with the negatives in its own group.
            u += pos * (negativesBelow + 0.5 * neg);
            negativesBelow += neg;
            positives += pos;
            start = ends[g];
        }
        if (positives + negativesBelow == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        if (positives == 0 || negativesBelow == 0) return MetricValue.Undefined(UndefinedReasons.OneClassOnly);
        return MetricValue.Defined(u / (positives * negativesBelow));
    }

    /// <summary>Average precision over a presorted score with per-item multiplicities (see <see cref="Auroc(ScoreOrder, ReadOnlySpan{bool}, bool, ReadOnlySpan{int})"/>). O(n).</summary>
    public static MetricValue AveragePrecision(ScoreOrder order, ReadOnlySpan<bool> labels, bool positiveLabel, ReadOnlySpan<int> counts)
    {
        Guard.Order(order, labels.Length, nameof(order));
        Guard.Counts(counts, labels.Length);
        ReadOnlySpan<int> idx = order.Order;
        ReadOnlySpan<int> ends = order.GroupEnds;
        double tp = 0, fp = 0, sum = 0;
        for (int g = ends.Length - 1; g >= 0; g--)
        {
            int start = g == 0 ? 0 : ends[g - 1];
            double pos = 0, neg = 0;
            for (int p = start; p < ends[g]; p++)
            {
                int i = idx[p];
                int w = Guard.Weight(counts, i);
                if (labels[i] == positiveLabel) pos += w; else neg += w;
            }
            tp += pos;
            fp += neg;
            // Recall rises by pos/P at this threshold; every positive of the group gets the group's precision.
            if (pos > 0) sum += pos * (tp / (tp + fp));
        }
        if (tp + fp == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
        if (tp == 0 || fp == 0) return MetricValue.Undefined(UndefinedReasons.OneClassOnly);
        return MetricValue.Defined(sum / tp);
    }
}
