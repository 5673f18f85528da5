namespace UQEngine.Methods;

/// <summary>
/// Statistics a host already holds or computes on demand, for running catalog methods outside the evaluation
/// runner: the sensitivity re-scorer fills it from its cache, the server from a request's choices.
/// </summary>
public sealed class StatisticValues(EvaluationItem item) : IStatisticSource
{
    private readonly Dictionary<string, Lazy<object>> _values = new(StringComparer.Ordinal);

    public EvaluationItem Item { get; } = item ?? throw new ArgumentNullException(nameof(item));

    /// <summary>The statistics this source can give.</summary>
    public IReadOnlySet<string> Names => _values.Keys.ToHashSet(StringComparer.Ordinal);

    public StatisticValues Add(string name, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _values[name] = new Lazy<object>(value);
        return this;
    }

    /// <summary>A statistic computed on first request (at most once).</summary>
    public StatisticValues Add(string name, Func<object> compute)
    {
        ArgumentNullException.ThrowIfNull(compute);
        _values[name] = new Lazy<object>(compute, LazyThreadSafetyMode.ExecutionAndPublication);
        return this;
    }

    public T Get<T>(string name)
    {
        if (!_values.TryGetValue(name, out var lazy)) throw new InvalidOperationException($"statistic '{name}' is not available here (available: {string.Join(", ", _values.Keys)})");
        return lazy.Value is T typed ? typed : throw new InvalidOperationException($"statistic '{name}' is a {lazy.Value.GetType().Name}, not a {typeof(T).Name}");
    }
}
