using System.Globalization;
using System.Text;

namespace UQEngine.Evaluation.Decisions;

/// <summary>One threshold of the policy "answer when confidence ≥ threshold, else escalate".</summary>
/// <param name="Threshold">Items with a confidence below it are escalated; null: all are.</param>
/// <param name="Escalated">How many items are escalated.</param>
/// <param name="FractionEscalated">Escalated / all items.</param>
/// <param name="Accuracy">Correct answers (the model's kept ones and the fallback's) / all items.</param>
public sealed record EscalationPoint(double? Threshold, int Escalated, double FractionEscalated, double Accuracy);

/// <summary>A method's accuracy-against-escalation curve, from 0 escalated to all escalated.</summary>
public sealed record EscalationCurve(string Method, IReadOnlyList<EscalationPoint> Points)
{
    /// <summary>The point with the most escalations not above <paramref name="fraction"/> of the items.</summary>
    public EscalationPoint AtMostFraction(double fraction) => Points.Last(p => p.FractionEscalated <= fraction + 1e-12);
}

/// <summary>
/// Simulates an uncertainty-aware decision policy on graded items: each item is answered by the model when its
/// confidence is at least a threshold, otherwise it is escalated (to a fallback model, a retrieval step, a person).
/// Accuracy = (correct answered items + items the fallback gets right) / all items. With an oracle fallback every
/// escalated item counts as correct; with a fallback model, its own graded answer counts. Ties in confidence are
/// escalated together, as a threshold must.
/// </summary>
public static class EscalationSimulation
{
    /// <param name="method">Name for reports.</param>
    /// <param name="confidence">Per item: higher = more sure (a method's confidence, or its negated uncertainty).</param>
    /// <param name="correct">Whether the model's own answer was graded correct.</param>
    /// <param name="fallbackCorrect">Whether the fallback's answer is correct; null = an oracle (always correct).</param>
    public static EscalationCurve Simulate(string method, IReadOnlyList<double> confidence, IReadOnlyList<bool> correct, IReadOnlyList<bool>? fallbackCorrect = null)
    {
        int n = correct.Count;
        if (confidence.Count != n) throw new ArgumentException($"{confidence.Count} confidences for {n} items");
        if (fallbackCorrect is not null && fallbackCorrect.Count != n) throw new ArgumentException($"{fallbackCorrect.Count} fallback grades for {n} items");
        if (n == 0) throw new ArgumentException("no items to simulate");
        if (confidence.Any(double.IsNaN)) throw new ArgumentException($"method '{method}' has a NaN confidence");
        int[] order = [.. Enumerable.Range(0, n).OrderBy(i => confidence[i])];
        // Start with nothing escalated; then escalate tie groups from the least confident up.
        int answeredCorrect = correct.Count(c => c), fallbackRight = 0, escalated = 0;
        var points = new List<EscalationPoint> { new(order.Length > 0 ? confidence[order[0]] : 0, 0, 0, (double)answeredCorrect / n) };
        int k = 0;
        while (k < n)
        {
            double value = confidence[order[k]];
            while (k < n && confidence[order[k]] == value)
            {
                int i = order[k++];
                if (correct[i]) answeredCorrect--;
                if (fallbackCorrect?[i] ?? true) fallbackRight++;
                escalated++;
            }
            double? threshold = k < n ? confidence[order[k]] : null;
            points.Add(new EscalationPoint(threshold, escalated, (double)escalated / n, (double)(answeredCorrect + fallbackRight) / n));
        }
        return new EscalationCurve(method, points);
    }

    /// <summary>Fractions of escalated items the Markdown table reports.</summary>
    public static readonly IReadOnlyList<double> ReportFractions = [0, 0.1, 0.2, 0.3, 0.5, 1];

    /// <summary>A Markdown table: accuracy at most 0 %, 10 %, ... of items escalated, per method.</summary>
    public static string Markdown(IReadOnlyList<EscalationCurve> curves, string fallback, int items)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Decisions: answer or escalate").AppendLine();
        sb.AppendLine($"Policy: answer when the method's confidence is at least a threshold, else escalate to {fallback}. " +
            $"Accuracy over all {items} items (escalated items count as the fallback's answer) when at most the given share is escalated, least confident first.").AppendLine();
        sb.Append("| method |");
        foreach (double f in ReportFractions) sb.Append(CultureInfo.InvariantCulture, $" ≤{f:P0} escalated |");
        sb.AppendLine().Append("| --- |");
        foreach (var _ in ReportFractions) sb.Append(" --- |");
        sb.AppendLine();
        foreach (var c in curves)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {c.Method} |");
            foreach (double f in ReportFractions)
            {
                var p = c.AtMostFraction(f);
                sb.Append(CultureInfo.InvariantCulture, $" {p.Accuracy:F3} ({p.FractionEscalated:P0}) |");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
