using UQEngine.Evaluation.Metrics;
using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Training;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Comparison;

/// <summary>Where a variant runs: all layers on the CPU, all layers offloaded to a CUDA GPU, or a remote endpoint's server.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ComparisonDevice>))]
public enum ComparisonDevice { Cpu, Cuda, Remote }

/// <summary>
/// A variant evaluated over an endpoint: the registry whose statistics call it (one per remote model) and what the
/// run records about it. The caller owns the endpoint client behind them.
/// </summary>
public sealed record RemoteVariant(UncertaintyMethodRegistry Registry, RemoteHost Host, string ModelName);

/// <summary>
/// One model x device of a comparison. The model is either a file (<see cref="ModelPath"/>) or a quantization of
/// <see cref="QuantizeFrom"/> to <see cref="Quantization"/>, made on first use into the ladder cache.
/// </summary>
public sealed record ComparisonVariant
{
    /// <summary>The row name in the report ("Q8_0 · cpu"); also names the variant's results folder.</summary>
    public required string Label { get; init; }

    public required ComparisonDevice Device { get; init; }

    /// <summary>A GGUF file, or null when the variant is made by quantization.</summary>
    public string? ModelPath { get; init; }

    /// <summary>The model to quantize (with <see cref="Quantization"/>).</summary>
    public string? QuantizeFrom { get; init; }

    public QuantizationType? Quantization { get; init; }

    /// <summary>
    /// The model's name when several models are each quantized (a size x quantization comparison: "demo-small");
    /// variants with the same name and device are compared with that model's F16 rung, item by item.
    /// </summary>
    public string? Model { get; init; }

    /// <summary>Set when the variant is a model behind an endpoint (<see cref="ComparisonDevice.Remote"/>); no file is loaded.</summary>
    public RemoteVariant? Remote { get; init; }

    /// <summary>
    /// One variant per remote model, labelled by its name; paired against the first (<see cref="Model"/> groups them),
    /// as a ladder's rungs are against F16.
    /// </summary>
    public static IReadOnlyList<ComparisonVariant> ForRemote(IReadOnlyList<(string Label, RemoteVariant Remote)> models)
    {
        var duplicate = models.GroupBy(m => m.Label, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"the remote model '{duplicate.Key}' is named twice");
        return [.. models.Select(m => new ComparisonVariant { Label = m.Label, Device = ComparisonDevice.Remote, Remote = m.Remote, Model = RemoteGroup })];
    }

    /// <summary>The <see cref="Model"/> of remote variants: one group, the first variant its baseline.</summary>
    public const string RemoteGroup = "endpoint";

    /// <summary>Variants for every model x device, labelled "model · device".</summary>
    public static IReadOnlyList<ComparisonVariant> ForFiles(IEnumerable<string> modelPaths, IReadOnlyList<ComparisonDevice> devices)
    {
        var paths = modelPaths.ToList();
        // Two files with the same name in different folders keep their folder in the label, so labels stay unique.
        var names = paths.Select(p => Path.GetFileNameWithoutExtension(p)).ToList();
        return [.. paths.SelectMany((p, i) => devices.Select(d => new ComparisonVariant
        {
            Label = $"{(names.Count(n => n == names[i]) > 1 ? p : names[i])} · {DeviceName(d)}",
            ModelPath = p,
            Device = d,
        }))];
    }

    /// <summary>Variants for every rung of a quantization ladder x device, labelled "Q8_0 · cpu".</summary>
    public static IReadOnlyList<ComparisonVariant> ForLadder(string source, IEnumerable<QuantizationType> ladder, IReadOnlyList<ComparisonDevice> devices) =>
        [.. ladder.SelectMany(q => devices.Select(d => new ComparisonVariant { Label = $"{q.Name} · {DeviceName(d)}", QuantizeFrom = source, Quantization = q, Device = d }))];

    /// <summary>
    /// Variants for every model x rung x device, labelled "demo-small Q2_K · cpu": each model's own ladder, so the
    /// report can compare sizes as well as rungs.
    /// </summary>
    public static IReadOnlyList<ComparisonVariant> ForModelLadders(IEnumerable<(string Name, string Path)> models, IReadOnlyList<QuantizationType> ladder, IReadOnlyList<ComparisonDevice> devices)
    {
        var list = models.ToList();
        var duplicate = list.GroupBy(m => m.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"the model '{duplicate.Key}' is named twice in the ladder");
        return [.. list.SelectMany(m => ladder.SelectMany(q => devices.Select(d => new ComparisonVariant
        {
            Label = $"{m.Name} {q.Name} · {DeviceName(d)}", QuantizeFrom = m.Path, Quantization = q, Device = d, Model = m.Name,
        })))];
    }

