using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Decisions;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;
using UQEngine.Methods;

namespace UQEngine.Cli.Commands;

/// <summary>
/// The options `uqengine eval` gains from the probes work, kept out of EvalCommand: <c>--probe FILE</c> (method
/// "probe", scored inside the decoding loop) and <c>--escalate oracle|MODEL.gguf</c> (the answer-or-escalate simulation).
/// </summary>
internal sealed class EvalExtensions
{
    public const string DecisionsMarkdown = "decisions.md", DecisionsJson = "decisions.json", DecisionsPng = "decisions.png";

    private readonly Option<string?> _probe = new("--probe") { Description = "Probe file (uqengine probe train): enables method 'probe'" };
    private readonly Option<string?> _escalate = new("--escalate") { Description = "Simulate 'answer if confident, else escalate' per method: 'oracle' (escalated items count as correct) or a fallback GGUF whose graded answers count" };
    private readonly Option<string?> _loraQuery = new("--lora-query") { Description = "LoRA query adapter (lora-query-train): enables method 'lora_query'" };
    private ProbeFile? _probeFile;
    private LoraQueryStatistic? _loraQueryStatistic;

    public void AddTo(Command command) { command.Add(_probe); command.Add(_loraQuery); command.Add(_escalate); }

    /// <summary>Loads the probe and registers its method before the method list is resolved.</summary>
    public void Prepare(ParseResult result, UncertaintyMethodRegistry registry, string methodList)
    {
        bool wantsLoraQuery = methodList.Split(',', StringSplitOptions.TrimEntries).Contains(LoraQueryMethod.MethodName, StringComparer.OrdinalIgnoreCase);
        if (result.GetValue(_loraQuery) is { Length: > 0 } adapter)
        {
            if (!File.Exists(adapter)) throw new CliException($"--lora-query: '{adapter}' does not exist");
            _loraQueryStatistic = LoraQueryMethod.Register(registry, adapter);
        }
        else if (wantsLoraQuery) throw new CliException("method 'lora_query' needs --lora-query FILE (train one with the TorchSharp trainer's lora-query-train, docs/PROBES.md)");
        bool wantsProbe = methodList.Split(',', StringSplitOptions.TrimEntries).Contains(ProbeMethod.MethodName, StringComparer.OrdinalIgnoreCase);
        if (result.GetValue(_probe) is not { Length: > 0 } path)
        {
            if (wantsProbe) throw new CliException("method 'probe' needs --probe FILE (train one with uqengine probe train)");
            return;
        }
        try { _probeFile = ProbeFile.Load(path); }
        catch (InvalidDataException e) { throw new CliException(e.Message); }
        ProbeMethod.Register(registry, _probeFile);
    }

    /// <summary>The context options with the probe's layer exposed.</summary>
    public ContextOptions Configure(ContextOptions options, LlamaModel model)
    {
        // Load the adapter now: one trained on another base model is refused before any item runs.
        try { _loraQueryStatistic?.Load(model); }
        catch (Exception e) when (e is InferenceException or UQEngine.Gguf.GgufFormatException or FileNotFoundException) { throw new CliException(e.Message); }
        if (_probeFile is null) return options;
        _probeFile.EnsureFits(model);
        return ProbeLayers.Expose(options, [_probeFile.Features.Layer], model.Facts);
    }

    /// <summary>Writes decisions.md/.json/.png into the results folder when --escalate was given.</summary>
    public void AfterRun(ParseResult result, ModelOptionsBinder model, EvaluationDataset data, EvaluationRunResult run, EvaluationRunOptions options, IAnsiConsole console, CancellationToken cancellation)
    {
        if (result.GetValue(_escalate) is not { Length: > 0 } target) return;
        var items = run.Items;
        bool[] correct = [.. items.Select(i => i.Correct)];
        bool[]? fallback = null;
        string fallbackName = "an oracle";
        if (!target.Equals("oracle", StringComparison.OrdinalIgnoreCase))
        {
            using var llm = LlamaModel.Load(target, model.LoadOptions(result));
            using var context = llm.CreateContext(model.ContextOptions(result));
            using var generator = new Generator(context);
            var byId = data.Items.ToDictionary(i => i.Id, StringComparer.Ordinal);
            var answers = GradedExamples.Answers(generator, [.. items.Select(i => byId[i.Id])], new GradedExampleOptions { AnswerMaxTokens = options.Statistics.AnswerMaxTokens, UseChatTemplate = options.Statistics.UseChatTemplate }, null, cancellation);
            fallback = [.. items.Select(i => GradedExamples.Grade(byId[i.Id], answers[i.Id]).Correct)];
            fallbackName = $"{Path.GetFileName(target)} (accuracy {fallback.Count(c => c) / (double)fallback.Length:F3})";
        }
        var curves = new List<EscalationCurve>();
        foreach (string method in options.Methods)
        {
            var rows = items.Where(i => i.Methods.ContainsKey(method)).ToList();
            if (rows.Count != items.Count) continue; // a method that skips items (option_prob on open answers) cannot decide for all
            curves.Add(EscalationSimulation.Simulate(method, [.. rows.Select(i => i.Methods[method].Confidence ?? -i.Methods[method].Uncertainty)], correct, fallback));
        }
        if (curves.Count == 0) { console.MarkupLine("[yellow]--escalate: no method has a value for every item; nothing simulated.[/]"); return; }
        string folder = options.OutputFolder;
        File.WriteAllText(Path.Combine(folder, DecisionsMarkdown), EscalationSimulation.Markdown(curves, fallbackName, items.Count) + "\n![accuracy against escalation](decisions.png)\n");
        File.WriteAllText(Path.Combine(folder, DecisionsJson), JsonSerializer.Serialize(new { fallback = fallbackName, curves }, ProbeFile.JsonOptions));
        ProbePlots.EscalationPng(Path.Combine(folder, DecisionsPng), curves, fallbackName);
        var table = new Table().AddColumns(["method", .. EscalationSimulation.ReportFractions.Select(f => $"≤{f:P0} esc.")]);
        foreach (var c in curves) table.AddRow([Markup.Escape(c.Method), .. EscalationSimulation.ReportFractions.Select(f => c.AtMostFraction(f).Accuracy.ToString("F3"))]);
        console.Write(table);
        console.MarkupLine($"Decisions (escalate to {Markup.Escape(fallbackName)}): {DecisionsMarkdown}, {DecisionsJson}, {DecisionsPng}");
    }
}
