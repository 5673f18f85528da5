using System.Reflection;

namespace UQEngine.Methods;

/// <summary>Groups for listings and docs; what a method can run on follows from the statistics it reads.</summary>
public enum MethodFamily
{
    /// <summary>From the greedy answer's token probabilities (one generation).</summary>
    TokenProbability,
    /// <summary>Multiple choice: the option letters' probabilities at the answer position.</summary>
    OptionProbability,
    /// <summary>What the model says about its own confidence.</summary>
    Verbal,
    /// <summary>Agreement and relevance over K sampled answers.</summary>
    SampleConsistency,
    /// <summary>Trained on the model's graded answers: a classifier on its hidden states, or a LoRA query adapter.</summary>
    Probe,
}

/// <summary>
/// Everything a consumer needs to know about a method without running it: its name (what users pass to
/// <c>--methods</c> and to the server's <c>uncertainty</c> field), the statistics it reads, the settings its value
/// depends on, and what it returns.
/// </summary>
public sealed record MethodDescriptor
{
    /// <summary>The one name of the method, snake_case.</summary>
    public required string Name { get; init; }

    public required MethodFamily Family { get; init; }

    /// <summary>One line for listings.</summary>
    public required string Description { get; init; }

    /// <summary>The statistics the estimate reads (<see cref="StatisticNames"/>); their own dependencies come with them.</summary>
    public required IReadOnlyList<string> Statistics { get; init; }

    /// <summary>Keys of <see cref="SampleSettings.Describe"/> whose values change the estimate (not the statistics).</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    /// <summary>Whether the estimate carries a confidence in [0, 1] (what calibration metrics need).</summary>
    public bool GivesConfidence { get; init; }

    /// <summary>Position in the default method list of <c>eval</c> and <c>compare</c> (cheap methods: one greedy
    /// generation); null = not in it. The order is kept in run records, so it is part of the declaration.</summary>
    public int? DefaultRank { get; init; }

    /// <summary>Multiple-choice items only.</summary>
    public bool MultipleChoiceOnly { get; init; }

    /// <summary>What must be loaded besides the model, when a statistic is not built in (e.g. a probe file).</summary>
    public string? Needs { get; init; }

    /// <summary>Why the method cannot run over a remote endpoint whatever it reads (a probe: hidden states); null =
    /// it follows from its statistics (<see cref="Remote"/>).</summary>
    public string? NotRemote { get; init; }

    /// <summary>Whether and how the method runs over an OpenAI-compatible endpoint (<c>--endpoint</c>).</summary>
    public RemoteSupport Remote => RemoteSupport.Of(this);

    /// <summary>Whether the method has a value for this item.</summary>
    public bool AppliesTo(EvaluationItem item) => !MultipleChoiceOnly || item.Kind == EvaluationItemKind.MultipleChoice;

    /// <summary>Whether every statistic the method reads is among <paramref name="available"/>.</summary>
    public bool ComputableFrom(IReadOnlySet<string> available) => Statistics.All(available.Contains);
}

/// <summary>
/// An uncertainty method: a descriptor and the formula over statistics. A public non-abstract class with a
/// parameterless constructor in this assembly is found by <see cref="MethodCatalog.Default"/>: adding a method is
/// adding one such class.
/// </summary>
public interface IUncertaintyMethod
{
    MethodDescriptor Descriptor { get; }

    /// <summary>The estimate from the item's statistics; <paramref name="settings"/> holds the hyperparameters.</summary>
    UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings);
}

/// <summary>
/// Every method, each declared once. Evaluation, sensitivity, <c>generate --methods</c>, the server and the help
/// texts all read this list; which of them can run a method follows from the statistics it declares.
/// </summary>
public sealed class MethodCatalog
{
    private readonly Dictionary<string, IUncertaintyMethod> _byName = new(StringComparer.OrdinalIgnoreCase);

    public MethodCatalog(IEnumerable<IUncertaintyMethod> methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        foreach (var m in methods)
            if (!_byName.TryAdd(m.Descriptor.Name, m))
                throw new ArgumentException($"two methods are named '{m.Descriptor.Name}' ({_byName[m.Descriptor.Name].GetType().Name} and {m.GetType().Name})");
        Methods = [.. _byName.Values.OrderBy(m => m.Descriptor.Family).ThenBy(m => m.Descriptor.Name, StringComparer.Ordinal)];
    }

    /// <summary>The methods of this assembly.</summary>
    public static MethodCatalog Default { get; } = FromAssembly(typeof(MethodCatalog).Assembly);