    public static string DeviceName(ComparisonDevice device) => device switch { ComparisonDevice.Cuda => "cuda", ComparisonDevice.Remote => "endpoint", _ => "cpu" };

    /// <summary>"cpu,cuda" → devices; throws ArgumentException naming an unknown one.</summary>
    public static IReadOnlyList<ComparisonDevice> ParseDevices(string list)
    {
        var devices = new List<ComparisonDevice>();
        foreach (string d in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var device = d.ToLowerInvariant() switch
            {
                "cpu" => ComparisonDevice.Cpu,
                "cuda" or "gpu" => ComparisonDevice.Cuda,
                _ => throw new ArgumentException($"unknown device '{d}' in --devices (expected cpu and/or cuda)"),
            };
            if (!devices.Contains(device)) devices.Add(device);
        }
        return devices.Count > 0 ? devices : throw new ArgumentException("--devices names no device (expected cpu and/or cuda)");
    }
}

/// <summary>Settings of <see cref="ComparisonRunner.Run"/>: one evaluation, run on every variant.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Gets report.md, summary.json, the figures, and one <c>variants/LABEL/</c> results folder per variant (resumable).</summary>
    public required string OutputFolder { get; init; }

    /// <summary>
    /// The evaluation every variant runs, with all its settings (methods, limit, seed, route, breakdowns, statistics,
    /// bootstrap, the method settings a resume checks, each variant's own figures). Its
    /// <see cref="EvaluationRunOptions.OutputFolder"/> is replaced by the variant's folder under <see cref="OutputFolder"/>.
    /// </summary>
    public required EvaluationRunOptions Evaluation { get; init; }

    /// <summary>Context settings of every variant (threads, context size).</summary>
    public ContextOptions Context { get; init; } = new();

    /// <summary>
    /// When set, adapts <see cref="Context"/> to each variant's model once it is loaded (the sampling methods read a
    /// hidden layer that depends on the model's depth).
    /// </summary>
    public Func<ModelFacts, ContextOptions, ContextOptions>? ContextFor { get; init; }

    /// <summary>Where quantized ladder rungs are cached (default: <see cref="ModelLadder.DefaultCacheDirectory"/>).</summary>
    public string? LadderCacheDirectory { get; init; }

    /// <summary>The side-by-side figures of the comparison; none when null.</summary>
    public IComparisonFigureRenderer? Figures { get; init; }
}

[JsonConverter(typeof(JsonStringEnumConverter<VariantStatus>))]
public enum VariantStatus
{
    /// <summary>Evaluated.</summary>
    Ok,

    /// <summary>The device could not be used (no CUDA build, no GPU); nothing was run.</summary>
    Unavailable,

    /// <summary>The model could not be made, loaded or evaluated; the message says why.</summary>
    Failed,
}

/// <summary>Speed and memory of one variant while it was evaluated.</summary>
/// <param name="PromptTokensPerSecond">Prompt tokens / time in llama_decode for prompt batches (null when none ran, e.g. every item resumed).</param>
/// <param name="DecodeTokensPerSecond">Generated tokens / time in llama_decode for generation steps.</param>
/// <param name="PromptTokens">Prompt tokens decoded.</param>
/// <param name="GeneratedTokens">Generated tokens decoded.</param>
/// <param name="PeakResidentBytes">Peak resident set size of the process while the variant ran (Linux VmHWM, reset before each variant; weights are memory-mapped, so they count as they are touched).</param>
/// <param name="PeakIsPerVariant">False when the peak could not be reset and is the process's peak so far.</param>
/// <param name="ModelBytes">Size of the model's tensors, as llama.cpp reports it.</param>
/// <param name="KvCacheBytes">K and V caches at F16 for the context size: 2 x layers x context x KV heads x head size x 2 bytes.</param>
/// <param name="ContextSize">Tokens of the context.</param>
/// <param name="LoadSeconds">Model load and context creation.</param>
/// <param name="QuantizeSeconds">Making the quantized rung (0 when it was cached or the variant is a file).</param>
/// <param name="ItemSeconds">The per-item loop.</param>
public sealed record VariantPerformance(
    double? PromptTokensPerSecond, double? DecodeTokensPerSecond, long PromptTokens, long GeneratedTokens,
    long? PeakResidentBytes, bool PeakIsPerVariant, ulong ModelBytes, long KvCacheBytes, int ContextSize,
    double LoadSeconds, double QuantizeSeconds, double ItemSeconds);

