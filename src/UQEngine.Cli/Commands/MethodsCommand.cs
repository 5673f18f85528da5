using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using UQEngine.Evaluation.Sensitivity;
using UQEngine.Methods;
using UQEngine.Server;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine methods`: the method catalog, and where each method runs (read from what it declares).</summary>
internal static class MethodsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the catalog as JSON" };
        var command = new Command("methods", "List the uncertainty methods: family, what each reads, and where it runs (eval, sensitivity, serve, --endpoint)") { json };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var rows = MethodCatalog.Default.Methods.Select(m => m.Descriptor).Select(d => new
            {
                name = d.Name,
                family = d.Family.ToString(),
                description = d.Description,
                statistics = d.Statistics,
                settings = d.Settings,
                gives_confidence = d.GivesConfidence,
                multiple_choice_only = d.MultipleChoiceOnly,
                needs = d.Needs,
                sensitivity = d.ComputableFrom(SensitivityAnalysis.CachedStatistics),
                serve = d.Name is UncertaintyMethods.Probe or UncertaintyMethods.LoraQuery || d.ComputableFrom(UncertaintyMethods.ChoiceStatistics),
                remote = d.Remote.Runs,
                remote_how = d.Remote.How,
            }).ToList();
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("method", "family", "conf.", "sens.", "serve", "remote", "what it is");
            foreach (var r in rows)
                table.AddRow(Markup.Escape(r.name), r.family, r.gives_confidence ? "yes" : "", r.sensitivity ? "yes" : "", r.serve ? "yes" : "", r.remote ? "yes" : "no",
                    Markup.Escape(r.description + (r.needs is null ? "" : $" (needs {r.needs})")));
            AnsiConsole.Write(table);
            foreach (var r in rows.Where(r => !r.remote)) AnsiConsole.MarkupLine($"[grey]remote: {Markup.Escape(r.name)} does not run over --endpoint: {Markup.Escape(r.remote_how)}[/]");
            AnsiConsole.MarkupLine("conf.: gives a confidence (calibration metrics). All run in [bold]eval[/], [bold]compare[/] and [bold]generate --methods[/]; "
                + "[bold]sens.[/]: [bold]sensitivity[/] re-scores it from its sample cache; [bold]serve[/]: the server computes it from a request's n choices; "
                + "[bold]remote[/]: [bold]eval --endpoint[/] runs it over an OpenAI-compatible endpoint (--json says how). "
                + "--json adds the statistics each reads and the settings it depends on.");
            return 0;
        }));
        return command;
    }
}
