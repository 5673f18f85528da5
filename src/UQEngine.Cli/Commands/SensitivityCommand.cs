using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Sensitivity;
using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine sensitivity`: samples every item once per temperature (K_max samples, cached in the results folder),
/// then re-scores the cached samples over a grid of clustering threshold × temperature × K and reports how AUROC,
/// the item ranking and the confident errors move (Markdown, JSON, PNG).
/// </summary>
internal static class SensitivityCommand
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var sampling = new SampleOptionsBinder();
        var endpoint = new RemoteOptionsBinder();
        var dataset = new Option<string>("--dataset", "-d") { Description = "Dataset file or built-in name (as for eval)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Results folder; its cached samples are reused when the sampling settings match", Required = true };
        var limit = new Option<int?>("--limit") { Description = "Only the first N items" };
        var methods = new Option<string>("--methods") { Description = "Methods to re-score: " + string.Join(", ", SensitivityAnalysis.Methods), DefaultValueFactory = _ => string.Join(",", SensitivityAnalysis.Methods) };
        var thresholds = new Option<string>("--thresholds") { Description = "Clustering thresholds (comma-separated; must include --cluster-threshold)", DefaultValueFactory = _ => "0.3,0.5,0.7,0.9" };
        var temperatures = new Option<string>("--temperatures") { Description = "Sampling temperatures (must include --sample-temperature)", DefaultValueFactory = _ => "0.5,1,1.5" };
        var counts = new Option<string>("--ks") { Description = "Sample counts K (must include --sample-count; the largest is sampled)", DefaultValueFactory = _ => "2,3,5" };
        var quantile = new Option<double>("--confident-quantile") { Description = "Items at or below this quantile of uncertainty count as confident", DefaultValueFactory = _ => 0.2 };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens of each answer", DefaultValueFactory = _ => 32 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed", DefaultValueFactory = _ => 42 };
        var raw = new Option<bool>("--raw") { Description = "Plain-text prompts, without the model's chat template" };
        var command = new Command("sensitivity", "How the sampling methods' AUROC, item ranking and confident errors move with the clustering threshold, temperature and K")
        {
            dataset, output, limit, methods, thresholds, temperatures, counts, quantile, maxTokens, seed, raw,
        };
        model.AddTo(command);
        sampling.AddTo(command);
        endpoint.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            var settings = endpoint.Given(result) ? RemoteOptionsBinder.ForEndpoint(sampling.Settings(result), result, sampling) : sampling.Settings(result);
            var grid = new SensitivityGrid
            {
                Thresholds = Numbers(result.GetValue(thresholds)!, "--thresholds"),
                Temperatures = Numbers(result.GetValue(temperatures)!, "--temperatures"),
                SampleCounts = [.. Numbers(result.GetValue(counts)!, "--ks").Select(k => k == Math.Floor(k) && k >= 1 ? (int)k : throw new CliException($"--ks: {k} is not a whole number >= 1"))],
                DefaultThreshold = settings.ClusterThreshold,
                // The float option as typed (0.7f widened to double is 0.69999...; the grid holds 0.7).
                DefaultTemperature = double.Parse(settings.Temperature.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
                DefaultSampleCount = settings.Samples,
                ConfidentQuantile = result.GetValue(quantile),
            };
            try { grid.Validate(); } catch (ArgumentException e) { throw new CliException(e.Message); }
            string[] chosen = result.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string m in chosen)
                if (!SensitivityAnalysis.Methods.Contains(m)) throw new CliException($"--methods: '{m}' cannot be re-scored from cached samples; these can: {string.Join(", ", SensitivityAnalysis.Methods)}");
            var data = EvalCommand.OpenDataset(result.GetValue(dataset)!, DatasetFormat.Auto, new DatasetReadOptions()).Take(result.GetValue(limit));
            string folder = result.GetValue(output)!;
            var run = new StatisticSettings { AnswerMaxTokens = result.GetValue(maxTokens), Seed = unchecked((uint)result.GetValue(seed)), UseChatTemplate = !result.GetValue(raw) };

            var console = AnsiConsole.Console;
            using var embedder = SampleOptionsBinder.LoadEmbedder(settings, model.LoadOptions(result), result.GetValue(model.Threads));
            using var client = endpoint.Open(result, model, raw: result.GetValue(raw));
            using var llm = client is null ? model.LoadModel(result, console) : null;
            using var context = llm?.CreateContext(settings.ContextOptionsFor(model.ContextOptions(result), llm.Facts, grid.MaxSampleCount));
            using var generator = context is null ? null : new Generator(context);
            // Over an endpoint the cache is keyed by the endpoint and model (never the key), as eval's run.json.
            var identity = client is null
                ? new Dictionary<string, string> { ["model"] = Path.GetFullPath(llm!.Path), ["dataset"] = data.Source }
                : new Dictionary<string, string>(RemoteOptionsBinder.Host(client).Settings) { ["dataset"] = data.Source };
            var sampler = client is null ? new SensitivitySampler(generator!, embedder?.Embedder) : new SensitivitySampler(at =>
            {
                var registry = UncertaintyMethodRegistry.CreateDefault();
                Remote.RemoteStatistics.Register(registry, client, at, embedder?.Embedder);
                return registry;
            });
            IReadOnlyList<SensitivityItem> items = [];
            console.Progress().AutoClear(false).Start(ctx =>
            {
                var task = ctx.AddTask("items", maxValue: Math.Max(1, data.Items.Count));
                items = sampler.Collect(data, folder, grid.Temperatures, grid.MaxSampleCount, settings, run, identity,
                    new SynchronousProgress(done => task.Value = done), cancellation);
            });
            var report = SensitivityAnalysis.Analyze(items, grid, settings, chosen);
            var figures = SensitivityFigure.Render(folder, report);
            string commandLine = "uqengine " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
            File.WriteAllText(Path.Combine(folder, "sensitivity.md"), SensitivityAnalysis.Markdown(report, figures, commandLine));
            File.WriteAllText(Path.Combine(folder, "sensitivity.json"), JsonSerializer.Serialize(report.Rows.Select(r => new
            {
                method = r.Method, temperature = r.Temperature, k = r.SampleCount, threshold = r.Threshold, auroc = r.Auroc.AsNullable,
                spearman = r.Spearman, kendall = r.Kendall, confident_errors = r.ConfidentErrors.Count, confident = r.ConfidentErrors.Confident, is_default = r.IsDefault,
            }), new JsonSerializerOptions { WriteIndented = true }));

            var table = new Table().AddColumns("method", "AUROC range", "min ρ vs default", "confident errors (default)");
            foreach (var g in report.Rows.GroupBy(r => r.Method))
            {
                var aurocs = g.Where(r => r.Auroc.IsDefined).Select(r => r.Auroc.Value).ToList();
                var def = g.First(r => r.IsDefault);
                table.AddRow(Markup.Escape(g.Key),
                    aurocs.Count == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{aurocs.Min():F3} – {aurocs.Max():F3}"),
                    g.Any(r => r.Spearman is not null) ? g.Where(r => r.Spearman is not null).Min(r => r.Spearman!.Value).ToString("F3", CultureInfo.InvariantCulture) : "–",
                    $"{def.ConfidentErrors.Count}/{def.ConfidentErrors.Confident}");
            }
            console.Write(table);
            console.MarkupLine($"Report in [bold]{Markup.Escape(Path.GetFullPath(Path.Combine(folder, "sensitivity.md")))}[/]");
            return 0;
        })));
        return command;
    }

    private static double[] Numbers(string text, string option)
    {
        var values = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            values.Add(double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v : throw new CliException($"{option}: '{part}' is not a number"));
        if (values.Count == 0) throw new CliException($"{option} needs at least one value");
        return [.. values.Distinct()];
    }

    private sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