/// <summary>One row group of the comparison.</summary>
public sealed record VariantOutcome
{
    public required string Label { get; init; }
    public required ComparisonDevice Device { get; init; }
    public required VariantStatus Status { get; init; }

    /// <summary>Why a variant is unavailable or failed.</summary>
    public string? Message { get; init; }

    /// <summary>The model file evaluated (null when it could not be made).</summary>
    public string? ModelPath { get; init; }

    /// <summary>First 12 hex digits of the model file's SHA-256.</summary>
    public string? ModelSha256 { get; init; }

    /// <summary>The model a ladder rung was quantized from, and the first 12 hex digits of its SHA-256.</summary>
    public string? QuantizedFrom { get; init; }

    public string? QuantizedFromSha256 { get; init; }

    /// <summary>llama.cpp's description of the file type ("Q8_0", "F16", ...).</summary>
    public string? FileType { get; init; }

    /// <summary>The model's name in a size x quantization comparison (<see cref="ComparisonVariant.Model"/>).</summary>
    public string? Model { get; init; }

    /// <summary>The ladder rung asked for ("Q2_K"); null for a variant given as a file.</summary>
    public string? Quantization { get; init; }

    /// <summary>Tensor bytes x 8 / parameters, as llama.cpp reports them (a rung whose rows cannot take the type holds fallbacks, and this shows it).</summary>
    public double? BitsPerWeight { get; init; }

    /// <summary>The graded items, kept in memory for the paired comparison (each variant's folder has them on disk).</summary>
    [JsonIgnore]
    public IReadOnlyList<ItemResult>? Items { get; init; }

    /// <summary>Items evaluated.</summary>
    public int Count { get; init; }

    /// <summary>Accuracy with a percentile-bootstrap interval.</summary>
    public BootstrapInterval? Accuracy { get; init; }

    public IReadOnlyDictionary<string, MethodSummary> Methods { get; init; } = new Dictionary<string, MethodSummary>();

    public VariantPerformance? Performance { get; init; }

    /// <summary>Why <see cref="Performance"/> (tokens/s, memory) was not measured: a remote variant decodes on the server.</summary>
    public string? NotMeasured { get; init; }

    /// <summary>A remote variant: the remote model and the endpoint it was evaluated over ("qwen at http://host/v1").</summary>
    public string? Endpoint { get; init; }

    /// <summary>Seconds of the per-item loop (also in <see cref="Performance"/> for a local variant).</summary>
    public double? ItemSeconds { get; init; }

    /// <summary>The variant's own results folder, relative to the comparison folder.</summary>
    public string? ResultsFolder { get; init; }
}

/// <summary>summary.json of a comparison.</summary>
public sealed record ComparisonSummary(
    DatasetCoverage Dataset,
    IReadOnlyList<string> Methods,
    int Seed,
    int BootstrapResamples,
    MultipleChoiceRoute MultipleChoiceRoute,
    IReadOnlyList<VariantOutcome> Variants)
{
    /// <summary>Each rung against its model's F16 on the same items (size x quantization comparisons); empty otherwise.</summary>
    public IReadOnlyList<RungEffect> Effects { get; init; } = [];

    /// <summary>What changed, in one paragraph generated from <see cref="Effects"/>; null without them.</summary>
    public string? Headline { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, EvaluationSummary.JsonOptions);
}

/// <summary>Where a comparison stands.</summary>
/// <param name="VariantIndex">0-based index of the variant being worked on.</param>
/// <param name="VariantCount">Variants in the comparison.</param>
/// <param name="Variant">The variant's label.</param>
/// <param name="Stage">"quantizing", "loading", "evaluating", "done", "unavailable" or "failed".</param>
/// <param name="Completed">Variant-items done (a skipped variant counts as done).</param>
/// <param name="Total">Variants x items.</param>
public readonly record struct ComparisonProgress(int VariantIndex, int VariantCount, string Variant, string Stage, int Completed, int Total);

/// <summary>Draws the side-by-side figures into the comparison folder; returns the file names written.</summary>
public interface IComparisonFigureRenderer
{
    IReadOnlyList<string> Render(string folder, ComparisonSummary summary);
}
