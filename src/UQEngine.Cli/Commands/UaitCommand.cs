using System.CommandLine;
using Spectre.Console;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Uait;

using UQEngine.Methods;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine uait export`: UaIT instruction data (answer + stated confidence) from a teacher's scores in eval results.</summary>
internal static class UaitCommand
{
    public static Command Create()
    {
        var results = new Option<string>("--results", "-r") { Description = "A uqengine eval results folder (or its items.jsonl) holding the teacher method", Required = true };
        var dataset = new Option<string>("--dataset", "-d") { Description = "The dataset the evaluation ran on (for the questions)", Required = true };
        var method = new Option<string>("--method") { Description = "Teacher method in the results (e.g. sar)", DefaultValueFactory = _ => SarMethod.MethodName };
        var high = new Option<double>("--keep-correct-above") { Description = "Keep correct answers with teacher confidence >= this", DefaultValueFactory = _ => 0.7 };
        var low = new Option<double>("--keep-wrong-below") { Description = "Keep wrong answers with teacher confidence <= this", DefaultValueFactory = _ => 0.3 };
        var output = new Option<string>("--out", "-o") { Description = "Instruction JSONL to write", Required = true };
        var export = new Command("export", "Write instruction JSONL whose targets are the model's answers followed by the teacher's confidence")
        {
            results, dataset, method, high, low, output,
        };
        export.SetAction(r => CommandRunner.Run(() =>
        {
            var rows = UaitDistillation.ReadResults(r.GetValue(results)!);
            var items = EvalCommand.OpenDataset(r.GetValue(dataset)!).Items.ToDictionary(i => i.Id, StringComparer.Ordinal);
            var options = new UaitOptions { Method = r.GetValue(method)!, KeepCorrectAtLeast = r.GetValue(high), KeepWrongAtMost = r.GetValue(low) };
            var kept = UaitDistillation.Select(rows, items, options);
            UaitDistillation.WriteJsonl(r.GetValue(output)!, kept);
            AnsiConsole.MarkupLine($"{kept.Count} of {rows.Count} answers kept ({kept.Count(e => e.Correct)} correct and sure, {kept.Count(e => !e.Correct)} wrong and doubted) → [bold]{Markup.Escape(Path.GetFullPath(r.GetValue(output)!))}[/]");
            return 0;
        }));
        return new Command("uait", "Uncertainty-aware instruction tuning data (docs/PROBES.md)") { export };
    }
}
