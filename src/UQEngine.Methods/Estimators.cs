using UQEngine.Uncertainty;
using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>
/// One method's verdict on one item. <see cref="Uncertainty"/>: higher = less certain (what the ranking metrics
/// use). <see cref="Confidence"/>: an estimate of P(correct) in [0, 1] when the method gives one (what the calibration
/// metrics use). <see cref="UsedFallback"/>: the method could not read its signal (an unparseable verbal reply) and
/// used its documented fallback. <see cref="Detail"/>: what was read (a phrase, the raw reply), for the results.
/// </summary>
public readonly record struct UncertaintyEstimate(double Uncertainty, double? Confidence = null, bool UsedFallback = false, string? Detail = null);

/// <summary>
/// An uncertainty method: declares the statistics it needs (computed once per item, shared with other methods) and
/// turns them into an <see cref="UncertaintyEstimate"/>.
/// </summary>
public interface IUncertaintyEstimator
{
    /// <summary>The name users pass to <c>--methods</c>.</summary>
    string Name { get; }

    /// <summary>One line for listings.</summary>
    string Description { get; }

    /// <summary>The statistics <see cref="Estimate"/> reads.</summary>
    IReadOnlyList<string> Statistics { get; }

    /// <summary>Whether the method has a value for this item (option probability: multiple choice only).</summary>
    bool AppliesTo(EvaluationItem item);

    UncertaintyEstimate Estimate(IStatisticSource statistics);
}

/// <summary>Token-probability (TPU) methods over the greedy answer's <see cref="TokenProbabilityScores"/>.</summary>
public sealed class TokenProbabilityEstimator(string name, string description, Func<TokenProbabilityScores, UncertaintyEstimate> score) : IUncertaintyEstimator
{
    public string Name { get; } = name;
    public string Description { get; } = description;
    public IReadOnlyList<string> Statistics { get; } = [StatisticNames.GreedyGeneration];

    public bool AppliesTo(EvaluationItem item) => true;

    public UncertaintyEstimate Estimate(IStatisticSource statistics) =>
        score(statistics.Get<GenerationResult>(StatisticNames.GreedyGeneration).Uncertainty);

    /// <summary>msp, mean_logprob, perplexity, mean_entropy, max_entropy, min_token_prob.</summary>
    public static IEnumerable<TokenProbabilityEstimator> All() =>
    [
        new("msp", "Maximum sequence probability: −log P(answer); confidence P(answer)",
            s => new(-s.SequenceLogProbability, Math.Exp(s.SequenceLogProbability))),
        new("mean_logprob", "Mean token log-probability (negated); confidence is the geometric-mean token probability",
            s => new(-s.MeanLogProbability, Math.Exp(s.MeanLogProbability))),
        new("perplexity", "Perplexity exp(−mean log p) of the answer (no confidence: it is mean_logprob's 1/x)",
            s => new(s.TokenCount == 0 ? 1 : s.Perplexity)),
        new("mean_entropy", "Mean over answer tokens of the full-vocabulary entropy (nats)", s => new(s.MeanEntropy)),
        new("max_entropy", "Largest per-token entropy of the answer (nats)", s => new(s.MaxEntropy)),
        new("min_token_prob", "1 − the smallest answer-token probability; confidence is that probability",
            s => new(1 - s.MinTokenProbability, s.MinTokenProbability)),
    ];
}

/// <summary>Multiple choice: 1 − the largest option-letter probability; confidence = that probability.</summary>
public sealed class OptionProbabilityEstimator : IUncertaintyEstimator
{
    public string Name => "option_prob";
    public string Description => "Multiple choice: softmax over the option letters' logits; uncertainty 1 − max, confidence max";
    public IReadOnlyList<string> Statistics { get; } = [StatisticNames.OptionLogits];

    public bool AppliesTo(EvaluationItem item) => item.Kind == EvaluationItemKind.MultipleChoice;

    public UncertaintyEstimate Estimate(IStatisticSource statistics)
    {
        var p = statistics.Get<OptionProbabilities>(StatisticNames.OptionLogits);
        double max = p.Probabilities[p.BestIndex];
        return new(1 - max, max, Detail: p.BestLetter.ToString());
    }
}

/// <summary>
/// Verbal numeric confidence: the model is asked for a 0–100 confidence in its own answer
/// (<see cref="VerbalConfidenceParser"/>). An unparseable reply uses the fallback confidence 0.5 and is counted.
/// </summary>
public sealed class VerbalNumericEstimator : IUncertaintyEstimator
{
    /// <summary>Used when the reply holds no readable number: uninformative, and counted in the summary.</summary>
    public const double FallbackConfidence = 0.5;

    public string Name => "verbal_numeric";
    public string Description => "Asks the model for a 0–100 confidence in its answer; unparseable → 0.5 (counted)";
    public IReadOnlyList<string> Statistics { get; } = [StatisticNames.VerbalNumericResponse];

    public bool AppliesTo(EvaluationItem item) => true;

    public UncertaintyEstimate Estimate(IStatisticSource statistics)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.VerbalNumericResponse).Text;
        return VerbalConfidenceParser.TryParse(reply, out double c)
            ? new(1 - c, c, Detail: reply)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }
}

