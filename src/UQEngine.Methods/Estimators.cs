
namespace UQEngine.Methods;

/// <summary>
/// One method's verdict on one item. <see cref="Uncertainty"/>: higher = less certain (what the ranking metrics
/// use). <see cref="Confidence"/>: an estimate of P(correct) in [0, 1] when the method gives one (what the calibration
/// metrics use). <see cref="UsedFallback"/>: the method could not read its signal (an unparseable verbal reply) and
/// used its documented fallback. <see cref="Detail"/>: what was read (a phrase, the raw reply), for the results.
/// </summary>
public readonly record struct UncertaintyEstimate(double Uncertainty, double? Confidence = null, bool UsedFallback = false, string? Detail = null);

/// <summary>
/// A method bound to the settings of a run: what the evaluation runner, the sensitivity re-scorer, <c>generate
/// --methods</c> and the server call. Made by <see cref="UncertaintyMethodRegistry.Resolve(string)"/>.
/// </summary>
public interface IUncertaintyEstimator
{
    MethodDescriptor Descriptor { get; }

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

/// <summary>A catalog method with its hyperparameters fixed.</summary>
public sealed class BoundMethod(IUncertaintyMethod method, SampleSettings settings) : IUncertaintyEstimator
{
    public IUncertaintyMethod Method { get; } = method ?? throw new ArgumentNullException(nameof(method));
    public SampleSettings Settings { get; } = settings ?? throw new ArgumentNullException(nameof(settings));
    public MethodDescriptor Descriptor => Method.Descriptor;
    public string Name => Descriptor.Name;
    public string Description => Descriptor.Description;
    public IReadOnlyList<string> Statistics => Descriptor.Statistics;
    public bool AppliesTo(EvaluationItem item) => Descriptor.AppliesTo(item);
    public UncertaintyEstimate Estimate(IStatisticSource statistics) => Method.Estimate(statistics, Settings);
}

/// <summary>
/// The statistics a run can compute (by name) and the catalog's methods bound to the run's settings.
/// <see cref="CreateDefault"/> registers the built-in statistics; <see cref="SampleMethods.Register"/> the sample
/// statistics with their settings; probes add theirs when a probe file is loaded.
/// </summary>
public sealed class UncertaintyMethodRegistry
{
    private readonly Dictionary<string, IItemStatistic> _statistics = new(StringComparer.Ordinal);

    public UncertaintyMethodRegistry(MethodCatalog? catalog = null) => Catalog = catalog ?? MethodCatalog.Default;

    /// <summary>The methods this registry resolves.</summary>
    public MethodCatalog Catalog { get; private set; }

    /// <summary>The hyperparameters methods are bound with (set by <see cref="SampleMethods.Register"/>).</summary>
    public SampleSettings Settings { get; internal set; } = new();

    /// <summary>A registry with the built-in statistics and the sample statistics at default settings.</summary>
    public static UncertaintyMethodRegistry CreateDefault()
    {
        var r = new UncertaintyMethodRegistry();
        r.Register(new GreedyGenerationStatistic());
        r.Register(new OptionLogitsStatistic());
        r.Register(new VerbalResponseStatistic(StatisticNames.VerbalNumericResponse, linguistic: false));
        r.Register(new VerbalResponseStatistic(StatisticNames.VerbalLinguisticResponse, linguistic: true));
        r.Register(new StatedConfidenceStatistic());
        SampleMethods.Register(r, new SampleSettings());
        return r;
    }

    public void Register(IItemStatistic statistic) => _statistics[statistic.Name] = statistic;

    /// <summary>Adds a method of the app's own to this registry's catalog.</summary>
    public void Register(IUncertaintyMethod method) => Catalog = Catalog.With(method);

    public IReadOnlyDictionary<string, IItemStatistic> Statistics => _statistics;

    /// <summary>Every catalog method, bound to <see cref="Settings"/>, by name.</summary>
    public IReadOnlyList<IUncertaintyEstimator> Estimators => [.. Catalog.Methods.Select(Bind).OrderBy(e => e.Name, StringComparer.Ordinal)];

    private BoundMethod Bind(IUncertaintyMethod method) => new(method, Settings);

    /// <summary>
    /// The estimators named in a comma-separated list ("msp,mean_entropy"), in the order given, without duplicates;
    /// throws ArgumentException naming the unknown ones and listing what exists.
    /// </summary>
    public IReadOnlyList<IUncertaintyEstimator> Resolve(string commaSeparatedNames) =>
        Resolve(commaSeparatedNames.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public IReadOnlyList<IUncertaintyEstimator> Resolve(IEnumerable<string> names)
    {
        var list = new List<IUncertaintyMethod>();
        var unknown = new List<string>();
        foreach (string name in names)
        {
            if (!Catalog.TryGet(name, out var m)) { unknown.Add(name); continue; }
            if (!list.Contains(m)) list.Add(m);
        }
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown method(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; available: {string.Join(", ", Catalog.Names)}");
        if (list.Count == 0) throw new ArgumentException("no methods given");
        foreach (var m in list)
            foreach (string s in m.Descriptor.Statistics)
                if (!_statistics.ContainsKey(s))
                    throw new ArgumentException(m.Descriptor.Needs is { } needs
                        ? $"method '{m.Descriptor.Name}' needs {needs}"
                        : $"method '{m.Descriptor.Name}' needs statistic '{s}', which is not registered");
        return [.. list.Select(Bind)];
    }

    /// <summary>
    /// <paramref name="wanted"/> and every statistic they depend on (<see cref="IItemStatistic.Dependencies"/>), so a
    /// statistic that builds on another can be planned for (the greedy answer's first step also gives the option logits).
    /// </summary>
    public HashSet<string> WithDependencies(IEnumerable<string> wanted)
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(wanted);
        while (stack.Count > 0)
        {
            string name = stack.Pop();
            if (!all.Add(name)) continue;
            if (_statistics.TryGetValue(name, out var statistic))
                foreach (string d in statistic.Dependencies) stack.Push(d);
        }
        return all;
    }
}
