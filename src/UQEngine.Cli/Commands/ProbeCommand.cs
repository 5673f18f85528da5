using UQEngine.Methods;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using UQEngine.Cli.Reports;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Datasets;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine probe train|eval|sweep`: hidden-state probes trained on graded answers (docs/PROBES.md).</summary>
internal static class ProbeCommand
{
    public static Command Create() => new("probe", "Hidden-state probes: train on graded answers, evaluate, sweep layers")
    {
        Train(), Eval(), Sweep(),
    };

    /// <summary>Options every probe subcommand shares: the model, the dataset and how answers are made.</summary>
    private sealed class Shared
    {
        public ModelOptionsBinder Model { get; } = new();
        public Option<string> Dataset { get; } = new("--dataset", "-d") { Description = "Dataset file (.jsonl, MMLU-Pro, TriviaQA) or built-in name", Required = true };
        public Option<string> Split { get; } = new("--split") { Description = "Items whose metadata \"split\" is this (all = every item)", DefaultValueFactory = _ => "all" };
        public Option<int> MaxItems { get; } = new("--max-items") { Description = "Use at most this many items (the first ones of the split)", DefaultValueFactory = _ => 1000 };
        public Option<int> MaxTokens { get; } = new("--max-tokens", "-n") { Description = "Most tokens of each answer", DefaultValueFactory = _ => 32 };
        public Option<bool> Raw { get; } = new("--raw") { Description = "Plain-text prompts, without the model's chat template" };
        public Option<string?> AnswersFrom { get; } = new("--answers-from") { Description = "Cross-model: a second GGUF writes the answers; --model reads them teacher-forced" };

        public void AddTo(Command c)
        {
            Model.AddTo(c);
            c.Add(Dataset); c.Add(Split); c.Add(MaxItems); c.Add(MaxTokens); c.Add(Raw); c.Add(AnswersFrom);
        }

        public IReadOnlyList<EvaluationItem> Items(ParseResult r)
        {
            int max = r.GetValue(MaxItems);
            if (max < 2) throw new CliException("--max-items must be at least 2");
            var data = EvalCommand.OpenDataset(r.GetValue(Dataset)!);
            return [.. GradedExamples.Split(data.Items, r.GetValue(Split)).Take(max)];
        }

        public GradedExampleOptions AnswerOptions(ParseResult r) => new() { AnswerMaxTokens = r.GetValue(MaxTokens), UseChatTemplate = !r.GetValue(Raw) };

        /// <summary>Graded examples with features at <paramref name="layers"/>, under a progress bar; the writer's identity for cross-model runs.</summary>
        public (List<GradedExample> Examples, ModelIdentity Reader, ModelIdentity? Writer) Collect(ParseResult r, IReadOnlyList<EvaluationItem> items, Func<LlamaModel, IReadOnlyList<int>> layersOf, CancellationToken cancellation)
        {
            var console = AnsiConsole.Console;
            var answerOptions = AnswerOptions(r);
            Dictionary<string, string>? answers = null;
            ModelIdentity? writerIdentity = null;
            if (r.GetValue(AnswersFrom) is { Length: > 0 } writerPath)
            {
                using var writer = LlamaModel.Load(writerPath, Model.LoadOptions(r));
                writerIdentity = ModelIdentity.Of(writer);
                using var writerContext = writer.CreateContext(Model.ContextOptions(r));
                using var writerGenerator = new Generator(writerContext);
                answers = WithProgress(console, $"answers by {writer.Facts.Path}", items.Count, p => GradedExamples.Answers(writerGenerator, items, answerOptions, p, cancellation));
            }
            using var model = Model.LoadModel(r, console);
            var layers = layersOf(model);
            using var context = model.CreateContext(ProbeLayers.Expose(Model.ContextOptions(r), layers, model.Facts));
            using var generator = new Generator(context);
            var examples = WithProgress(console, answers is null ? "graded answers" : "teacher-forced reads", items.Count, p =>
                answers is null
                    ? GradedExamples.Generate(generator, items, layers, answerOptions, p, cancellation)
                    : GradedExamples.TeacherForced(generator, items, answers, layers, answerOptions, p, cancellation));
            return (examples, ModelIdentity.Of(model), writerIdentity);
        }
    }

    private static T WithProgress<T>(IAnsiConsole console, string label, int total, Func<IProgress<int>, T> work)
    {
        T result = default!;
        console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: Math.Max(1, total));
                result = work(new InlineProgress<int>(n => { task.Value = n; task.Description = $"{label} {n}/{total}"; }));
            });
        return result;
    }

    private static Option<string> LayerOption(string defaultValue) => new("--layer", "--layers")
    {
        Description = "Probe layer(s): 0..n_layer (n_layer or 'final' = the final hidden state), comma-separated, or 'all'",
        DefaultValueFactory = _ => defaultValue,
    };

    internal static IReadOnlyList<int> ParseLayers(string text, ModelFacts facts)
    {
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return ProbeLayers.All(facts);
        var layers = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("final", StringComparison.OrdinalIgnoreCase)) layers.Add(facts.LayerCount);
            else if (int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int l)) layers.Add(l < 0 ? facts.LayerCount + 1 + l : l);
            else throw new CliException($"--layer: '{part}' is not a layer number, 'final' or 'all'");
        }
        if (layers.Count == 0) throw new CliException("--layer: give at least one layer");
        try { ProbeLayers.Validate(layers, facts); }
        catch (ArgumentOutOfRangeException e) { throw new CliException(e.Message.Split(" (Parameter")[0]); }
        return [.. layers.Distinct()];
    }

    private static HiddenFeatureKind ParseFeature(string text) => text.Trim().ToLowerInvariant() switch
    {
        "last" or "last-token" => HiddenFeatureKind.LastToken,
        "mean" => HiddenFeatureKind.MeanOverAnswer,
        var other => throw new CliException($"--feature must be last or mean, not '{other}'"),
    };

    private static Command Train()
    {
        var shared = new Shared();
        var layer = LayerOption("final");
        var feature = new Option<string>("--feature") { Description = "last (the answer's last step) or mean (over the answer)", DefaultValueFactory = _ => "mean" };
        var tokenFeatures = new Option<bool>("--token-features") { Description = "Append the answer's token-probability features (mean/min log-prob, mean/max entropy)" };
        var kind = new Option<string>("--kind") { Description = "logistic or mlp", DefaultValueFactory = _ => "logistic" };
        var hidden = new Option<int>("--hidden-units") { Description = "MLP hidden units", DefaultValueFactory = _ => 32 };
        var l2 = new Option<double>("--l2") { Description = "L2 penalty on the weights", DefaultValueFactory = _ => 1e-2 };
        var calibration = new Option<double>("--calibration-fraction") { Description = "Held out (stratified) for Platt scaling and the held-out AUROC", DefaultValueFactory = _ => 0.2 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42, Description = "Seeds the split and the MLP's initial weights" };
        var output = new Option<string>("--out", "-o") { Description = "Probe file to write (JSON)", Required = true };
        var command = new Command("train", "Answer a dataset with the model, grade the answers, train a probe on the hidden states; with several layers the best held-out one is kept")
        {
            layer, feature, tokenFeatures, kind, hidden, l2, calibration, seed, output,
        };
        shared.AddTo(command);
        command.SetAction((r, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            var options = new ProbeTrainingOptions
            {
                Kind = r.GetValue(kind)!.Trim().ToLowerInvariant() switch { "logistic" => ProbeKind.Logistic, "mlp" => ProbeKind.Mlp, var o => throw new CliException($"--kind must be logistic or mlp, not '{o}'") },
                HiddenUnits = r.GetValue(hidden), L2 = r.GetValue(l2), CalibrationFraction = r.GetValue(calibration), Seed = r.GetValue(seed),
            };
            var featureKind = ParseFeature(r.GetValue(feature)!);
            var items = shared.Items(r);
            IReadOnlyList<int> layers = [];
            var (examples, reader, writer) = shared.Collect(r, items, m => layers = ParseLayers(r.GetValue(layer)!, m.Facts), cancellation);
            bool[] labels = [.. examples.Select(e => e.Correct)];
            AnsiConsole.MarkupLine($"{examples.Count} graded answers, {labels.Count(c => c)} correct.");

            var table = new Table().AddColumns("layer", "train AUROC", "held-out AUROC", "iterations");
            ProbeFile? best = null;
            foreach (int l in layers)
            {
                var spec = new ProbeFeatureSpec(l, featureKind, r.GetValue(tokenFeatures));
                var weights = ProbeTrainer.Train([.. examples.Select(e => e.Features.Vector(spec))], labels, options);
                var probe = new ProbeFile
                {
                    Model = reader, AnswersFrom = writer, Features = spec, Dimension = spec.Dimension(reader.EmbeddingSize), Weights = weights,
                    TokenFeatureNames = spec.TokenProbabilityFeatures ? AnswerTokenStatistics.Names : [],
                    TrainedOn = $"{r.GetValue(shared.Dataset)} split={r.GetValue(shared.Split)} items={examples.Count}",
                };
                table.AddRow(l.ToString(CultureInfo.InvariantCulture), Fmt(weights.Metrics.TrainAuroc), Fmt(weights.Metrics.HeldOutAuroc), weights.Metrics.Iterations.ToString(CultureInfo.InvariantCulture));
                if (best is null || (weights.Metrics.HeldOutAuroc ?? 0) > (best.Weights.Metrics.HeldOutAuroc ?? 0)) best = probe;
            }
            AnsiConsole.Write(table);
            best!.Save(r.GetValue(output)!);
            AnsiConsole.MarkupLine($"Probe (layer {best.Features.Layer}) written to [bold]{Markup.Escape(Path.GetFullPath(r.GetValue(output)!))}[/]");
            return 0;
        })));
        return command;
    }

    private static Command Eval()
    {
        var shared = new Shared();
        var probeOption = new Option<string>("--probe") { Description = "Probe file (from probe train)", Required = true };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples per interval", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42, Description = "Seed of the bootstrap" };
        var json = new Option<string?>("--json-out") { Description = "Also write the metrics as JSON to this file" };
        var command = new Command("eval", "Evaluate a probe on a dataset split: AUROC, ECE, Brier with bootstrap intervals, next to msp and mean entropy on the same answers")
        {
            probeOption, bootstrap, seed, json,
        };
        shared.AddTo(command);
        command.SetAction((r, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            ProbeFile probe;
            try { probe = ProbeFile.Load(r.GetValue(probeOption)!); }
            catch (InvalidDataException e) { throw new CliException(e.Message); }
            // A cross-model probe learned to judge another model's answers: evaluating it on the reader's own answers
            // would measure something else, so the writer must be given (and be the same file).
            string? writerPath = r.GetValue(shared.AnswersFrom);
            if (probe.AnswersFrom is { } expected && string.IsNullOrWhiteSpace(writerPath))
                throw new CliException($"this probe judges answers written by {expected}; pass that model with --answers-from");
            var items = shared.Items(r);
            var (examples, reader, writer) = shared.Collect(r, items, m => { probe.EnsureFits(m); return [probe.Features.Layer]; }, cancellation);
            if (probe.AnswersFrom is { } trainedWriter && writer is not null && writer.Sha256 != trainedWriter.Sha256)
                AnsiConsole.MarkupLine($"[yellow]The answers come from {Markup.Escape(writer.ToString())}, not from {Markup.Escape(trainedWriter.ToString())} that the probe was trained on.[/]");
            bool[] correct = [.. examples.Select(e => e.Correct)];
            var metricOptions = new MetricSuiteOptions { Bootstrap = new BootstrapOptions { Resamples = r.GetValue(bootstrap), Seed = r.GetValue(seed) } };
            var rows = new Dictionary<string, EvaluationSummary>(StringComparer.Ordinal);
            double[] confidence = [.. examples.Select(e => probe.Weights.Confidence(probe.Weights.Logit(e.Features.Vector(probe.Features))))];
            rows[ProbeMethod.MethodName] = MetricSuite.Evaluate([.. confidence.Select(c => 1 - c)], correct, confidence, options: metricOptions);
            // The baselines are the catalog's own token-probability methods on the same answers.
            foreach (TokenProbabilityMethod baseline in new TokenProbabilityMethod[] { new MaximumSequenceProbabilityMethod(), new MeanEntropyMethod() })
            {
                var estimates = examples.Select(e => baseline.Score(e.Scores)).ToArray();
                rows[baseline.Descriptor.Name] = MetricSuite.Evaluate([.. estimates.Select(u => u.Uncertainty)], correct,
                    baseline.Descriptor.GivesConfidence ? [.. estimates.Select(u => u.Confidence!.Value)] : null, options: metricOptions);
            }
            AnsiConsole.MarkupLine($"{examples.Count} answers, {correct.Count(c => c)} correct; probe layer {probe.Features.Layer}, {probe.Features.Kind}, {probe.Weights.Kind}.");
            var table = new Table().AddColumns("method", "AUROC (95% CI)", "ECE", "Brier");
            foreach (var (name, s) in rows)
                table.AddRow(name, Markup.Escape(s.Ranking.AurocErrorDetection.ToString()), Markup.Escape(s.Calibration?.EceEqualWidth.ToString() ?? "n/a"), Markup.Escape(s.Calibration?.Brier.ToString() ?? "n/a"));
            AnsiConsole.Write(table);
            if (r.GetValue(json) is { Length: > 0 } path)
                File.WriteAllText(path, JsonSerializer.Serialize(new { model = reader, items = examples.Count, correct = correct.Count(c => c), methods = rows }, EvaluationSummary.JsonOptions));
            return 0;
        })));
        return command;
    }

    private static Command Sweep()
    {
        var shared = new Shared();
        var layer = LayerOption("all");
        var l2 = new Option<double>("--l2") { Description = "L2 penalty on the weights", DefaultValueFactory = _ => 1e-2 };
        var holdOut = new Option<double>("--test-fraction") { Description = "Held out (stratified) to measure each layer's AUROC", DefaultValueFactory = _ => 0.3 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42, Description = "Seeds the split" };
        var output = new Option<string>("--out", "-o") { Description = "Folder for sweep.md, sweep.json and sweep.png", Required = true };
        var command = new Command("sweep", "Train a logistic probe per layer (last-token and mean features) from one pass of answers; AUROC by layer as a table and a plot")
        {
            layer, l2, holdOut, seed, output,
        };
        shared.AddTo(command);
        command.SetAction((r, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            var items = shared.Items(r);
            IReadOnlyList<int> layers = [];
            var (examples, reader, writer) = shared.Collect(r, items, m => layers = ParseLayers(r.GetValue(layer)!, m.Facts), cancellation);
            bool[] labels = [.. examples.Select(e => e.Correct)];
            var results = ProbeSweep.Run(examples, labels, layers, reader.LayerCount, r.GetValue(l2), r.GetValue(holdOut), r.GetValue(seed));
            string folder = r.GetValue(output)!;
            Directory.CreateDirectory(folder);
            string command = "uqengine " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
            File.WriteAllText(Path.Combine(folder, "sweep.md"), ProbeSweep.Markdown(results, reader, writer, examples.Count, labels.Count(c => c), command));
            File.WriteAllText(Path.Combine(folder, "sweep.json"), JsonSerializer.Serialize(new { model = reader, answers_from = writer, items = examples.Count, correct = labels.Count(c => c), layers = results }, ProbeFile.JsonOptions));
            ProbePlots.SweepPng(Path.Combine(folder, "sweep.png"), results, reader.LayerCount);
            var table = new Table().AddColumns("layer", "last-token AUROC", "mean AUROC");
            foreach (var row in results) table.AddRow(row.LayerName, Fmt(row.LastTokenAuroc), Fmt(row.MeanAuroc));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"Sweep written to [bold]{Markup.Escape(Path.GetFullPath(folder))}[/]: sweep.md, sweep.json, sweep.png");
            return 0;
        })));
        return command;
    }

    internal static string Fmt(double? v) => v is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "n/a";

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
