using System.Globalization;
using Spectre.Console;
using UQEngine.Evaluation.Datasets;
using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Cli.Commands;

/// <summary>`generate --methods`: the harness's methods on one prompt, asked as `eval` asks a question.</summary>
internal sealed class MethodScoring
{
    private readonly UncertaintyMethodRegistry _registry;
    private readonly IReadOnlyList<IUncertaintyEstimator> _estimators;

    private MethodScoring(UncertaintyMethodRegistry registry, IReadOnlyList<IUncertaintyEstimator> estimators, SampleSettings settings, GgufTextEmbedder? embedder)
    {
        _registry = registry; _estimators = estimators; Settings = settings; Embedder = embedder;
        Sampled = SampleOptionsBinder.Needed(estimators);
    }

    public SampleSettings Settings { get; }
    public GgufTextEmbedder? Embedder { get; }
    public bool Sampled { get; }

    /// <summary>Null when no methods were asked for; resolves the names (a typo fails before the model loads).</summary>
    public static MethodScoring? Prepare(string? methods, SampleSettings settings, ModelOptions modelOptions)
    {
        if (string.IsNullOrWhiteSpace(methods)) return null;
        var registry = UncertaintyMethodRegistry.CreateDefault();
        bool sampled = SampleOptionsBinder.Needed(registry.Resolve(methods));
        var embedder = SampleOptionsBinder.Register(registry, settings, modelOptions, load: sampled);
        // Resolve again: registering replaced the sampling estimators with ones that carry these settings.
        return new MethodScoring(registry, registry.Resolve(methods), settings, embedder);
    }

    /// <summary>One open-answer item holding the prompt; each method's estimate (methods that do not apply are left out).</summary>
    public IReadOnlyList<MethodScore> Score(Generator generator, string prompt, int maxTokens, uint seed, bool chat, CancellationToken cancellationToken)
    {
        var item = new EvaluationItem { Id = "prompt", Question = prompt, Kind = EvaluationItemKind.OpenAnswer, Answer = "" };
        var settings = new StatisticSettings { AnswerMaxTokens = maxTokens, Seed = seed, UseChatTemplate = chat };
        var context = new StatisticContext(item, generator, new ItemPrompts(generator.Context.Model, chat), settings, _registry.Statistics, cancellationToken);
        var scores = new List<MethodScore>();
        foreach (var e in _estimators)
        {
            if (!e.AppliesTo(item)) continue;
            var u = e.Estimate(context);
            scores.Add(new MethodScore(e.Name, u.Uncertainty, u.Confidence, u.Detail));
        }
        return scores;
    }

    public static void Show(IAnsiConsole console, IReadOnlyList<MethodScore> scores)
    {
        var table = new Table().AddColumns("method", "uncertainty", "confidence", "detail");
        foreach (var s in scores)
            table.AddRow(Markup.Escape(s.Method), s.Uncertainty.ToString("G6", CultureInfo.InvariantCulture),
                s.Confidence?.ToString("F3", CultureInfo.InvariantCulture) ?? "", Markup.Escape(s.Detail ?? ""));
        console.Write(table);
    }
}

/// <summary>One method's score in `generate --methods` output.</summary>
internal sealed record MethodScore(string Method, double Uncertainty, double? Confidence, string? Detail);
