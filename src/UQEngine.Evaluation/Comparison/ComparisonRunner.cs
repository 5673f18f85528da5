using UQEngine.Training;
using UQEngine.Evaluation.Metrics;
using System.Diagnostics;
using System.Text;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Native;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Comparison;

/// <summary>What a comparison produced.</summary>
public sealed record ComparisonResult(ComparisonSummary Summary, IReadOnlyList<string> Files);

/// <summary>
/// Evaluates one dataset and method set on several variants (models x devices), one after another. Each variant is
/// one <see cref="EvaluationRunner"/> run with one model load, into its own resumable results folder
/// (<c>variants/LABEL/</c>); the comparison folder gets a side-by-side report.md, summary.json and figures.
/// A device that cannot be used (no CUDA build, no GPU) or a model that cannot be made or loaded makes that variant
/// a reported row, never an exception that ends the comparison.
/// </summary>
public sealed class ComparisonRunner(UncertaintyMethodRegistry registry)
{
    public const string SummaryFile = "summary.json";
    public const string ReportFile = "report.md";
    public const string VariantsFolder = "variants";
    private const string VariantModelFile = "model.txt";

    public ComparisonResult Run(IReadOnlyList<ComparisonVariant> variants, EvaluationDataset dataset, ComparisonOptions options, IProgress<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        if (variants.Count == 0) throw new ArgumentException("a comparison needs at least one variant");
        ArgumentNullException.ThrowIfNull(options.Evaluation);
        var evaluation = options.Evaluation;
        if (evaluation.Limit is < 1) throw new ArgumentOutOfRangeException(nameof(options), evaluation.Limit, "--limit must be at least 1");
        var duplicate = variants.GroupBy(v => FolderName(v.Label), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"two variants would share the results folder '{duplicate.Key}'; give them distinct labels");
        foreach (var v in variants)
            if (v.Remote is null && v.ModelPath is null && (v.QuantizeFrom is null || v.Quantization is null))
                throw new ArgumentException($"variant '{v.Label}' names neither a model file nor a model and quantization");
        var methods = registry.Resolve(evaluation.Methods).Select(e => e.Name).ToList(); // a typo fails before anything loads

        Directory.CreateDirectory(options.OutputFolder);
        var selected = dataset.Take(evaluation.Limit);
        int perVariant = selected.Items.Count;
        string? cudaProblem = PrepareBackend(variants.Any(v => v.Device == ComparisonDevice.Cuda));

        var outcomes = new List<VariantOutcome>();
        for (int i = 0; i < variants.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var variant = variants[i];
            int index = i;
            void Report(string stage, int done) => progress?.Report(new ComparisonProgress(index, variants.Count, variant.Label, stage, index * perVariant + done, variants.Count * perVariant));
            if (variant.Device == ComparisonDevice.Cuda && cudaProblem is not null)
            {
                outcomes.Add(new VariantOutcome { Label = variant.Label, Device = variant.Device, Status = VariantStatus.Unavailable, Message = cudaProblem });
                Report("unavailable", perVariant);
                continue;
            }
            try
            {
                outcomes.Add(RunVariant(variant, dataset, options, methods, Report, cancellationToken));
                Report("done", perVariant);
            }
            catch (Exception e) when (e is InferenceException or GgufFormatException or FileNotFoundException or NativeLibraryException or IOException
                // An endpoint's failure (unreachable, refused, past its retries) is that variant's, whatever the client throws.
                || (variant.Remote is not null && e is not OperationCanceledException))
            {
                outcomes.Add(new VariantOutcome { Label = variant.Label, Device = variant.Device, Status = VariantStatus.Failed, Message = e.Message, ModelPath = variant.ModelPath });
                Report("failed", perVariant);
            }
        }

        var coverage = new DatasetCoverage(dataset.Name, dataset.Source, dataset.Items.Count, perVariant, dataset.SkippedCount) { Skipped = dataset.SkippedLines };
        var summary = new ComparisonSummary(coverage, methods, evaluation.Seed, evaluation.BootstrapResamples, evaluation.MultipleChoiceRoute, outcomes);
        if (variants.Any(v => v.Model is not null))
        {
            var effects = QuantizationEffects.Analyze(outcomes, methods, new BootstrapOptions { Resamples = evaluation.BootstrapResamples, Seed = evaluation.Seed });
            summary = summary with { Effects = effects, Headline = QuantizationEffects.Headline(effects, methods) };
        }
        var figures = options.Figures?.Render(options.OutputFolder, summary) ?? [];
        File.WriteAllText(Path.Combine(options.OutputFolder, SummaryFile), summary.ToJson());
        File.WriteAllText(Path.Combine(options.OutputFolder, ReportFile), ComparisonReport.Render(summary, figures));
        return new ComparisonResult(summary, [SummaryFile, ReportFile, .. figures]);
    }