/// <summary>
/// Stated confidence: the "Confidence: N%" a model writes after its answer on its own (a UaIT-tuned model does; see
/// docs/PROBES.md). No confidence line → 0.5, counted as a fallback like the verbal methods.
/// </summary>
public sealed partial class StatedConfidenceEstimator : IUncertaintyEstimator
{
    public const double FallbackConfidence = 0.5;

    public string Name => "stated_confidence";
    public string Description => "The \"Confidence: N%\" the model writes after its answer unasked (UaIT-tuned models); none → 0.5 (counted)";
    public IReadOnlyList<string> Statistics { get; } = [StatisticNames.StatedConfidenceResponse];

    public bool AppliesTo(EvaluationItem item) => true;

    public UncertaintyEstimate Estimate(IStatisticSource statistics)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.StatedConfidenceResponse).Text;
        return TryParse(reply, out double c)
            ? new(1 - c, c, Detail: reply)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }

    /// <summary>The last "Confidence: N%" (0 ≤ N ≤ 100) in <paramref name="reply"/>, as N / 100.</summary>
    public static bool TryParse(string reply, out double confidence)
    {
        var matches = ConfidenceLine().Matches(reply ?? "");
        confidence = 0;
        if (matches.Count == 0) return false;
        double n = double.Parse(matches[^1].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (n > 100) return false;
        confidence = n / 100;
        return true;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Confidence:\s*(\d{1,3}(?:\.\d+)?)\s*%", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex ConfidenceLine();
}

/// <summary>
/// Verbal linguistic confidence: the model describes how likely its answer is with a phrase, mapped through
/// <see cref="ProbabilityPhrases"/>. A reply without a table phrase uses 0.5 ("about even") and is counted.
/// </summary>
public sealed class VerbalLinguisticEstimator : IUncertaintyEstimator
{
    public const double FallbackConfidence = 0.5;

    public string Name => "verbal_linguistic";
    public string Description => "Asks the model for a likelihood phrase (\"highly likely\"), mapped to a probability; no phrase → 0.5 (counted)";
    public IReadOnlyList<string> Statistics { get; } = [StatisticNames.VerbalLinguisticResponse];

    public bool AppliesTo(EvaluationItem item) => true;

    public UncertaintyEstimate Estimate(IStatisticSource statistics)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.VerbalLinguisticResponse).Text;
        return ProbabilityPhrases.TryMatch(reply, out string phrase, out double p)
            ? new(1 - p, p, Detail: phrase)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }
}

/// <summary>
/// Statistics and estimators by name. <see cref="CreateDefault"/> has every built-in; other components (sampling
/// methods, probes) add theirs with <see cref="Register(IItemStatistic)"/> and <see cref="Register(IUncertaintyEstimator)"/>.
/// </summary>
public sealed class UncertaintyMethodRegistry
{
    private readonly Dictionary<string, IItemStatistic> _statistics = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IUncertaintyEstimator> _estimators = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A registry with the built-in statistics and methods.</summary>
    public static UncertaintyMethodRegistry CreateDefault()
    {
        var r = new UncertaintyMethodRegistry();
        r.Register(new GreedyGenerationStatistic());
        r.Register(new OptionLogitsStatistic());
        r.Register(new VerbalResponseStatistic(StatisticNames.VerbalNumericResponse, linguistic: false));
        r.Register(new VerbalResponseStatistic(StatisticNames.VerbalLinguisticResponse, linguistic: true));
        foreach (var e in TokenProbabilityEstimator.All()) r.Register(e);
        r.Register(new OptionProbabilityEstimator());
        r.Register(new VerbalNumericEstimator());
        r.Register(new VerbalLinguisticEstimator());
        r.Register(new StatedConfidenceStatistic());
        r.Register(new StatedConfidenceEstimator());
        SampleMethods.Register(r, new SampleSettings());
        return r;
    }

    public void Register(IItemStatistic statistic) => _statistics[statistic.Name] = statistic;

    public void Register(IUncertaintyEstimator estimator) => _estimators[estimator.Name] = estimator;

    public IReadOnlyDictionary<string, IItemStatistic> Statistics => _statistics;

    public IReadOnlyList<IUncertaintyEstimator> Estimators => [.. _estimators.Values.OrderBy(e => e.Name, StringComparer.Ordinal)];

    /// <summary>
    /// The estimators named in a comma-separated list ("msp,mean_entropy"), in the order given, without duplicates;
    /// throws ArgumentException naming the unknown ones and listing what exists.
    /// </summary>
    public IReadOnlyList<IUncertaintyEstimator> Resolve(string commaSeparatedNames) =>
        Resolve(commaSeparatedNames.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public IReadOnlyList<IUncertaintyEstimator> Resolve(IEnumerable<string> names)
    {
        var list = new List<IUncertaintyEstimator>();
        var unknown = new List<string>();
        foreach (string name in names)
        {
            if (!_estimators.TryGetValue(name, out var e)) { unknown.Add(name); continue; }
            if (!list.Contains(e)) list.Add(e);
        }
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown method(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; available: {string.Join(", ", Estimators.Select(e => e.Name))}");
        if (list.Count == 0) throw new ArgumentException("no methods given");
        foreach (var e in list)
            foreach (string s in e.Statistics)
                if (!_statistics.ContainsKey(s)) throw new ArgumentException($"method '{e.Name}' needs statistic '{s}', which is not registered");
        return list;
    }
}
