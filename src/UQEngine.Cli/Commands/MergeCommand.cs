using System.CommandLine;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Runner;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine merge`: the shard folders of one `eval --shard` run as one results folder (EvaluationMerge).</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var folders = new Argument<string[]>("folders") { Description = "The results folders of every shard of one run (eval --shard I/N)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out", "-o") { Description = "The merged results folder (new, empty, or an earlier merge of the same run)", Required = true };
        var bootstrap = new Option<int?>("--bootstrap") { Description = "Bootstrap resamples per interval (default: the shards')" };
        var by = new Option<string?>("--by") { Description = "Metadata fields to break the metrics down by, comma-separated (default: the shards')" };
        var command = new Command("merge", "Combine the shard folders of one evaluation into one results folder: items, summary, report and figures as the unsharded run writes them")
        {
            folders, output, bootstrap, by,
        };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            if (result.GetValue(bootstrap) is < 0) throw new CliException("--bootstrap must be >= 0");
            var options = new EvaluationMergeOptions
            {
                Figures = new ScottPlotFigureRenderer(),
                BootstrapResamples = result.GetValue(bootstrap),
                BreakdownFields = result.GetValue(by) is { } fields ? fields.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null,
            };
            string folder = result.GetValue(output)!;
            string[] shards = result.GetValue(folders)!;
            var run = EvaluationMerge.Merge(shards, folder, options);
            AnsiConsole.MarkupLine($"Merged {shards.Length} shard(s): {run.Summary.Dataset.ItemsEvaluated} items");
            EvalCommand.Show(AnsiConsole.Console, run, folder);
            return 0;
        }));
        return command;
    }
}
