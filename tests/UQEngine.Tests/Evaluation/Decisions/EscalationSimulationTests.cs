using UQEngine.Evaluation.Decisions;

namespace UQEngine.Tests.Evaluation.Decisions;

public sealed class EscalationSimulationTests
{
    // Five items, confidences 0.9, 0.2, 0.6, 0.2, 0.8; the model is right on items 0, 2 and 3.
    private static readonly double[] Confidence = [0.9, 0.2, 0.6, 0.2, 0.8];
    private static readonly bool[] Correct = [true, false, true, true, false];

    [Fact]
    public void An_oracle_fallback_counts_escalated_items_as_correct_and_ties_go_together()
    {
        var curve = EscalationSimulation.Simulate("m", Confidence, Correct);
        // Thresholds from the bottom: nothing escalated → 3/5; the tie at 0.2 (items 1, 3) → kept 0, 2, 4 (2 right) + 2 = 4/5;
        // then 0.6 (item 2) → kept 0, 4 (1 right) + 3 = 4/5; then 0.8 (item 4) → kept 0 (1) + 4 = 5/5; then all → 5/5.
        Assert.Equal([0, 2, 3, 4, 5], curve.Points.Select(p => p.Escalated));
        Assert.Equal([0.6, 0.8, 0.8, 1.0, 1.0], curve.Points.Select(p => p.Accuracy), new ToleranceComparer(1e-12));
        Assert.Equal(new double?[] { 0.2, 0.6, 0.8, 0.9, null }, curve.Points.Select(p => p.Threshold));
        Assert.Equal(2, curve.AtMostFraction(0.5).Escalated); // 3 escalated would be 60 %
        Assert.Equal(0, curve.AtMostFraction(0.3).Escalated); // the tie makes the first step 40 %
    }

    [Fact]
    public void A_fallback_model_contributes_its_own_graded_answers()
    {
        bool[] fallback = [true, true, false, false, true];
        var curve = EscalationSimulation.Simulate("m", Confidence, Correct, fallback);
        // Escalating items 1, 3: kept 0, 2, 4 → 2 right; fallback right on 1, wrong on 3 → 3/5.
        // + item 2: kept 0, 4 → 1; fallback 1 (item 1) + 0 (item 2) → 2/5. + item 4: kept 0 → 1; fallback 1 + 1 → 3/5.
        // All: fallback right on 0, 1, 4 → 3/5.
        Assert.Equal([0.6, 0.6, 0.4, 0.6, 0.6], curve.Points.Select(p => p.Accuracy), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void Bad_input_is_named()
    {
        Assert.Throws<ArgumentException>(() => EscalationSimulation.Simulate("m", [0.1], [true, false]));
        Assert.Contains("'m'", Assert.Throws<ArgumentException>(() => EscalationSimulation.Simulate("m", [double.NaN], [true])).Message);
        Assert.Throws<ArgumentException>(() => EscalationSimulation.Simulate("m", [], []));
    }

    [Fact]
    public void The_markdown_table_has_a_row_per_method_and_a_column_per_fraction()
    {
        var md = EscalationSimulation.Markdown([EscalationSimulation.Simulate("probe", Confidence, Correct), EscalationSimulation.Simulate("msp", [0.1, 0.2, 0.3, 0.4, 0.5], Correct)], "an oracle", 5);
        var rows = md.Split('\n').Where(l => l.StartsWith("| probe") || l.StartsWith("| msp")).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(EscalationSimulation.ReportFractions.Count + 2, rows[0].Count(c => c == '|'));
        Assert.Contains("0.800 (40 %)", rows[0]); // ≤50 % escalated: the tie group at 0.2 (2 of 5)
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
