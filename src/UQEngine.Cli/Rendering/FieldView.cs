using Spectre.Console;
using UQEngine.Structured;

namespace UQEngine.Cli.Rendering;

/// <summary>`generate --json-schema`: one table per answer, one row per JSON field, shaded by the field's probability.</summary>
internal static class FieldView
{
    public static void Show(IAnsiConsole console, IReadOnlyList<IReadOnlyList<JsonFieldUncertainty>> perSample)
    {
        bool agreement = perSample.Count > 1;
        for (int s = 0; s < perSample.Count; s++)
        {
            var table = new Table().Border(TableBorder.Rounded)
                .Title(perSample.Count > 1 ? $"fields of sample {s}" : "fields")
                .AddColumns("field", "value", "tokens")
                .AddColumn(new TableColumn("P raw").RightAligned())
                .AddColumn(new TableColumn("P constrained").RightAligned())
                .AddColumn(new TableColumn("min token p").RightAligned())
                .AddColumn(new TableColumn("mean entropy").RightAligned())
                .AddColumn(new TableColumn("allowed mass").RightAligned());
            if (agreement) table.AddColumn(new TableColumn("agreement").RightAligned());
            foreach (var f in perSample[s])
            {
                string colour = f.Probability >= 0.9 ? "green" : f.Probability >= 0.5 ? "yellow" : f.Probability >= 0.2 ? "darkorange" : "red";
                var row = new List<string>
                {
                    Markup.Escape(f.Pointer), $"[{colour}]{Markup.Escape(Short(f.Value))}[/]", f.TokenCount.ToString(),
                    $"{f.Probability:F3}", $"{f.ConstrainedProbability:F3}", $"{Math.Exp(f.MinLogProbability):F3}", $"{f.MeanEntropy:F2}", $"{f.MeanAllowedMass:F3}",
                };
                if (agreement) row.Add($"{f.Agreement:F2}");
                table.AddRow([.. row]);
            }
            if (perSample[s].Count == 0) console.MarkupLine("[red]no complete JSON value in the answer (cut by --max-tokens?)[/]");
            else console.Write(table);
        }
    }

    public static object Json(IReadOnlyList<JsonFieldUncertainty> fields) => fields.Select(f => new
    {
        pointer = f.Pointer, value = f.Value, tokens = f.TokenCount,
        logprob = f.LogProbability, min_logprob = f.MinLogProbability, mean_logprob = f.MeanLogProbability,
        constrained_logprob = f.ConstrainedLogProbability, constrained_min_logprob = f.ConstrainedMinLogProbability, constrained_mean_logprob = f.ConstrainedMeanLogProbability,
        mean_entropy = f.MeanEntropy, allowed_mass = f.MeanAllowedMass, min_allowed_mass = f.MinAllowedMass, agreement = f.Agreement,
    });

    private static string Short(string value) => value.Length <= 40 ? value : value[..39] + "…";
}
