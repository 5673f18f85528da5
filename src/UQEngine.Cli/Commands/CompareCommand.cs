using UQEngine.Training;
using UQEngine.Evaluation.Metrics;
using UQEngine.Demo;
using System.CommandLine;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Comparison;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Native;
using UQEngine.Methods;
using UQEngine.Remote;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine compare`: one dataset and method set over several models (files, or a quantization ladder made on
/// demand) x devices, or several models behind an OpenAI-compatible endpoint (--endpoint); writes a side-by-side report, summary JSON and figures, plus each variant's own results folder.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var models = new Option<string?>("--models") { Description = "Comma-separated GGUF files to compare" };
        var ladder = new Option<string?>("--ladder") { Description = "A quantization ladder of --model (default: the built-in model): 'demo' (F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K) or a list like F16,Q8_0,Q4_K_M; 'demo-sizes' (or demo-sizes:F16,Q4_0,Q2_K) = that ladder for each built-in size (demo-tiny, demo-small, demo), with paired differences from each size's F16; rungs are made once and cached" };
        var source = new Option<string?>("--model", "-m") { Description = "The model a --ladder quantizes (default: the built-in model); several, comma-separated (files or demo, demo-small, demo-tiny), give each its own ladder, compared like demo-sizes. With --endpoint URL: the remote models to compare, comma-separated (default: every model /v1/models lists)" };
        var cache = new Option<string?>("--ladder-cache") { Description = "Where quantized rungs are cached (default: models/cache of the checkout, else the user cache)" };
        var devices = new Option<string>("--devices") { Description = "cpu, cuda or cpu,cuda (cuda = all layers on the GPU; reported as unavailable when there is no CUDA build or GPU)", DefaultValueFactory = _ => "cpu" };
        var dataset = new Option<string>("--dataset", "-d") { Description = "Dataset file or built-in name (see `uqengine eval`)", Required = true };
        var format = new Option<string>("--format") { Description = "auto, jsonl, mmlu-pro or triviaqa", DefaultValueFactory = _ => "auto" };
        var methods = new Option<string>("--methods") { Description = "Comma-separated methods", DefaultValueFactory = _ => EvalCommand.DefaultMethods };
        var limit = new Option<int?>("--limit") { Description = "Evaluate only the first N items on every variant" };
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap intervals (and of sampling methods)", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--out", "-o") { Description = "Comparison folder (each variant's results under variants/ are resumed)", Required = true };
        var by = new Option<string?>("--by") { Description = "Metadata fields for each variant's breakdowns, comma-separated" };
        var route = new Option<string>("--mc-route") { Description = "generated or option-prob", DefaultValueFactory = _ => "generated" };
        var onBadLine = new Option<string>("--on-bad-line") { Description = "stop or skip malformed dataset lines", DefaultValueFactory = _ => "stop" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens of each answer", DefaultValueFactory = _ => 32 };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples per interval", DefaultValueFactory = _ => 1000 };
        var raw = new Option<bool>("--raw") { Description = "Plain-text prompts, without the model's chat template" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores, or UQENGINE_THREADS)" };
        var contextSize = new Option<int>("--ctx") { Description = "Context size in tokens (0 = model default, at most 4096)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Show llama.cpp's log" };
        var noVariantFigures = new Option<bool>("--no-variant-figures") { Description = "Skip each variant's own reliability and risk-coverage PNGs (the side-by-side figures are still drawn)" };
        var command = new Command("compare", "Compare models and devices (e.g. a quantization ladder on cpu and cuda), or models behind OpenAI-compatible endpoints (--endpoint), on one dataset: accuracy, AUROC, ECE, Brier, AURC with intervals, tokens/s and memory (local models only)")
        {
            models, ladder, source, cache, devices, dataset, format, methods, limit, seed, output, by, route, onBadLine, maxTokens, bootstrap, raw, threads, contextSize, verbose, noVariantFigures,
        };
        var sampling = new SampleOptionsBinder();
        sampling.AddTo(command);
        var endpoint = new RemoteOptionsBinder();
        endpoint.Endpoint.Description = "Compare models behind OpenAI-compatible endpoints instead of local files: URL[,URL...] (replicas of one server that serves every --model by name), or NAME=URL,NAME=URL (one server per variant, each evaluated with the model its /v1/models lists first; repeat a NAME for its replicas). Tokens/s and memory are then not measured";
        endpoint.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            if (result.GetValue(verbose)) { NativeLogging.MinimumLevel = GgmlLogLevel.Info; NativeLogging.Sink = (_, line) => Console.Error.WriteLine(line); }
            var console = AnsiConsole.Console;
            bool remote = endpoint.Given(result);
            if (remote)
            {
                // Each of these sets up a local model, which a remote comparison does not load.
                var local = new Option[] { models, ladder, cache, devices, threads, contextSize }.Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (local.Count > 0)
                    throw new CliException($"--endpoint compares the models a server serves; {string.Join(", ", local)} set{(local.Count == 1 ? "s" : "")} up local models (files, quantization ladders, devices, threads, context), which it does not load: leave {(local.Count == 1 ? "it" : "them")} out, or drop --endpoint");
            }
            var deviceList = ComparisonVariant.ParseDevices(result.GetValue(devices)!);
            string? modelList = result.GetValue(models), ladderSpec = result.GetValue(ladder);
            if (!remote && (modelList is null) == (ladderSpec is null)) throw new CliException("give either --models a.gguf,b.gguf or --ladder demo (or a list of types such as F16,Q8_0), or --endpoint URL with --model a,b");
            IReadOnlyList<ComparisonVariant> variants = [];
            if (remote) { }
            else if (modelList is not null)
            {
                var paths = modelList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (paths.Length == 0) throw new CliException("--models names no file");
                foreach (string p in paths)
                    if (!File.Exists(p)) throw new CliException($"--models: '{p}' does not exist");
                variants = ComparisonVariant.ForFiles(paths, deviceList);
            }
            else
            {
                variants = LadderVariants(ladderSpec!, result.GetValue(source), deviceList, console);
            }

            var registry = UncertaintyMethodRegistry.CreateDefault();
            // The sampling methods (sar, semantic_entropy, ...) with this run's settings, as `uqengine eval` has them.
            var samplingSettings = remote ? RemoteOptionsBinder.ForEndpoint(sampling.Settings(result), result, sampling) : sampling.Settings(result);
            SampleOptionsBinder.Register(registry, samplingSettings, new ModelOptions(), load: false);
            var resolved = registry.Resolve(result.GetValue(methods)!);
            bool sampled = SampleOptionsBinder.Needed(resolved);
            if (remote) RemoteOptionsBinder.RequireRemote(resolved, EvalCommand.ParseRoute(result.GetValue(route)!));
            using var embedder = sampled ? SampleOptionsBinder.Register(registry, samplingSettings, new ModelOptions(), load: true) : null;
            var clients = new List<OpenAiEndpointClient>();
            using var closeClients = new ClientsOwner(clients);
            if (remote) variants = RemoteVariants(result, endpoint, result.GetValue(source), !result.GetValue(raw), samplingSettings, embedder?.Embedder, clients);
            var data = EvalCommand.OpenDataset(result.GetValue(dataset)!, EvalCommand.ParseFormat(result.GetValue(format)!), EvalCommand.ReadOptions(result.GetValue(onBadLine)!));
            if (data.SkippedCount > 0)
                EvalCommand.ReportSkipped(data);
            string outputFolder = result.GetValue(output)!;
            var options = new ComparisonOptions
            {
                OutputFolder = outputFolder,
                Evaluation = new EvaluationRunOptions
                {
                    OutputFolder = outputFolder, // each variant's folder replaces it
                    Methods = [.. resolved.Select(e => e.Name)],
                    Limit = result.GetValue(limit),
                    Seed = result.GetValue(seed),
                    MultipleChoiceRoute = EvalCommand.ParseRoute(result.GetValue(route)!),
                    BreakdownFields = (result.GetValue(by) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    Statistics = new StatisticSettings { AnswerMaxTokens = result.GetValue(maxTokens), Seed = unchecked((uint)result.GetValue(seed)), UseChatTemplate = !result.GetValue(raw) },
                    BootstrapResamples = result.GetValue(bootstrap),
                    MethodSettings = sampled ? samplingSettings.Describe() : new Dictionary<string, string>(), // a resumed variant checks them
                    Figures = result.GetValue(noVariantFigures) ? null : new ScottPlotFigureRenderer(),
                },
                Context = sampled
                    ? new ContextOptions { Threads = result.GetValue(threads), ContextSize = result.GetValue(contextSize) }
                    : new ContextOptions { Threads = result.GetValue(threads), ContextSize = result.GetValue(contextSize), MaxSequences = EvalCommand.BatchedPrompts },
                // The hidden state the sampling methods read depends on each model's depth.
                ContextFor = sampled ? (facts, context) => samplingSettings.ContextOptionsFor(context, facts) : null,
                LadderCacheDirectory = result.GetValue(cache) ?? DemoModels.CacheDirectory(),
                Figures = new ScottPlotComparisonRenderer(),
            };
            if (options.Evaluation.Limit is < 1) throw new CliException("--limit must be at least 1");
            if (options.Evaluation.BootstrapResamples < 0) throw new CliException("--bootstrap must be >= 0");

            ComparisonResult run = null!;
            console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    int perVariant = data.Take(options.Evaluation.Limit).Items.Count;
                    var task = ctx.AddTask("variants", maxValue: Math.Max(1, variants.Count * perVariant));
                    var progress = new InlineProgress<ComparisonProgress>(p =>
                    {
                        task.Value = p.Completed;
                        int within = p.Completed - p.VariantIndex * perVariant;
                        task.Description = Markup.Escape($"variant {p.VariantIndex + 1}/{p.VariantCount} {p.Variant}: {p.Stage}" + (p.Stage == "evaluating" ? $" {within}/{perVariant}" : ""));
                    });
                    run = new ComparisonRunner(registry).Run(variants, data, options, progress, cancellation);
                });
            Show(console, run.Summary, options.OutputFolder);
            return 0;
        })));
        return command;
    }

    /// <summary>
    /// --endpoint's two forms: NAME=URL entries (a variant per NAME, a repeated NAME adds a replica), or plain URLs
    /// (replicas of one server; null here, the variants are the --model names). Mixing them is refused.
    /// </summary>
    internal static IReadOnlyList<(string Name, string Urls)>? ParseNamedEndpoints(string spec)
    {
        var parts = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // NAME=URL: an '=' before the scheme's "://" (a URL's own query may hold '=' after it).
        static int NameEnd(string part) { int eq = part.IndexOf('='), scheme = part.IndexOf("://", StringComparison.Ordinal); return eq > 0 && (scheme < 0 || eq < scheme) ? eq : -1; }
        int named = parts.Count(p => NameEnd(p) > 0);
        if (named == 0) return null;
        if (named != parts.Length)
            throw new CliException($"--endpoint mixes NAME=URL entries with plain URLs ('{parts.First(p => NameEnd(p) < 0)}'); give every entry a name (repeat a name for its replicas), or give plain URLs and --model a,b");
        var order = new List<string>();
        var urls = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string part in parts)
        {
            int end = NameEnd(part);
            string name = part[..end].Trim(), url = part[(end + 1)..].Trim();
            if (url.Length == 0) throw new CliException($"--endpoint '{part}' names no URL after '='");
            if (!urls.TryGetValue(name, out var list)) { urls[name] = list = []; order.Add(name); }
            list.Add(url);
        }
        return [.. order.Select(n => (n, string.Join(',', urls[n])))];
    }

    /// <summary>One variant per remote model, each with its own client and registry (the remote statistics call that client).</summary>
    private static IReadOnlyList<ComparisonVariant> RemoteVariants(ParseResult result, RemoteOptionsBinder endpoint, string? modelList, bool chat, SampleSettings settings, ITextEmbedder? embedder, List<OpenAiEndpointClient> clients)
    {
        string spec = result.GetValue(endpoint.Endpoint)!;
        var names = (modelList ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var named = ParseNamedEndpoints(spec);
        List<(string Label, string Urls, string? Model)> wanted;
        if (named is not null)
        {
            if (names.Length > 0) throw new CliException("--endpoint NAME=URL names each variant and its server; --model is for plain URLs (one server serving several models by name): give one or the other");
            wanted = [.. named.Select(n => (n.Name, n.Urls, (string?)null))];
        }
        else if (names.Length > 0) wanted = [.. names.Select(n => (n, spec, (string?)n))];
        else
        {
            var probe = endpoint.Open(result, spec, null, raw: !chat);
            clients.Add(probe);
            wanted = [.. probe.ListModelsAsync().GetAwaiter().GetResult().Select(n => (n, spec, (string?)n))];
        }
        var list = new List<(string, RemoteVariant)>();
        foreach (var (label, urls, model) in wanted)
        {
            var client = endpoint.Open(result, urls, model, raw: !chat);
            clients.Add(client);
            var registry = UncertaintyMethodRegistry.CreateDefault();
            try { RemoteStatistics.Register(registry, client, settings, embedder); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            list.Add((label, new RemoteVariant(registry, RemoteOptionsBinder.Host(client), client.Model)));
        }
        try { return ComparisonVariant.ForRemote(list); }
        catch (ArgumentException e) { throw new CliException("--endpoint/--model: " + e.Message); }
    }

    /// <summary>Disposes the endpoint clients once the comparison is written.</summary>
    private sealed class ClientsOwner(List<OpenAiEndpointClient> clients) : IDisposable
    {
        public void Dispose() { foreach (var c in clients) c.Dispose(); }
    }

    /// <summary>--ladder with --model: one model's ladder, several models' ladders (a list), or every built-in size's.</summary>
    private static IReadOnlyList<ComparisonVariant> LadderVariants(string spec, string? modelList, IReadOnlyList<ComparisonDevice> devices, IAnsiConsole console)
    {
        IReadOnlyList<QuantizationType>? sizeLadder;
        try { sizeLadder = DemoModels.ParseSizeLadder(spec); }
        catch (ArgumentException e) { throw new CliException("--ladder: " + e.Message); }
        if (sizeLadder is not null)
        {
            if (modelList is not null) throw new CliException($"--ladder {DemoModels.SizeLadderName} names its models (demo-tiny, demo-small, demo); give --model a,b --ladder TYPES for others");
            return ComparisonVariant.ForModelLadders(DemoModels.Sizes.Select(size => (size.Name, DemoModels.FindModel(size)
                ?? throw new CliException($"--ladder {DemoModels.SizeLadderName}: the built-in model {size.Name} ({size.RelativeFolder}/{size.FileName}) was not found in this checkout or beside the app"))), sizeLadder, devices);
        }
        var ladder = ModelLadder.Parse(spec);
        var names = (modelList ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length <= 1)
        {
            string from = names.Length == 1 ? ModelOptionsBinder.BuiltInName(names[0]) : BuiltInModels.DefaultModelPath(message => console.MarkupLine($"[grey]{Markup.Escape(message)}[/]"));
            if (!File.Exists(from)) throw new CliException($"--model: '{from}' does not exist");
            return ComparisonVariant.ForLadder(from, ladder, devices);
        }
        var models = names.Select(n =>
        {
            string path = ModelOptionsBinder.BuiltInName(n);
            if (!File.Exists(path)) throw new CliException($"--model: '{n}' is neither a file nor a built-in model (demo, demo-small, demo-tiny)");
            return (Name: DemoModels.Size(n)?.Name ?? Path.GetFileNameWithoutExtension(path), Path: path);
        }).ToList();
        try { return ComparisonVariant.ForModelLadders(models, ladder, devices); }
        catch (ArgumentException e) { throw new CliException("--model: " + e.Message); }
    }

    private static void Show(IAnsiConsole console, ComparisonSummary s, string folder)
    {
        var table = new Table().AddColumns("variant", "accuracy", "AUROC (" + s.Methods[0] + ")", "decode tok/s", "status");
        // A remote variant's tokens/s is the server's: said so, never a zero.
        foreach (var v in s.Variants)
            table.AddRow(Markup.Escape(v.Label), Markup.Escape(v.Accuracy?.ToString() ?? ""),
                Markup.Escape(v.Methods.GetValueOrDefault(s.Methods[0])?.Metrics.Ranking.AurocErrorDetection.ToString() ?? ""),
                Markup.Escape(v.Performance?.DecodeTokensPerSecond is { } r ? r.ToString("F0", System.Globalization.CultureInfo.InvariantCulture) : v.NotMeasured is not null ? "not measured (endpoint)" : ""),
                Markup.Escape(v.Status == VariantStatus.Ok ? "ok" : $"{v.Status.ToString().ToLowerInvariant()}: {v.Message}"));
        console.Write(table);
        console.MarkupLine($"Report in [bold]{Markup.Escape(Path.Combine(Path.GetFullPath(folder), ComparisonRunner.ReportFile))}[/]");
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
