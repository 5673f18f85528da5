using UQEngine.Inference;

namespace UQEngine.Methods.Probes;

/// <summary>
/// Statistic "lora_query": after the greedy answer, the query adapter's reading of it (<see cref="LoraQuery.Ask(Generator, string, GenerationResult, CancellationToken)"/>):
/// the question + answer cells the answer left in the cache are reused, only the query turn is decoded (adapter on),
/// and its cells are removed again. The adapter is loaded on first use from the generator's model, so it can be
/// registered before the model is.
/// </summary>
public sealed class LoraQueryStatistic(string adapterPath) : IItemStatistic, IDisposable
{
    public const string StatisticName = "lora_query";
    private LoraQuery? _query;

    public string Name => StatisticName;
    public IReadOnlyList<string> Dependencies { get; } = [StatisticNames.GreedyGeneration];

    public bool AppliesTo(EvaluationItem item) => true;

    /// <summary>The loaded query (after the first item, or <see cref="Load"/>).</summary>
    public LoraQuery? Query => _query;

    /// <summary>Loads the adapter on <paramref name="model"/> now (refusing an adapter trained on another base), if not yet.</summary>
    public LoraQuery Load(LlamaModel model)
    {
        if (_query is { } q && ReferenceEquals(q.Adapter.Model, model) && !q.Adapter.IsDisposed) return q;
        _query?.Dispose();
        return _query = LoraQuery.Load(model, adapterPath);
    }

    public object Compute(StatisticContext context)
    {
        var answer = context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
        var query = Load(context.Generator.Context.Model);
        return query.Ask(context.Generator, context.Prompts.Answer(context.Item), answer, context.CancellationToken);
    }

    public void Dispose() => _query?.Dispose();
}

/// <summary>Method "lora_query": uncertainty 1 − the LoRA query's calibrated P(yes) that the greedy answer is correct.</summary>
public sealed class LoraQueryMethod : IUncertaintyMethod
{
    public const string MethodName = "lora_query";

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = MethodName, Family = MethodFamily.Probe, GivesConfidence = true,
        Description = "LoRA + prompt (--lora-query FILE): a LoRA adapter, on only for a fixed query after the answer, answers 'Is the proposed answer correct?'; calibrated P(yes)",
        Statistics = [LoraQueryStatistic.StatisticName],
        Needs = "a LoRA query adapter (--lora-query FILE; train one with the TorchSharp trainer's lora-query-train)",
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        var r = statistics.Get<LoraQueryReading>(LoraQueryStatistic.StatisticName);
        return new(1 - r.Confidence, r.Confidence, Detail: $"margin {r.Logit:F3}, {r.QueryTokens} query tokens, {(r.ReusedCache ? "cache reused" : "re-decoded")}");
    }

    /// <summary>Adds the statistic (the method is in the catalog); returns it so the caller can load it early and dispose it.</summary>
    public static LoraQueryStatistic Register(UncertaintyMethodRegistry registry, string adapterPath)
    {
        var statistic = new LoraQueryStatistic(adapterPath);
        registry.Register(statistic);
        return statistic;
    }
}
