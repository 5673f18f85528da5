using System.Globalization;
using Spectre.Console;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;

namespace UQEngine.Cli.Rendering;

/// <summary>`generate --probe`: loading the probe and showing its readings (kept out of GenerateCommand).</summary>
internal static class ProbeOutput
{
    public static ProbeFile? Load(string? path, LlamaModel model)
    {
        if (string.IsNullOrWhiteSpace(path)) return null;
        ProbeFile probe;
        try { probe = ProbeFile.Load(path); }
        catch (InvalidDataException e) { throw new CliException(e.Message); }
        probe.EnsureFits(model);
        return probe;
    }

    public static ContextOptions Configure(ProbeFile? probe, ContextOptions options, LlamaModel model) =>
        probe is null ? options : ProbeLayers.Expose(options, [probe.Features.Layer], model.Facts);

    /// <summary>Per sequence: the answer's P(correct), its logit, and one confidence per decoding step (token i, then
    /// the step that ended the answer when it ended on end-of-generation).</summary>
    public static object Json(ProbeScorerSet scorers, IReadOnlyList<GenerationResult> outputs) => outputs.Select(o =>
    {
        var r = scorers.Result(o.Sequence);
        return new { sequence = o.Sequence, confidence = r.Confidence, logit = r.Logit, token_confidences = r.TokenConfidences };
    });

    public static void Show(IAnsiConsole console, ProbeScorerSet scorers, IReadOnlyList<GenerationResult> outputs)
    {
        foreach (var o in outputs)
        {
            var r = scorers.Result(o.Sequence);
            string perToken = string.Join(" ", o.Tokens.Select((t, i) => $"{Markup.Escape(t.Text.Replace("\n", "\\n"))}[grey]:{r.TokenConfidences[i].ToString("F2", CultureInfo.InvariantCulture)}[/]"));
            console.MarkupLine($"Probe P(correct) [bold]{r.Confidence.ToString("F3", CultureInfo.InvariantCulture)}[/]" + (outputs.Count > 1 ? $" (sequence {o.Sequence})" : "") + $"; per token: {perToken}");
        }
    }
}
