using UQEngine.Evaluation.Metrics;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Grading;
using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Runner;

/// <summary>What a run produced.</summary>
public sealed record EvaluationRunResult(EvaluationRunSummary Summary, IReadOnlyList<ItemResult> Items, IReadOnlyList<string> Files);

/// <summary>
/// Runs uncertainty methods over a dataset with one loaded model and writes a results folder:
/// <list type="bullet">
/// <item><c>items.jsonl</c>: one <see cref="ItemResult"/> per item, appended and flushed as each item finishes;</item>
/// <item><c>summary.json</c>: <see cref="EvaluationRunSummary"/> (metrics per method with bootstrap intervals,
/// breakdowns, timing per statistic);</item>
/// <item><c>report.md</c> and the figures of <see cref="EvaluationRunOptions.Figures"/>;</item>
/// <item><c>run.json</c>: the settings, so a resumed run can check it continues the same evaluation.</item>
/// </list>
/// Resuming: ids already in items.jsonl are skipped (a torn last line from an interrupted write is dropped and
/// recomputed); the summary is always recomputed from every item. Per item, each statistic is computed once and
/// shared by the methods that need it. Greedy decoding on the CPU makes items.jsonl identical across runs.
/// Over a remote endpoint (<see cref="EvaluationRunner(UncertaintyMethodRegistry, RemoteHost)"/>) the registry's
/// statistics call the endpoint, items run <see cref="RemoteHost.Concurrency"/> at a time, and items.jsonl holds
/// them in the order they finish (each once; the summary is in dataset order).
/// </summary>
public sealed class EvaluationRunner
{
    private readonly Generator? _generator;
    private readonly RemoteHost? _remote;
    private readonly UncertaintyMethodRegistry registry;

