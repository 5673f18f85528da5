using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>One method's verdict on a single prompt.</summary>
public sealed record MethodScore(string Method, double Uncertainty, double? Confidence, string? Detail);

/// <summary>Catalog methods on one prompt, asked as an evaluation asks a question (<c>generate --methods</c>, apps).</summary>
public static class PromptScoring
{
    /// <summary>
    /// Each method's estimate for <paramref name="prompt"/>, held as an open-answer item; statistics are computed
    /// once and shared, as in an evaluation. Methods that do not apply to an open answer are left out.
    /// </summary>
    public static IReadOnlyList<MethodScore> Score(Generator generator, UncertaintyMethodRegistry registry, IReadOnlyList<IUncertaintyEstimator> methods,
        string prompt, StatisticSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(settings);
        var item = Item(prompt);
        return Score(item, methods, new StatisticContext(item, generator, new ItemPrompts(generator.Context.Model, settings.UseChatTemplate), settings, registry.Statistics, cancellationToken)
        {
            Planned = registry.WithDependencies(methods.SelectMany(m => m.Statistics)),
        });
    }

    /// <summary>As above with no local model: the registry's statistics get their values elsewhere (a remote endpoint's).</summary>
    public static IReadOnlyList<MethodScore> Score(UncertaintyMethodRegistry registry, IReadOnlyList<IUncertaintyEstimator> methods, string prompt, StatisticSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(settings);
        var item = Item(prompt);
        return Score(item, methods, new StatisticContext(item, new ItemPrompts(null, settings.UseChatTemplate), settings, registry.Statistics, cancellationToken)
        {
            Planned = registry.WithDependencies(methods.SelectMany(m => m.Statistics)),
        });
    }

    private static EvaluationItem Item(string prompt) => new() { Id = "prompt", Question = prompt, Kind = EvaluationItemKind.OpenAnswer, Answer = "" };

    private static List<MethodScore> Score(EvaluationItem item, IReadOnlyList<IUncertaintyEstimator> methods, StatisticContext context)
    {
        var scores = new List<MethodScore>();
        foreach (var m in methods)
        {
            if (!m.AppliesTo(item)) continue;
            var u = m.Estimate(context);
            scores.Add(new MethodScore(m.Name, u.Uncertainty, u.Confidence, u.Detail));
        }
        return scores;
    }
}
