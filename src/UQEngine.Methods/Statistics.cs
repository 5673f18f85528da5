using System.Diagnostics;
using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>Generation settings every statistic of a run shares.</summary>
public sealed record StatisticSettings
{
    /// <summary>Most tokens of the answer generation.</summary>
    public int AnswerMaxTokens { get; init; } = 32;

    /// <summary>Most tokens of a verbal-confidence reply.</summary>
    public int ConfidenceMaxTokens { get; init; } = 16;

    /// <summary>Seed for statistics that sample (greedy statistics ignore it).</summary>
    public uint Seed { get; init; } = 42;

    /// <summary>Wrap prompts in the model's chat template when it has one.</summary>
    public bool UseChatTemplate { get; init; } = true;
}

/// <summary>
/// A quantity computed once per item and shared by every estimator that names it (LM-Polygraph's "stat
/// calculator"): the greedy answer with its token statistics, the option-letter distribution, a verbal reply, ...
/// </summary>
public interface IItemStatistic
{
    /// <summary>The cache key estimators ask for, e.g. "greedy_generation".</summary>
    string Name { get; }

    /// <summary>The statistics <see cref="Compute"/> asks for: planned with it, so a by-product can be shared.</summary>
    IReadOnlyList<string> Dependencies { get; }

    /// <summary>Whether the statistic exists for this item (option logits only for multiple choice).</summary>
    bool AppliesTo(EvaluationItem item);

    /// <summary>Computes the value; may ask <paramref name="context"/> for other statistics it builds on.</summary>
    object Compute(StatisticContext context);
}

/// <summary>Read access to an item's statistics (computed on first request, then cached).</summary>
public interface IStatisticSource
{
    EvaluationItem Item { get; }

    /// <summary>The statistic named <paramref name="name"/>, as <typeparamref name="T"/>.</summary>
    T Get<T>(string name);
}

/// <summary>
/// The per-item statistic cache and what statistics see while computing: the item, the model's generator, prompts
/// and settings. Records the time spent in each statistic, exclusive of the statistics it asked for.
/// </summary>
public sealed class StatisticContext : IStatisticSource
{
    private readonly IReadOnlyDictionary<string, IItemStatistic> _statistics;
    private readonly Dictionary<string, object> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _milliseconds = new(StringComparer.Ordinal);
    private readonly Stack<string> _computing = new();

    private readonly Generator? _generator;

    public StatisticContext(EvaluationItem item, Generator generator, ItemPrompts prompts, StatisticSettings settings, IReadOnlyDictionary<string, IItemStatistic> statistics, CancellationToken cancellationToken = default)
        : this(item, prompts, settings, statistics, cancellationToken) =>
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));

    /// <summary>
    /// A context with no local model: every statistic must get its value elsewhere (a remote endpoint's statistics,
    /// registered under the same names); one that asks for <see cref="Generator"/> fails naming itself.
    /// </summary>
    public StatisticContext(EvaluationItem item, ItemPrompts prompts, StatisticSettings settings, IReadOnlyDictionary<string, IItemStatistic> statistics, CancellationToken cancellationToken = default)
    {
        Item = item; Prompts = prompts; Settings = settings; _statistics = statistics; CancellationToken = cancellationToken;
    }

    public EvaluationItem Item { get; }

    /// <summary>The local model's generator; throws when the run has none (a remote endpoint).</summary>
    public Generator Generator => _generator ?? throw new InvalidOperationException(
        $"statistic '{(_computing.TryPeek(out string? s) ? s : "?")}' needs a local model, and this run has none (it runs over an endpoint)");

    /// <summary>Whether a local model runs this item (false over a remote endpoint).</summary>
    public bool HasGenerator => _generator is not null;
    public ItemPrompts Prompts { get; }
    public StatisticSettings Settings { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>
    /// The statistics the run will ask for on this item. A statistic may then hand another one a by-product of its
    /// own work (the greedy answer's first step holds the option-letter logits) instead of decoding the prompt twice.
    /// </summary>
    public IReadOnlySet<string> Planned { get; init; } = new HashSet<string>();

    /// <summary>
    /// Stores a value another statistic produced as a by-product; ignored when one is already cached. It is timed
    /// at <paramref name="milliseconds"/> (0 when its cost is in the statistic that produced it).
    /// </summary>
    public void Offer(string name, object value, double milliseconds = 0)
    {
        if (_cache.TryAdd(name, value)) _milliseconds.TryAdd(name, milliseconds);
    }

    /// <summary>Whether <paramref name="name"/> has been computed (or offered) for this item.</summary>
    public bool Has(string name) => _cache.ContainsKey(name);

    /// <summary>Milliseconds spent computing each statistic for this item (exclusive of its dependencies).</summary>
    public IReadOnlyDictionary<string, double> Milliseconds => _milliseconds;

    /// <summary>The statistic when it has already been computed for this item (never computes it).</summary>
    public bool TryGetComputed<T>(string name, out T value)
    {
        if (_cache.TryGetValue(name, out object? v) && v is T typed) { value = typed; return true; }
        value = default!;
        return false;
    }

    public T Get<T>(string name)
    {
        if (!_cache.TryGetValue(name, out object? value))
        {
            if (!_statistics.TryGetValue(name, out var statistic)) throw new InvalidOperationException($"no statistic named '{name}' is registered");
            if (!statistic.AppliesTo(Item)) throw new InvalidOperationException($"statistic '{name}' does not apply to item '{Item.Id}' ({Item.Kind})");
            if (_computing.Contains(name)) throw new InvalidOperationException($"statistic '{name}' depends on itself");
            _computing.Push(name);
            double before = _milliseconds.Values.Sum();
            long start = Stopwatch.GetTimestamp();
            try { value = statistic.Compute(this); }
            finally { _computing.Pop(); }
            double nested = _milliseconds.Values.Sum() - before;
            _milliseconds[name] = Stopwatch.GetElapsedTime(start).TotalMilliseconds - nested;
            _cache[name] = value;
        }
        return value is T typed ? typed : throw new InvalidOperationException($"statistic '{name}' is a {value.GetType().Name}, not a {typeof(T).Name}");
    }
}

