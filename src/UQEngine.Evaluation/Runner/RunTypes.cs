using UQEngine.Evaluation.Metrics;
using System.Text.Json.Serialization;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Runner;

/// <summary>How a multiple-choice item's predicted letter (and so its correctness) is decided.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MultipleChoiceRoute>))]
public enum MultipleChoiceRoute
{
    /// <summary>The letter extracted from the greedy answer (<see cref="Grading.ChoiceLetterExtractor"/>); none found = wrong.</summary>
    Generated,

    /// <summary>The most probable option letter at the answer position (no generation needed for grading).</summary>
    OptionProbability,
}

/// <summary>Settings of <see cref="EvaluationRunner.Run"/>.</summary>
public sealed record EvaluationRunOptions
{
    /// <summary>The results folder; created when missing, resumed when it holds a run with the same settings.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>Method names, resolved by the registry (e.g. ["msp", "mean_entropy", "verbal_numeric"]).</summary>
    public required IReadOnlyList<string> Methods { get; init; }

    /// <summary>Evaluate only the first N items of the dataset.</summary>
    public int? Limit { get; init; }

    /// <summary>Seeds the bootstrap intervals and any sampling statistic; greedy decoding does not depend on it.</summary>
    public int Seed { get; init; } = 42;

    public MultipleChoiceRoute MultipleChoiceRoute { get; init; } = MultipleChoiceRoute.Generated;

    /// <summary>Metadata fields to break the metrics down by (category is always broken down when present).</summary>
    public IReadOnlyList<string> BreakdownFields { get; init; } = [];

    public StatisticSettings Statistics { get; init; } = new();

    /// <summary>Bootstrap resamples per interval.</summary>
    public int BootstrapResamples { get; init; } = 1000;

    /// <summary>Method hyperparameters (e.g. the sampling methods' K and threshold), recorded in run.json so a resumed run checks them too.</summary>
    public IReadOnlyDictionary<string, string> MethodSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Evaluate only this shard's items (<see cref="EvaluationShard"/> has the rule); recorded in run.json.</summary>
    public EvaluationShard? Shard { get; init; }

    /// <summary>The model file's SHA-256, recorded in run.json when given, so a resumed run and <c>uqengine merge</c> check the model too.</summary>
    public string? ModelSha256 { get; init; }

    /// <summary>Draws the reliability and risk–coverage figures; none are drawn when null.</summary>
    public IEvaluationFigureRenderer? Figures { get; init; }
}

/// <summary>One method's output on one item, as stored in items.jsonl.</summary>
public sealed record MethodResult(double Uncertainty, double? Confidence, bool Fallback, string? Detail);

/// <summary>
/// One line of items.jsonl: the item as graded, and every method's estimate. Holds no timings, so a resumed or
/// repeated run with the same settings writes identical lines.
/// </summary>
public sealed record ItemResult
{
    public required string Id { get; init; }
    /// <summary>Position in the dataset (the summary lists items in this order).</summary>
    public required int Index { get; init; }
    public required string Kind { get; init; }
    public string? Category { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>The reference answer (letter for multiple choice).</summary>
    public required string Reference { get; init; }
    /// <summary>The greedy answer text ("" when no method or grading route needed it).</summary>
    public string Response { get; init; } = "";
    /// <summary>What was graded: the letter, or the extracted short answer; null when no letter was found.</summary>
    public string? Prediction { get; init; }
    public required bool Correct { get; init; }
    /// <summary>Open answer: best token F1 against the accepted answers.</summary>
    public double? F1 { get; init; }
    /// <summary>Multiple choice: the option-letter probabilities, when computed.</summary>
    public IReadOnlyList<double>? OptionProbabilities { get; init; }
    public IReadOnlyDictionary<string, MethodResult> Methods { get; init; } = new Dictionary<string, MethodResult>();
    /// <summary>Why the item could not be run (its prompt does not fit the context, say); it is left out of the metrics.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }
}

/// <summary>Where a run stands, reported after every item.</summary>
public readonly record struct EvaluationProgress(int Completed, int Total, int Resumed, string? LastItemId);

/// <summary>A method's data for the figures.</summary>
public sealed record MethodCurves(string Method, ReliabilityDiagram? Reliability, RiskCoverageCurve RiskCoverage);

/// <summary>Draws figures into the results folder; returns the file names written. The CLI's renderer uses ScottPlot.</summary>
public interface IEvaluationFigureRenderer
{
    IReadOnlyList<string> Render(string folder, IReadOnlyList<MethodCurves> methods);
}

/// <summary>
/// A run with no local model (a remote endpoint): its statistics are registered in the run's registry and call the
/// endpoint themselves. <paramref name="Model"/> is what the summary names (endpoint and model name);
/// <paramref name="Settings"/> go into run.json (the endpoint and model, never a key), so a resumed run checks
/// them; <paramref name="Concurrency"/> items run at once; <paramref name="Notes"/>, read after the run, go into
/// the report (how the entropy was obtained, say).
/// </summary>
public sealed record RemoteHost(string Model, IReadOnlyDictionary<string, string> Settings, int Concurrency, Func<IReadOnlyList<string>> Notes);