    /// <summary>A run on a local model: the registry's statistics decode with <paramref name="generator"/>.</summary>
    public EvaluationRunner(Generator generator, UncertaintyMethodRegistry registry)
    {
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));
        this.registry = registry ?? throw new ArgumentNullException(nameof(registry));
    }

    /// <summary>A run with no local model: every statistic the methods read is registered by the remote host.</summary>
    public EvaluationRunner(UncertaintyMethodRegistry registry, RemoteHost remote)
    {
        this.registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _remote = remote ?? throw new ArgumentNullException(nameof(remote));
        if (remote.Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(remote), remote.Concurrency, "concurrency must be at least 1");
    }

    public const string ItemsFile = "items.jsonl";
    public const string SummaryFile = "summary.json";
    public const string ReportFile = "report.md";
    public const string RunFile = "run.json";

    /// <summary>run.json keys: the dataset's <see cref="EvaluationDataset.ItemsSha256"/>, the model file's SHA-256, and the shard ("I/N", only when sharded).</summary>
    public const string DatasetHashKey = "dataset_sha256", ModelHashKey = "model_sha256", ShardKey = "shard";

    internal static readonly JsonSerializerOptions LineOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = false };
    internal static readonly JsonSerializerOptions RunFileOptions = new() { WriteIndented = true };

    /// <param name="dataset">The items; <see cref="EvaluationRunOptions.Limit"/> takes the first N.</param>
    /// <param name="options">Settings.</param>
    /// <param name="progress">Told after every item (and once at the start with the resumed count).</param>
    /// <param name="modelLoadMilliseconds">Recorded in the timing section when given.</param>
    /// <param name="cancellationToken">Stops between (or inside) items; finished items stay in items.jsonl.</param>
    public EvaluationRunResult Run(EvaluationDataset dataset, EvaluationRunOptions options, IProgress<EvaluationProgress>? progress = null, double? modelLoadMilliseconds = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Limit is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Limit, "--limit must be at least 1");
        var estimators = registry.Resolve(options.Methods);
        var selected = dataset.Take(options.Limit);
        // A shard runs its share of the selected items; each keeps its position in the dataset as its index.
        int[] positions = [.. Enumerable.Range(0, selected.Items.Count).Where(p => options.Shard?.Contains(p) ?? true)];
        var runItems = positions.Select(p => selected.Items[p]).ToList();
        string folder = options.OutputFolder;
        Directory.CreateDirectory(folder);
        CheckOrWriteRunFile(folder, dataset, estimators, options, _remote?.Settings);

        string itemsPath = Path.Combine(folder, ItemsFile);
        var done = ReadExisting(itemsPath);
        var wanted = runItems.Select(i => i.Id).ToHashSet(StringComparer.Ordinal);
        int resumed = done.Keys.Count(wanted.Contains);
        progress?.Report(new EvaluationProgress(resumed, runItems.Count, resumed, null));

        var prompts = new ItemPrompts(_generator?.Context.Model, options.Statistics.UseChatTemplate);
        var timing = new Dictionary<string, (int Items, double Ms)>(StringComparer.Ordinal);
        var decodeBefore = _generator?.Context.Counters.Snapshot();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var loop = Stopwatch.StartNew();
        int completed = resumed, timed = 0;
        var prefetched = new Dictionary<string, (OptionProbabilities Value, double Ms)>(StringComparer.Ordinal);
        using (var writer = new StreamWriter(itemsPath, append: true, new UTF8Encoding(false)))
        {
            if (_remote is not null)
            {
                var gate = new Lock();
                var pending = runItems.Select((item, k) => (item, index: positions[k])).Where(p => !done.ContainsKey(p.item.Id)).ToList();
                try
                {
                    Parallel.ForEach(pending, new ParallelOptions { MaxDegreeOfParallelism = _remote.Concurrency, CancellationToken = cancellationToken }, p =>
                    {
                        var context = new StatisticContext(p.item, prompts, options.Statistics, registry.Statistics, cancellationToken)
                        { Planned = PlannedStatistics(p.item, estimators, options.MultipleChoiceRoute) };
                        var result = EvaluateOrRecord(p.item, p.index, context, estimators, options.MultipleChoiceRoute);
                        lock (gate)
                        {
                            Append(writer, result);
                            done[p.item.Id] = result;
                            AddTiming(timing, context);
                            timed++;
                            progress?.Report(new EvaluationProgress(++completed, runItems.Count, resumed, p.item.Id));
                        }
                    });
                }
                catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                {
                    // One item's failure (the endpoint gone past its retries) stops the run; finished items stay.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                }
            }
            else for (int k = 0; k < runItems.Count; k++)
            {
                var item = runItems[k];
                int index = positions[k];
                if (done.ContainsKey(item.Id)) continue;
                cancellationToken.ThrowIfCancellationRequested();
                var planned = PlannedStatistics(item, estimators, options.MultipleChoiceRoute);
                var generator = _generator!;
                var context = new StatisticContext(item, generator, prompts, options.Statistics, registry.Statistics, cancellationToken) { Planned = planned };
                if (OnlyOptionLogits(item, planned) && generator.Context.MaxSequences > 1)
                {
                    if (!prefetched.ContainsKey(item.Id)) PrefetchOptionLogits(runItems, k, done, estimators, options.MultipleChoiceRoute, generator, prompts, prefetched, cancellationToken);
                    if (prefetched.Remove(item.Id, out var p)) context.Offer(StatisticNames.OptionLogits, p.Value, p.Ms);
                }
                var result = EvaluateOrRecord(item, index, context, estimators, options.MultipleChoiceRoute);
                Append(writer, result);
                done[item.Id] = result;
                AddTiming(timing, context);
                timed++;
                progress?.Report(new EvaluationProgress(++completed, runItems.Count, resumed, item.Id));
            }
        }
        loop.Stop();
        var decode = _generator is null ? null : _generator.Context.Counters.Snapshot().Since(decodeBefore!);
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

        var all = runItems.Select(i => done[i.Id]).ToList();
        var timingSummary = new TimingSummary(timed,
            timing.ToDictionary(t => t.Key, t => new StatisticTiming(t.Value.Items, t.Value.Ms, t.Value.Ms / t.Value.Items)),
            modelLoadMilliseconds, loop.Elapsed.TotalSeconds, decode, cpuSeconds);
        var coverage = new DatasetCoverage(dataset.Name, dataset.Source, dataset.Items.Count, runItems.Count, dataset.SkippedCount) { Skipped = dataset.SkippedLines };
        var shard = options.Shard is { } s ? new ShardCoverage(s.Index, s.Count, selected.Items.Count) : null;
        return WriteResults(folder, _generator?.Context.Model.Path ?? _remote!.Model, coverage, shard, all, estimators.Select(e => e.Name).ToList(), options, resumed, timingSummary, _remote?.Notes() ?? []);
    }

    /// <summary>
    /// Writes summary.json, report.md and the figures of a results folder from its items (dataset order, errors
    /// included); <see cref="EvaluationMerge"/> writes a merged folder through here too, so both read the same.
    /// </summary>
    internal static EvaluationRunResult WriteResults(string folder, string model, DatasetCoverage coverage, ShardCoverage? shard, IReadOnlyList<ItemResult> all,
        IReadOnlyList<string> methods, EvaluationRunOptions options, int resumed, TimingSummary timing, IReadOnlyList<string>? notes = null)
    {
        var items = all.Where(i => i.Error is null).ToList();
        if (items.Count == 0 && all.Count > 0)
            throw new InferenceException($"no item of '{coverage.Name}' could be run; the first: '{all[0].Id}': {all[0].Error}");
        var (summary, curves) = Summarize(model, coverage, items, methods, options, resumed, timing);
        summary = summary with { ItemErrors = [.. all.Where(i => i.Error is not null).Select(i => new ItemError(i.Id, i.Error!))], Shard = shard, Notes = notes ?? [] };

        var files = new List<string> { ItemsFile, RunFile };
        var figures = options.Figures?.Render(folder, curves) ?? [];
        File.WriteAllText(Path.Combine(folder, SummaryFile), summary.ToJson());
        File.WriteAllText(Path.Combine(folder, ReportFile), MarkdownReport.Render(summary, figures));
        files.AddRange([SummaryFile, ReportFile, .. figures]);
        return new EvaluationRunResult(summary, items, files);
    }

    /// <summary>The item's result; an item that cannot be run (its prompt does not fit the context, say) is recorded with why.</summary>
    private static ItemResult EvaluateOrRecord(EvaluationItem item, int index, StatisticContext context, IReadOnlyList<IUncertaintyEstimator> estimators, MultipleChoiceRoute route)
    {
        try { return Evaluate(item, index, context, estimators, route); }
        catch (InferenceException e)
        {
            return new ItemResult { Id = item.Id, Index = index, Kind = KindName(item), Category = item.Category, Metadata = item.Metadata, Reference = item.Answer, Correct = false, Error = e.Message };
        }
    }

    private static void Append(StreamWriter writer, ItemResult result)
    {
        writer.Write(JsonSerializer.Serialize(result, LineOptions));
        writer.Write('\n');
        writer.Flush(); // a crash loses at most the items in flight
    }

    private static void AddTiming(Dictionary<string, (int Items, double Ms)> timing, StatisticContext context)
    {
        foreach (var (name, ms) in context.Milliseconds)
        {
            var t = timing.GetValueOrDefault(name);
            timing[name] = (t.Items + 1, t.Ms + ms);
        }
    }

    private static string KindName(EvaluationItem item) => item.Kind == EvaluationItemKind.MultipleChoice ? "multiple_choice" : "open_answer";

    private static ItemResult Evaluate(EvaluationItem item, int index, StatisticContext context, IReadOnlyList<IUncertaintyEstimator> estimators, MultipleChoiceRoute route)
    {
        var methods = new Dictionary<string, MethodResult>(StringComparer.Ordinal);
        foreach (var e in estimators)
        {
            if (!e.AppliesTo(item)) continue;
            var u = e.Estimate(context);
            // JSON has no infinities; a sequence of probability 0 is as uncertain as a number can say.
            double uncertainty = double.IsNaN(u.Uncertainty) ? throw new InvalidOperationException($"method '{e.Name}' gave NaN on item '{item.Id}'")
                : double.IsFinite(u.Uncertainty) ? u.Uncertainty : Math.CopySign(double.MaxValue, u.Uncertainty);
            double? confidence = u.Confidence is { } c ? Math.Clamp(double.IsNaN(c) ? 0 : c, 0, 1) : null;
            methods[e.Name] = new MethodResult(uncertainty, confidence, u.UsedFallback, u.Detail);
        }

        bool needsGeneration = item.Kind == EvaluationItemKind.OpenAnswer || route == MultipleChoiceRoute.Generated
            || estimators.Any(e => e.AppliesTo(item) && e.Statistics.Contains(StatisticNames.GreedyGeneration));
        string response = needsGeneration ? context.Get<GenerationResult>(StatisticNames.GreedyGeneration).Text : "";
        OptionProbabilities? optionProbabilities = item.Kind == EvaluationItemKind.MultipleChoice && (route == MultipleChoiceRoute.OptionProbability || estimators.Any(e => e.AppliesTo(item) && e.Statistics.Contains(StatisticNames.OptionLogits)))
            ? context.Get<OptionProbabilities>(StatisticNames.OptionLogits) : null;

        string? prediction;
        bool correct;
        double? f1 = null;
        if (item.Kind == EvaluationItemKind.MultipleChoice)
        {
            prediction = route == MultipleChoiceRoute.OptionProbability
                ? optionProbabilities!.BestLetter.ToString()
                : ChoiceLetterExtractor.Extract(response, item.Options.Count, item.Options)?.ToString();
            correct = prediction == item.Answer;
        }
        else
        {
            prediction = OpenAnswerGrader.ExtractAnswer(response);
            var accepted = item.AcceptedAnswers();
            correct = OpenAnswerGrader.ExactMatch(prediction, accepted);
            f1 = OpenAnswerGrader.TokenF1(prediction, accepted);
        }
        return new ItemResult
        {
            Id = item.Id, Index = index, Kind = KindName(item),
            Category = item.Category, Metadata = item.Metadata, Reference = item.Answer, Response = response, Prediction = prediction,
            Correct = correct, F1 = f1, OptionProbabilities = optionProbabilities?.Probabilities, Methods = methods,
        };
    }

    private static bool OnlyOptionLogits(EvaluationItem item, IReadOnlySet<string> planned) =>
        item.Kind == EvaluationItemKind.MultipleChoice && planned.Count == 1 && planned.Contains(StatisticNames.OptionLogits);

    /// <summary>
    /// Reads the option letters of this and the following pending items that need nothing else in one llama_decode
    /// (as many as fit the context); each item is timed at its share of that decode.
    /// </summary>
    private void PrefetchOptionLogits(IReadOnlyList<EvaluationItem> items, int start, Dictionary<string, ItemResult> done, IReadOnlyList<IUncertaintyEstimator> estimators,
        MultipleChoiceRoute route, Generator generator, ItemPrompts prompts, Dictionary<string, (OptionProbabilities, double)> prefetched, CancellationToken cancellationToken)
    {
        var ctx = generator.Context;
        var group = new List<(EvaluationItem Item, int[] Tokens, OptionLetterTokens Letters)>();
        int tokens = 0;
        long clock = Stopwatch.GetTimestamp();
        for (int i = start; i < items.Count && group.Count < ctx.MaxSequences; i++)
        {
            var item = items[i];
            if (done.ContainsKey(item.Id) || !OnlyOptionLogits(item, PlannedStatistics(item, estimators, route))) continue;
            string prompt = prompts.Answer(item);
            int[] ids = generator.TokenizePrompt(prompt, new GenerationOptions());
            if (tokens + ids.Length > Math.Min(ctx.BatchSize, ctx.ContextSize)) break; // a prompt too long for one decode is computed alone
            group.Add((item, ids, OptionLetterTokens.Resolve(ctx.Model.Vocabulary, item.Options.Count, prompt)));
            tokens += ids.Length;
        }
        if (group.Count == 0) return;
        var values = OptionLogitsBatch.Compute(ctx, [.. group.Select(g => (g.Tokens, g.Letters))], cancellationToken);
        double share = Stopwatch.GetElapsedTime(clock).TotalMilliseconds / group.Count;
        for (int g = 0; g < group.Count; g++) prefetched[group[g].Item.Id] = (values[g], share);
    }

    /// <summary>What will be computed for an item: what grading reads, its methods' statistics, and their dependencies.</summary>
    private HashSet<string> PlannedStatistics(EvaluationItem item, IReadOnlyList<IUncertaintyEstimator> estimators, MultipleChoiceRoute route) =>
        registry.WithDependencies(estimators.Where(e => e.AppliesTo(item)).SelectMany(e => e.Statistics).Append(GradedFrom(item, route)));

    /// <summary>The statistic grading reads: the option letters' probabilities on that route, else the greedy answer.</summary>
    private static string GradedFrom(EvaluationItem item, MultipleChoiceRoute route) =>
        item.Kind == EvaluationItemKind.MultipleChoice && route == MultipleChoiceRoute.OptionProbability ? StatisticNames.OptionLogits : StatisticNames.GreedyGeneration;

    /// <summary>Items already in items.jsonl, by id. A torn last line (no newline) is dropped and the file cut back.</summary>
    private static Dictionary<string, ItemResult> ReadExisting(string path)
    {
        var done = new Dictionary<string, ItemResult>(StringComparer.Ordinal);
        if (!File.Exists(path)) return done;
        string text = File.ReadAllText(path);
        int end = text.LastIndexOf('\n') + 1; // everything after the last newline was being written when the run stopped
        if (end < text.Length) File.WriteAllText(path, text[..end], new UTF8Encoding(false));
        string[] lines = text[..end].Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            ItemResult? r;
            try { r = JsonSerializer.Deserialize<ItemResult>(lines[i], LineOptions); }
            catch (JsonException e) { throw new InvalidOperationException($"{path}:{i + 1}: not a result line ({e.Message}); delete the results folder or pick another --out"); }
            if (r is null) throw new InvalidOperationException($"{path}:{i + 1}: empty result line");
            done[r.Id] = r;
        }
        return done;
    }

    /// <summary>Writes run.json, or checks that an existing one describes the same evaluation (the limit may change).</summary>
    private static void CheckOrWriteRunFile(string folder, EvaluationDataset dataset, IReadOnlyList<IUncertaintyEstimator> estimators, EvaluationRunOptions options, IReadOnlyDictionary<string, string>? host)
    {
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["dataset"] = dataset.Name,
            ["dataset_source"] = Path.GetFullPath(dataset.Source) is var full && File.Exists(full) ? full : dataset.Source,
            [DatasetHashKey] = dataset.ItemsSha256(),
            ["methods"] = string.Join(",", estimators.Select(e => e.Name)),
            ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["multiple_choice_route"] = options.MultipleChoiceRoute.ToString(),
            ["answer_max_tokens"] = options.Statistics.AnswerMaxTokens.ToString(CultureInfo.InvariantCulture),
            ["confidence_max_tokens"] = options.Statistics.ConfidenceMaxTokens.ToString(CultureInfo.InvariantCulture),
            ["chat_template"] = options.Statistics.UseChatTemplate ? "true" : "false",
        };
        foreach (var (key, value) in options.MethodSettings) settings[key] = value;
        foreach (var (key, value) in host ?? new Dictionary<string, string>()) settings[key] = value;
        if (options.ModelSha256 is { } modelHash) settings[ModelHashKey] = modelHash;
        if (options.Shard is { } shard) settings[ShardKey] = shard.ToString();
        string path = Path.Combine(folder, RunFile);
        string json = JsonSerializer.Serialize(settings, RunFileOptions);
        if (File.Exists(path) && File.Exists(Path.Combine(folder, ItemsFile)))
        {
            SortedDictionary<string, string> previous;
            try { previous = JsonSerializer.Deserialize<SortedDictionary<string, string>>(File.ReadAllText(path)) ?? []; }
            catch (JsonException e)
            {
                throw new InvalidOperationException($"'{path}' is not a readable run record ({e.Message}); pick another --out folder to start a new run, or delete it");
            }
            var changed = settings.Where(kv => previous.GetValueOrDefault(kv.Key) != kv.Value).Select(kv => $"{kv.Key} was '{previous.GetValueOrDefault(kv.Key)}', now '{kv.Value}'").ToList();
            if (changed.Count > 0)
                throw new InvalidOperationException($"'{folder}' holds a run with other settings ({string.Join("; ", changed)}); pick another --out folder to start a new run, or delete it");
            return;
        }
        File.WriteAllText(path, json);
    }

    /// <summary>The summary and figure data from the per-item results (dataset order).</summary>
    internal static (EvaluationRunSummary, IReadOnlyList<MethodCurves>) Summarize(string model, DatasetCoverage coverage, IReadOnlyList<ItemResult> items, IReadOnlyList<string> methods, EvaluationRunOptions options, int resumed, TimingSummary timing)
    {
        var metricOptions = new MetricSuiteOptions { Bootstrap = new BootstrapOptions { Resamples = options.BootstrapResamples, Seed = options.Seed } };
        var summaries = new Dictionary<string, MethodSummary>(StringComparer.Ordinal);
        var curves = new List<MethodCurves>();
        foreach (string m in methods)
        {
            if (SummarizeMethod(items, m, metricOptions) is not { } s) continue;
            summaries[m] = s;
            var withMethod = items.Where(i => i.Methods.ContainsKey(m)).ToList();
            var curve = SelectivePrediction.RiskCoverageCurve(withMethod.Select(i => i.Methods[m].Uncertainty).ToArray(), withMethod.Select(i => i.Correct).ToArray());
            curves.Add(new MethodCurves(m, s.Metrics.Calibration?.ReliabilityEqualWidth, curve));
        }

        var breakdowns = new List<Breakdown>();
        if (items.Any(i => i.Category is not null)) breakdowns.Add(BreakdownBy("category", items, i => i.Category, methods, metricOptions));
        foreach (string field in options.BreakdownFields.Where(f => f != "category"))
            breakdowns.Add(BreakdownBy(field, items, i => i.Metadata.GetValueOrDefault(field), methods, metricOptions));

        int correct = items.Count(i => i.Correct);
        var f1s = items.Where(i => i.F1 is not null).Select(i => i.F1!.Value).ToList();
        var summary = new EvaluationRunSummary(
            model, coverage, methods, options.Seed, options.MultipleChoiceRoute, items.Count, correct,
            items.Count == 0 ? MetricValue.Undefined(UndefinedReasons.NoItems) : MetricValue.Defined((double)correct / items.Count),
            f1s.Count == 0 ? MetricValue.Undefined("no open-answer items") : MetricValue.Defined(f1s.Average()),
            resumed, summaries, breakdowns, timing);
        return (summary, curves);
    }

    private static MethodSummary? SummarizeMethod(IReadOnlyList<ItemResult> items, string method, MetricSuiteOptions metricOptions)
    {
        var rows = items.Where(i => i.Methods.ContainsKey(method)).Select(i => (Result: i.Methods[method], i.Correct)).ToList();
        if (rows.Count == 0) return null;
        double[] uncertainty = [.. rows.Select(r => r.Result.Uncertainty)];
        bool[] correct = [.. rows.Select(r => r.Correct)];
        double[] confidence = rows.All(r => r.Result.Confidence is not null) ? [.. rows.Select(r => r.Result.Confidence!.Value)] : [];
        return new MethodSummary(rows.Count, rows.Count(r => r.Result.Fallback), MetricSuite.Evaluate(uncertainty, correct, confidence, options: metricOptions));
    }

    private static Breakdown BreakdownBy(string field, IReadOnlyList<ItemResult> items, Func<ItemResult, string?> key, IReadOnlyList<string> methods, MetricSuiteOptions metricOptions)
    {
        var groups = items.GroupBy(i => key(i) is { Length: > 0 } k ? k : "(none)").ToList();
        bool numeric = groups.All(g => double.TryParse(g.Key, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
        var ordered = numeric ? groups.OrderBy(g => double.Parse(g.Key, CultureInfo.InvariantCulture)) : groups.OrderBy(g => g.Key, StringComparer.Ordinal);
        return new Breakdown(field, [.. ordered.Select(g =>
        {
            var list = g.ToList();
            int correct = list.Count(i => i.Correct);
            var perMethod = new Dictionary<string, MethodSummary>(StringComparer.Ordinal);
            foreach (string m in methods)
                if (SummarizeMethod(list, m, metricOptions) is { } s) perMethod[m] = s;
            return new BreakdownGroup(g.Key, list.Count, correct, MetricValue.Defined((double)correct / list.Count), perMethod);
        })]);
    }
}