/// <summary>Names of the built-in statistics.</summary>
public static class StatisticNames
{
    /// <summary><see cref="GenerationResult"/>: the greedy answer to the item's prompt, with TPU scores.</summary>
    public const string GreedyGeneration = "greedy_generation";

    /// <summary><see cref="OptionProbabilities"/>: softmax over the option letters' logits at the answer position.</summary>
    public const string OptionLogits = "option_logits";

    /// <summary><see cref="GenerationResult"/>: the reply to "how confident are you, 0–100?" about the greedy answer.</summary>
    public const string VerbalNumericResponse = "verbal_numeric_response";

    /// <summary><see cref="GenerationResult"/>: the reply to "how likely is it, in one of these phrases?" about the greedy answer.</summary>
    public const string VerbalLinguisticResponse = "verbal_linguistic_response";

    /// <summary><see cref="GenerationResult"/>: the answer prompt's greedy reply past the first line, where a model
    /// taught to state its confidence (UaIT) writes "Confidence: N%".</summary>
    public const string StatedConfidenceResponse = "stated_confidence_response";
}

/// <summary>The greedy answer (temperature 0, stops at a newline), with token statistics.</summary>
public sealed class GreedyGenerationStatistic : IItemStatistic
{
    public string Name => StatisticNames.GreedyGeneration;
    public IReadOnlyList<string> Dependencies => [];

    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        string prompt = context.Prompts.Answer(context.Item);
        if (context.Item.Kind != EvaluationItemKind.MultipleChoice || !context.Planned.Contains(StatisticNames.OptionLogits) || context.Has(StatisticNames.OptionLogits))
            return context.Generator.Generate(prompt, AnswerOptions(context.Settings.AnswerMaxTokens), context.CancellationToken);

        // Option logits are wanted too: they are the first step's logits of this same prompt, so read them here.
        var letters = OptionLetterTokens.Resolve(context.Generator.Context.Model.Vocabulary, context.Item.Options.Count, prompt);
        var logits = new double[letters.TokenIds.Count];
        var options = new GenerationOptions
        {
            MaxTokens = context.Settings.AnswerMaxTokens, Stop = ["\n"], AddSpecialTokens = true, ParseSpecialTokens = true,
            OnStep = (in DecodeStep step) => { if (step.Index == 0) OptionLogitsStatistic.ReadLetters(step, letters, logits); },
        };
        var answer = context.Generator.Generate(prompt, options, context.CancellationToken);
        context.Offer(StatisticNames.OptionLogits, new OptionProbabilities(letters, logits, OptionLogitsStatistic.Softmax(logits)));
        return answer;
    }

    /// <summary>Greedy, stop at the end of the first line (answers are one line; models tend to explain after).</summary>
    public static GenerationOptions AnswerOptions(int maxTokens) => new() { MaxTokens = maxTokens, Stop = ["\n"], AddSpecialTokens = true, ParseSpecialTokens = true };
}

/// <summary>A verbal-confidence reply about the greedy answer (numeric or linguistic prompt).</summary>
public sealed class VerbalResponseStatistic(string name, bool linguistic) : IItemStatistic
{
    public string Name { get; } = name;
    public IReadOnlyList<string> Dependencies { get; } = [StatisticNames.GreedyGeneration];

    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        var answer = context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
        string prompt = linguistic ? context.Prompts.VerbalLinguistic(context.Item, answer.Text) : context.Prompts.VerbalNumeric(context.Item, answer.Text);
        return context.Generator.Generate(prompt, GreedyGenerationStatistic.AnswerOptions(context.Settings.ConfidenceMaxTokens), context.CancellationToken);
    }
}

/// <summary>
/// The greedy reply to the answer prompt without the first-line stop, so a confidence the model states after its
/// answer ("Paris\nConfidence: 90%", as UaIT teaches) is kept. The answer itself is still graded from
/// greedy_generation (the same greedy path cut at the newline).
/// </summary>
public sealed class StatedConfidenceStatistic : IItemStatistic
{
    /// <summary>Tokens allowed after the answer for the confidence line.</summary>
    public const int ConfidenceTokens = 12;

    public string Name => StatisticNames.StatedConfidenceResponse;
    public IReadOnlyList<string> Dependencies => [];

    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context) =>
        context.Generator.Generate(context.Prompts.Answer(context.Item),
            new GenerationOptions { MaxTokens = context.Settings.AnswerMaxTokens + ConfidenceTokens, AddSpecialTokens = true, ParseSpecialTokens = true },
            context.CancellationToken);
}
