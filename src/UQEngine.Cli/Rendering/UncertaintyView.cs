using Spectre.Console;
using UQEngine.Inference;
using UQEngine.Uncertainty;

namespace UQEngine.Cli.Rendering;

/// <summary>Terminal view: each token shaded by the probability the model gave it, then the sequence scores.</summary>
internal static class UncertaintyView
{
    // Probability bands, most to least certain. Colour rather than numbers: the eye finds the red spans at once.
    private static readonly (double Min, string Colour, string Label)[] Bands =
    [
        (0.9, "green", "p >= 0.9"), (0.5, "yellow", "0.5-0.9"), (0.2, "darkorange", "0.2-0.5"), (0.0, "red", "p < 0.2"),
    ];

    public static void Show(IAnsiConsole console, string model, IReadOnlyList<GenerationResult> results, TimeSpan elapsed, bool tokenTable)
    {
        console.MarkupLine("[grey]legend:[/] " + string.Join("  ", Bands.Select(b => $"[{b.Colour}]{Markup.Escape(b.Label)}[/]")));
        int generated = results.Sum(r => r.Tokens.Count);
        foreach (var r in results)
        {
            if (results.Count > 1) console.MarkupLine($"[bold]sample {r.Sequence}[/]");
            console.Write(new Markup(Shaded(r.Tokens)));
            console.WriteLine();
            if (tokenTable) console.Write(TokenTable(r.Tokens));
            console.Write(ScoreTable(r.Uncertainty, r.FinishReason.ToString(), r.Tokens.Count));
        }
        double rate = generated / Math.Max(elapsed.TotalSeconds, 1e-9);
        console.MarkupLine($"[grey]{Markup.Escape(model)} · {generated} tokens in {elapsed.TotalSeconds:F2} s ({rate:F1} tok/s, prompt included)[/]");
    }

    public static void ShowScored(IAnsiConsole console, ScoredSequence scored)
    {
        console.Write(new Markup(Shaded(scored.Tokens)));
        console.WriteLine();
        console.Write(TokenTable(scored.Tokens));
        console.Write(ScoreTable(scored.Uncertainty, "scored", scored.Tokens.Count));
    }

    private static string Shaded(IEnumerable<GeneratedToken> tokens) =>
        string.Concat(tokens.Select(t => $"[{Colour(t.Probability)}]{Markup.Escape(t.Text)}[/]"));

    private static string Colour(double p) => double.IsNaN(p) ? "default" : Bands.First(b => p >= b.Min).Colour;

    private static Table TokenTable(IReadOnlyList<GeneratedToken> tokens)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("#", "token", "p", "entropy", "rank", "alternatives");
        foreach (var t in tokens)
        {
            string alts = string.Join("  ", t.Alternatives.Select(a => $"{Printable(a.Text)} {Math.Exp(a.LogProbability):F2}"));
            table.AddRow(t.HasNonFiniteLogits ? $"{t.Index} [red]NaN/∞[/]" : t.Index.ToString(), $"[{Colour(t.Probability)}]{Markup.Escape(Printable(t.Text))}[/]", $"{t.Probability:F3}", $"{t.Entropy:F2}", t.Rank.ToString(), Markup.Escape(alts));
        }
        return table;
    }

    private static Table ScoreTable(TokenProbabilityScores s, string finish, int tokens)
    {
        // One row per score: stays readable in a narrow terminal, where eight columns would be cut off.
        var table = new Table().Border(TableBorder.Rounded).AddColumn("sequence score").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("sequence probability (MSP)", $"{s.SequenceProbability:G3}");
        table.AddRow("mean token log p", $"{s.MeanLogProbability:F3}");
        table.AddRow("perplexity", $"{s.Perplexity:F2}");
        table.AddRow("mean / max entropy (nats)", $"{s.MeanEntropy:F2} / {s.MaxEntropy:F2}");
        table.AddRow("min token probability", $"{s.MinTokenProbability:F3}");
        table.AddRow("tokens, finish", $"{tokens}, {finish}");
        if (s.NonFiniteStepCount > 0)
        {
            // A broken model (e.g. NaN weights): the scores above are the kernel's limits, not a distribution.
            table.AddRow("[red]steps with NaN/±∞ logits[/]", $"[red]{s.NonFiniteStepCount} of {s.TokenCount}: scores unreliable[/]");
        }
        return table;
    }

    private static string Printable(string text) => text.Replace("\n", "\\n").Replace("\t", "\\t");
}
