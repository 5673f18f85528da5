using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Remote;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine eval`: run uncertainty methods over a dataset and write a results folder (JSONL, JSON, Markdown, PNG).</summary>
internal static class EvalCommand
{
    /// <summary>
    /// Default sequences of the evaluation context (option-probability prompts of this many items share one
    /// llama_decode). 1: on the CPU, batching 4 prompts used more CPU time than one at a time (docs/EVALUATION.md),
    /// since each token's attention then spans every sequence's cells of the unified cache.
    /// </summary>
    internal const int BatchedPrompts = 1;

    public static string DefaultMethods => MethodCatalog.Default.DefaultNames;

    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var dataset = new Option<string>("--dataset", "-d") { Description = "Dataset file (.jsonl, MMLU-Pro .parquet/.json, TriviaQA .json/.parquet) or built-in name (demo, demo:mc, demo:open; add :eval or :train for a split)", Required = true };
        var format = new Option<string>("--format") { Description = "auto, jsonl, mmlu-pro or triviaqa", DefaultValueFactory = _ => "auto" };
        var methods = new Option<string>("--methods") { Description = "Comma-separated methods: " + string.Join(", ", UncertaintyMethodRegistry.CreateDefault().Estimators.Select(e => e.Name)), DefaultValueFactory = _ => DefaultMethods };
        var limit = new Option<int?>("--limit") { Description = "Evaluate only the first N items" };
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap intervals (and of sampling methods)", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--out", "-o") { Description = "Results folder (resumed when it holds a run with the same settings)", Required = true };
        var by = new Option<string?>("--by") { Description = "Metadata fields to break the metrics down by, comma-separated (e.g. exposure,family)" };
        var route = new Option<string>("--mc-route") { Description = "How multiple-choice answers are graded: generated (letter in the greedy answer) or option-prob (most probable option letter)", DefaultValueFactory = _ => "generated" };
        var onBadLine = new Option<string>("--on-bad-line") { Description = "stop (default) or skip malformed dataset lines (skips are counted in the report)", DefaultValueFactory = _ => "stop" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens of each answer", DefaultValueFactory = _ => 32 };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples per interval", DefaultValueFactory = _ => 1000 };
        var raw = new Option<bool>("--raw") { Description = "Plain-text prompts, without the model's chat template" };
        var promptBatch = new Option<int>("--prompt-batch") { Description = "Option-probability prompts of up to this many items share one llama_decode, one sequence each (1 = one per item; measured slower on the CPU, see docs/EVALUATION.md)", DefaultValueFactory = _ => BatchedPrompts };
        var sampling = new SampleOptionsBinder();
        var endpoint = new RemoteOptionsBinder();
        var command = new Command("eval", "Evaluate uncertainty methods on a dataset: per-item JSONL, summary JSON, Markdown report and figures")
        {
            dataset, format, methods, limit, seed, output, by, route, onBadLine, maxTokens, bootstrap, raw, promptBatch,
        };
        model.AddTo(command);
        var extensions = new EvalExtensions();
        extensions.AddTo(command);
        sampling.AddTo(command);
        endpoint.AddTo(command);
        var shards = new ShardOptionsBinder();
        shards.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            var shard = shards.Resolve(result, Console.Out);
            var readOptions = ReadOptions(result.GetValue(onBadLine)!);
            var datasetFormat = ParseFormat(result.GetValue(format)!);
            var mcRoute = ParseRoute(result.GetValue(route)!);
            var registry = UncertaintyMethodRegistry.CreateDefault();
            string methodList = result.GetValue(methods)!;
            extensions.Prepare(result, registry, methodList);
            var resolved = registry.Resolve(methodList); // fail on a typo before loading anything
            bool sampled = SampleOptionsBinder.Needed(resolved);
            bool remote = endpoint.Given(result);
            var samplingSettings = remote ? RemoteOptionsBinder.ForEndpoint(sampling.Settings(result), result, sampling) : sampling.Settings(result);
            if (remote) RemoteOptionsBinder.RequireRemote(resolved, mcRoute);
            using var client = endpoint.Open(result, model, raw: result.GetValue(raw));
            using var embedder = client is null
                ? SampleOptionsBinder.Register(registry, samplingSettings, model.LoadOptions(result), load: sampled, threads: result.GetValue(model.Threads))
                : sampled ? SampleOptionsBinder.LoadEmbedder(samplingSettings, model.LoadOptions(result), result.GetValue(model.Threads)) : null;
            if (client is not null) RemoteStatistics.Register(registry, client, samplingSettings, embedder?.Embedder);
            var data = OpenDataset(result.GetValue(dataset)!, datasetFormat, readOptions);
            ReportSkipped(data);

            var console = AnsiConsole.Console;
            var loadClock = Stopwatch.StartNew();
            using var llm = client is null ? model.LoadModel(result, console) : null;
            loadClock.Stop();
            if (result.GetValue(promptBatch) is < 1 or > 64) throw new CliException("--prompt-batch must be in 1..64");
            // Sampling methods decode K samples together and read the model's hidden states; a probe needs its layer exposed.
            var contextOptions = llm is null ? null : sampled ? samplingSettings.ContextOptionsFor(model.ContextOptions(result), llm.Facts) : model.ContextOptions(result, sequences: result.GetValue(promptBatch));
            using var context = llm?.CreateContext(extensions.Configure(contextOptions!, llm));
            using var generator = context is null ? null : new Generator(context);
            var options = new EvaluationRunOptions
            {
                OutputFolder = result.GetValue(output)!,
                Methods = [.. resolved.Select(e => e.Name)],
                Limit = result.GetValue(limit),
                Seed = result.GetValue(seed),
                MultipleChoiceRoute = mcRoute,
                BreakdownFields = (result.GetValue(by) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Statistics = new StatisticSettings { AnswerMaxTokens = result.GetValue(maxTokens), Seed = unchecked((uint)result.GetValue(seed)), UseChatTemplate = !result.GetValue(raw) },
                BootstrapResamples = result.GetValue(bootstrap),
                Figures = new ScottPlotFigureRenderer(),
                MethodSettings = sampled ? samplingSettings.Describe() : new Dictionary<string, string>(),
                Shard = shard,
                ModelSha256 = llm is null ? null : UQEngine.Gguf.ModelFiles.Sha256(llm.Path),
            };
            if (options.Limit is < 1) throw new CliException("--limit must be at least 1");
            if (options.BootstrapResamples < 0) throw new CliException("--bootstrap must be >= 0");

            EvaluationRunResult run = null!;
            console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("items", maxValue: Math.Max(1, data.Take(options.Limit).Items.Count));
                    var clock = Stopwatch.StartNew();
                    int resumedAtStart = 0;
                    var progress = new SynchronousProgress<EvaluationProgress>(p =>
                    {
                        if (p.LastItemId is null) { resumedAtStart = p.Resumed; task.MaxValue = Math.Max(1, p.Total); task.Value = p.Completed; }
                        else task.Value = p.Completed;
                        int fresh = p.Completed - resumedAtStart;
                        double rate = fresh / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                        task.Description = $"{p.Completed}/{p.Total} items, {rate:F1}/s" + (resumedAtStart > 0 ? $" ({resumedAtStart} resumed)" : "");
                    });
                    var runner = client is null ? new EvaluationRunner(generator!, registry) : new EvaluationRunner(registry, RemoteOptionsBinder.Host(client));
                    run = runner.Run(data, options, progress, client is null ? loadClock.Elapsed.TotalMilliseconds : null, cancellation);
                });
            Show(console, run, options.OutputFolder);
            extensions.AfterRun(result, model, data, run, options, console, cancellation);
            return 0;
        })));
        return command;
    }

    /// <summary>A dataset file, or a built-in name (the demo world: demo, demo:mc, demo:open, with :eval or :train).
    /// Every command that reads a dataset opens it here, so the built-ins are registered in one place.</summary>
    /// <summary>Says which dataset lines were skipped and why (the first ten; report.md and summary.json list them too).</summary>
    internal static void ReportSkipped(EvaluationDataset data)
    {
        if (data.SkippedCount == 0) return;
        AnsiConsole.MarkupLine($"[yellow]{data.SkippedCount} malformed line(s) skipped in {Markup.Escape(data.Source)}; the report lists them:[/]");
        foreach (var line in data.SkippedLines.Take(10)) AnsiConsole.MarkupLine($"[yellow]  line {line.LineNumber}: {Markup.Escape(line.Reason)}[/]");
        if (data.SkippedCount > 10) AnsiConsole.MarkupLine($"[yellow]  … and {data.SkippedCount - 10} more[/]");
    }

    internal static EvaluationDataset OpenDataset(string pathOrName, DatasetFormat format = DatasetFormat.Auto, DatasetReadOptions? options = null)
    {
        UQEngine.Demo.DemoDataset.RegisterAll(DatasetRegistry.Default); // idempotent: re-registers the same names
        return DatasetRegistry.Default.Open(pathOrName, format, options);
    }

    internal static DatasetReadOptions ReadOptions(string onBadLine) => new()
    {
        OnBadLine = onBadLine.Trim().ToLowerInvariant() switch
        {
            "stop" => OnBadLine.Stop,
            "skip" => OnBadLine.Skip,
            var other => throw new CliException($"--on-bad-line must be stop or skip, not '{other}'"),
        },
    };

    internal static DatasetFormat ParseFormat(string format) => format.Trim().ToLowerInvariant() switch
    {
        "auto" => DatasetFormat.Auto,
        "jsonl" => DatasetFormat.Jsonl,
        "mmlu-pro" or "mmlupro" => DatasetFormat.MmluPro,
        "triviaqa" or "trivia-qa" => DatasetFormat.TriviaQa,
        var other => throw new CliException($"--format must be auto, jsonl, mmlu-pro or triviaqa, not '{other}'"),
    };

    internal static MultipleChoiceRoute ParseRoute(string route) => route.Trim().ToLowerInvariant() switch
    {
        "generated" => MultipleChoiceRoute.Generated,
        "option-prob" or "option-probability" => MultipleChoiceRoute.OptionProbability,
        var other => throw new CliException($"--mc-route must be generated or option-prob, not '{other}'"),
    };

    internal static void Show(IAnsiConsole console, EvaluationRunResult run, string folder)
    {
        var s = run.Summary;
        console.MarkupLine($"Accuracy [bold]{Markup.Escape(s.Accuracy.ToString("F3"))}[/] ({s.CorrectCount}/{s.Count})" + (s.Dataset.SkippedLines > 0 ? $" [yellow](incomplete: {s.Dataset.SkippedLines} dataset line(s) skipped)[/]" : ""));
        if (s.ItemErrors.Count > 0)
            console.MarkupLine($"[yellow]{s.ItemErrors.Count} item(s) could not be run and are not in the results (first: {Markup.Escape(s.ItemErrors[0].Id)}: {Markup.Escape(s.ItemErrors[0].Error)}); report.md lists them.[/]");
        var table = new Table().AddColumns("method", "n", "AUROC", "ECE", "AURC", "PRR");
        foreach (var (name, m) in s.MethodSummaries)
            table.AddRow(Markup.Escape(name), m.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(m.Metrics.Ranking.AurocErrorDetection.ToString()),
                Markup.Escape(m.Metrics.Calibration?.EceEqualWidth.ToString() ?? "n/a"), Markup.Escape(m.Metrics.Selective.Aurc.ToString()), Markup.Escape(m.Metrics.Selective.Prr.ToString()));
        console.Write(table);
        console.MarkupLine($"Results in [bold]{Markup.Escape(Path.GetFullPath(folder))}[/]: {Markup.Escape(string.Join(", ", run.Files))}");
    }

    /// <summary>IProgress that reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