    /// <summary>Why a remote variant has no tokens/s or memory figures (the report shows it instead of zeros).</summary>
    public const string RemoteNotMeasured = "not measured over an endpoint: the server decodes, so llama.cpp's decode timings and the process memory are the server's, not this process's (items/s is in the Variants table; `uqengine serve` exports its own at /metrics)";

    private VariantOutcome RunVariant(ComparisonVariant variant, EvaluationDataset dataset, ComparisonOptions options, IReadOnlyList<string> methods, Action<string, int> report, CancellationToken cancellationToken)
    {
        if (variant.Remote is not null) return RunRemoteVariant(variant, variant.Remote, dataset, options, methods, report, cancellationToken);
        double quantizeSeconds = 0;
        string path;
        if (variant.ModelPath is not null) path = variant.ModelPath;
        else
        {
            if (ModelLadder.NeedsQuantizing(variant.QuantizeFrom!, variant.Quantization!, options.LadderCacheDirectory)) report("quantizing", 0);
            var q = Stopwatch.StartNew();
            path = ModelLadder.Ensure(variant.QuantizeFrom!, variant.Quantization!, options.LadderCacheDirectory, options.Context.Threads);
            quantizeSeconds = q.Elapsed.TotalSeconds;
        }
        string hash = ModelFiles.ShortSha256(path);
        string folder = Path.Combine(options.OutputFolder, VariantsFolder, FolderName(variant.Label));
        CheckSameModel(folder, hash, variant.Label);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, VariantModelFile), $"{Path.GetFullPath(path)}\n{hash}\n");

        report("loading", 0);
        bool perVariantPeak = ProcessMemory.TryResetPeak();
        var load = Stopwatch.StartNew();
        var backend = NativeLibraryLoader.LoadedFrom is null ? NativeBackend.Cpu : NativeLibraryLoader.Backend;
        using var model = LlamaModel.Load(path, new ModelOptions { Device = backend, GpuLayers = variant.Device == ComparisonDevice.Cuda ? -1 : 0 });
        using var context = model.CreateContext(options.ContextFor?.Invoke(model.Facts, options.Context) ?? options.Context);
        using var generator = new Generator(context);
        load.Stop();

        var evalOptions = options.Evaluation with { OutputFolder = folder, Methods = methods };
        var itemProgress = new InlineProgress<EvaluationProgress>(p => report("evaluating", p.Completed));
        var run = new EvaluationRunner(generator, registry).Run(dataset, evalOptions, itemProgress, load.Elapsed.TotalMilliseconds, cancellationToken);
        long? peak = ProcessMemory.PeakResidentBytes();

        var facts = model.Facts;
        var decode = run.Summary.Timing.Decode;
        var performance = new VariantPerformance(
            decode?.PromptTokensPerSecond, decode?.GenerationTokensPerSecond, decode?.PromptTokens ?? 0, decode?.GeneratedTokens ?? 0,
            peak, perVariantPeak, facts.SizeBytes, KvCacheBytes(facts, context.ContextSize), context.ContextSize,
            load.Elapsed.TotalSeconds, quantizeSeconds, run.Summary.Timing.ItemSeconds);
        return new VariantOutcome
        {
            Label = variant.Label, Device = variant.Device, Status = VariantStatus.Ok, ModelPath = path, ModelSha256 = hash, FileType = facts.FileType,
            Model = variant.Model, Quantization = variant.Quantization?.Name, Items = run.Items,
            BitsPerWeight = facts.ParameterCount > 0 ? facts.SizeBytes * 8.0 / facts.ParameterCount : null,
            QuantizedFrom = variant.QuantizeFrom, QuantizedFromSha256 = variant.QuantizeFrom is null ? null : ModelFiles.ShortSha256(variant.QuantizeFrom),
            Count = run.Items.Count, Accuracy = AccuracyInterval(run.Items.Select(r => r.Correct).ToArray(), options),
            Methods = run.Summary.MethodSummaries, Performance = performance,
            ResultsFolder = Path.Combine(VariantsFolder, FolderName(variant.Label)),
        };
    }

    /// <summary>One remote model, through the same remote path as `eval --endpoint`, into its own resumable folder.</summary>
    private static VariantOutcome RunRemoteVariant(ComparisonVariant variant, RemoteVariant remote, EvaluationDataset dataset, ComparisonOptions options, IReadOnlyList<string> methods, Action<string, int> report, CancellationToken cancellationToken)
    {
        string identity = "endpoint model " + remote.ModelName; // the URL may change between runs (replicas); the model may not
        string folder = Path.Combine(options.OutputFolder, VariantsFolder, FolderName(variant.Label));
        CheckSameModel(folder, identity, variant.Label);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, VariantModelFile), $"{remote.Host.Model}\n{identity}\n");
        report("evaluating", 0);
        var evalOptions = options.Evaluation with { OutputFolder = folder, Methods = methods, ModelSha256 = null };
        var itemProgress = new InlineProgress<EvaluationProgress>(p => report("evaluating", p.Completed));
        var run = new EvaluationRunner(remote.Registry, remote.Host).Run(dataset, evalOptions, itemProgress, null, cancellationToken);
        return new VariantOutcome
        {
            Label = variant.Label, Device = variant.Device, Status = VariantStatus.Ok, Model = variant.Model, Endpoint = remote.Host.Model,
            FileType = "remote", Items = run.Items, Count = run.Items.Count, Accuracy = AccuracyInterval(run.Items.Select(r => r.Correct).ToArray(), options),
            Methods = run.Summary.MethodSummaries, NotMeasured = RemoteNotMeasured, ItemSeconds = run.Summary.Timing.ItemSeconds,
            ResultsFolder = Path.Combine(VariantsFolder, FolderName(variant.Label)),
        };
    }

    /// <summary>Accuracy with the same percentile bootstrap (and seed) as the methods' metrics.</summary>
    internal static BootstrapInterval AccuracyInterval(bool[] correct, ComparisonOptions options) =>
        Bootstrap.Interval(correct.Length, sample =>
        {
            if (sample.Length == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
            int hits = 0;
            foreach (int i in sample.Indices) hits += correct[i] ? 1 : 0;
            return MetricValue.Defined((double)hits / sample.Length);
        }, new BootstrapOptions { Resamples = options.Evaluation.BootstrapResamples, Seed = options.Evaluation.Seed });

    /// <summary>K and V at F16 (llama.cpp's default cache type) for every layer and position of the context.</summary>
    internal static long KvCacheBytes(ModelFacts facts, int contextSize)
    {
        if (facts.HeadCount <= 0) return 0;
        long headSize = facts.EmbeddingSize / facts.HeadCount;
        return 2L * facts.LayerCount * contextSize * facts.KvHeadCount * headSize * sizeof(ushort);
    }

    /// <summary>
    /// Selects the llama.cpp build for the whole process (it cannot change later): CUDA when a variant wants it and it
    /// loads and sees a GPU, else the CPU build. Returns why CUDA cannot be used, or null when it can.
    /// </summary>
    private static string? PrepareBackend(bool wantsCuda)
    {
        if (NativeLibraryLoader.LoadedFrom is not null)
        {
            if (!wantsCuda || NativeLibraryLoader.Backend == NativeBackend.Cuda) return wantsCuda ? GpuProblem() : null;
            return "this process already loaded llama.cpp's CPU build, and the build cannot change within a process; run the cuda variants in a new process";
        }
        if (!wantsCuda) return null;
        try
        {
            NativeLibraryLoader.UseBackend(NativeBackend.Cuda);
            NativeLibraryLoader.EnsureLoaded();
        }
        catch (NativeLibraryException e)
        {
            NativeLibraryLoader.UseBackend(NativeBackend.Cpu); // nothing was loaded: the cpu variants still run
            return "CUDA backend unavailable: " + e.Message;
        }
        return GpuProblem();
    }

    private static string? GpuProblem() =>
        NativeSystemInfo.Read().Devices.Any(d => d.Type is "gpu" or "igpu")
            ? null
            : "llama.cpp's CUDA build loaded but found no GPU (no CUDA device, or the driver libraries are missing); `uqengine system` lists the devices it sees";

    /// <summary>Results of another model in the variant's folder would be resumed as if they were this one's.</summary>
    private static void CheckSameModel(string folder, string hash, string label)
    {
        string file = Path.Combine(folder, VariantModelFile);
        if (!File.Exists(file)) return;
        string[] lines = File.ReadAllLines(file);
        if (lines.Length >= 2 && lines[1] != hash)
            throw new IOException($"'{folder}' holds results of variant '{label}' for another model ({lines[1]}, now {hash}); delete it or pick another --out");
    }

    /// <summary>"Q8_0 · cpu" → "Q8_0-cpu": a file-system-safe folder name.</summary>
    public static string FolderName(string label)
    {
        var sb = new StringBuilder();
        foreach (char c in label.Replace(" · ", "-", StringComparison.Ordinal))
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        return sb.ToString().Trim('.');
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
