using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Methods.Probes;

/// <summary>The greedy answer decoded with a probe attached: the generation and the probe's reading of it.</summary>
public sealed record ProbedGeneration(GenerationResult Generation, ProbeReading Reading);

/// <summary>
/// Statistic "probed_generation": the greedy answer with a <see cref="ProbeScorer"/> in the decoding loop. It replaces
/// "greedy_generation" in a registry (see <see cref="ProbeMethod.Register(UncertaintyMethodRegistry, ProbeFile)"/>), so the answer is decoded once and the
/// token-probability methods read the same generation the probe read.
/// </summary>
public sealed class ProbedGenerationStatistic(ProbeFile probe) : IItemStatistic
{
    public const string StatisticName = "probed_generation";
    private readonly ProbeScorer _scorer = new(probe);

    public string Name => StatisticName;
    public IReadOnlyList<string> Dependencies => [];

    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        _scorer.Reset();
        var options = GreedyGenerationStatistic.AnswerOptions(context.Settings.AnswerMaxTokens) with { OnStep = _scorer.Observe };
        var result = context.Generator.Generate(context.Prompts.Answer(context.Item), options, context.CancellationToken);
        return new ProbedGeneration(result, _scorer.Result());
    }
}

/// <summary>"greedy_generation" served from "probed_generation" (same answer, decoded once).</summary>
internal sealed class GreedyFromProbedStatistic : IItemStatistic
{
    public string Name => StatisticNames.GreedyGeneration;
    public IReadOnlyList<string> Dependencies { get; } = [ProbedGenerationStatistic.StatisticName];

    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context) => context.Get<ProbedGeneration>(ProbedGenerationStatistic.StatisticName).Generation;
}

/// <summary>Method "probe": uncertainty 1 − the probe's calibrated confidence in the greedy answer.</summary>
public sealed class ProbeMethod : IUncertaintyMethod
{
    public const string MethodName = "probe";

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = MethodName, Family = MethodFamily.Probe, GivesConfidence = true,
        Description = "Hidden-state probe (--probe FILE): calibrated P(correct) from the answer's hidden states, read while decoding",
        Statistics = [ProbedGenerationStatistic.StatisticName],
        Needs = "a probe file (--probe FILE; train one with `uqengine probe train`)",
        NotRemote = "it reads the answer's hidden states inside the decoding loop; an endpoint returns text and log-probabilities only",
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        var r = statistics.Get<ProbedGeneration>(ProbedGenerationStatistic.StatisticName).Reading;
        return new(1 - r.Confidence, r.Confidence, Detail: $"logit {r.Logit:F3}");
    }

    /// <summary>
    /// Adds the probe method to a registry and routes the greedy answer through the probed generation. Checks the
    /// probe fits the model; the context must expose the probe's layer (<see cref="ProbeScorer.Configure"/>).
    /// </summary>
    public static void Register(UncertaintyMethodRegistry registry, ProbeFile probe, LlamaContext context)
    {
        CheckContext(probe, context);
        Register(registry, probe);
    }

    /// <summary>Registration alone, for callers that resolve methods before loading the model; call <see cref="CheckContext"/> once it is.</summary>
    public static void Register(UncertaintyMethodRegistry registry, ProbeFile probe)
    {
        registry.Register(new ProbedGenerationStatistic(probe));
        registry.Register(new GreedyFromProbedStatistic());
    }

    /// <summary>Throws when the probe reads another model or the context does not expose its layer.</summary>
    public static void CheckContext(ProbeFile probe, LlamaContext context)
    {
        probe.EnsureFits(context.Model);
        ProbeFeatureExtractor.CheckExposed(context, [probe.Features.Layer]);
    }
}