    /// <summary>A catalog of the public method classes of <paramref name="assembly"/>.</summary>
    public static MethodCatalog FromAssembly(Assembly assembly) => new(
        assembly.GetTypes()
            .Where(t => t is { IsPublic: true, IsAbstract: false, IsClass: true } && typeof(IUncertaintyMethod).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IUncertaintyMethod)Activator.CreateInstance(t)!));

    /// <summary>Sorted by family, then name.</summary>
    public IReadOnlyList<IUncertaintyMethod> Methods { get; }

    public IEnumerable<string> Names => Methods.Select(m => m.Descriptor.Name);

    /// <summary>The methods an evaluation runs when none are named (<see cref="MethodDescriptor.DefaultRank"/>), comma-separated.</summary>
    public string DefaultNames => string.Join(",", Methods.Where(m => m.Descriptor.DefaultRank is not null).OrderBy(m => m.Descriptor.DefaultRank).Select(m => m.Descriptor.Name));

    /// <summary>This catalog plus <paramref name="methods"/> (an app's own methods).</summary>
    public MethodCatalog With(params IUncertaintyMethod[] methods) => new(Methods.Concat(methods));

    public bool TryGet(string name, out IUncertaintyMethod method) => _byName.TryGetValue(name, out method!);

    /// <summary>The method named <paramref name="name"/>; an unknown name throws ArgumentException listing what exists.</summary>
    public IUncertaintyMethod Get(string name) =>
        TryGet(name, out var m) ? m : throw new ArgumentException($"unknown method '{name}'; available: {string.Join(", ", Names)}");

    /// <summary>The methods whose every statistic is in <paramref name="available"/> (what a host that fills those can offer).</summary>
    public IReadOnlyList<IUncertaintyMethod> ComputableFrom(IReadOnlySet<string> available) =>
        [.. Methods.Where(m => m.Descriptor.ComputableFrom(available))];
}

/// <summary>
/// Whether and how a method runs over an OpenAI-compatible endpoint, which returns text, token log-probabilities
/// with top_logprobs alternatives, and (<c>uqengine serve</c>) each step's full-distribution entropy. It follows
/// from the statistics the method reads: <see cref="Filled"/> says how an endpoint gives each one it can,
/// <see cref="Refused"/> why not for the others.
/// </summary>
public sealed record RemoteSupport(bool Runs, string How)
{
    /// <summary>The statistics a remote run fills, and how.</summary>
    public static readonly IReadOnlyDictionary<string, string> Filled = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [StatisticNames.GreedyGeneration] = "greedy answer with logprobs + top_logprobs; entropy is the server's full-distribution value when it sends one (uqengine serve), else a top-k estimate (labelled in the report)",
        [StatisticNames.VerbalNumericResponse] = "a second greedy request asking for a 0-100 confidence",
        [StatisticNames.VerbalLinguisticResponse] = "a second greedy request asking for a likelihood phrase",
        [StatisticNames.StatedConfidenceResponse] = "the greedy answer without the newline stop",
        [SampleStatisticNames.Samples] = "K samples with n (or K requests of n = 1 where the server ignores n), seeds Seed + i",
        [SampleStatisticNames.SampleSimilarity] = "similarity of the samples' texts: --similarity rouge-l, jaccard or minilm",
        [SampleStatisticNames.SampleRelevance] = "token relevance from the returned token pieces with the same text similarity",
        [SampleStatisticNames.GreedyRelevance] = "token relevance of the greedy answer's returned pieces with the same text similarity",
    };

    /// <summary>The statistics an endpoint cannot give, and why.</summary>
    public static readonly IReadOnlyDictionary<string, string> Refused = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [StatisticNames.OptionLogits] = "it reads the option letters' logits at the answer position; an endpoint returns only the top_logprobs alternatives of the tokens it generates",
        [SampleStatisticNames.InvEntropyWalk] = "its paraphrase prompts are built with the local model's chat template and tokenizer",
    };

    /// <summary>The answer for <paramref name="method"/>.</summary>
    public static RemoteSupport Of(MethodDescriptor method)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.NotRemote is { } why) return new(false, why);
        foreach (string s in method.Statistics)
            if (!Filled.ContainsKey(s))
                return new(false, Refused.TryGetValue(s, out string? reason) ? reason : $"it reads '{s}', which an endpoint's answers do not give");
        return new(true, string.Join("; ", method.Statistics.Select(s => Filled[s])));
    }
}
