using System.Globalization;
using Spectre.Console;
using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Cli.Commands;

/// <summary>`generate --methods`: the harness's methods on one prompt, asked as `eval` asks a question.</summary>
internal sealed class MethodScoring
{
    private readonly UncertaintyMethodRegistry _registry;
    private readonly IReadOnlyList<IUncertaintyEstimator> _estimators;
    private bool _remote;

    private MethodScoring(UncertaintyMethodRegistry registry, IReadOnlyList<IUncertaintyEstimator> estimators, SampleSettings settings, TextEmbedderHandle? embedder)
    {
        _registry = registry; _estimators = estimators; Settings = settings; Embedder = embedder;
        Sampled = SampleOptionsBinder.Needed(estimators);
    }

    public SampleSettings Settings { get; }
    public TextEmbedderHandle? Embedder { get; }
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

    /// <summary>
    /// As <see cref="Prepare"/> over an endpoint: the methods it cannot run are refused with the catalog's reason,
    /// and the statistics are the endpoint's (<see cref="Remote.RemoteStatistics"/>).
    /// </summary>
    public static MethodScoring? PrepareRemote(string? methods, SampleSettings settings, ModelOptions modelOptions, Remote.OpenAiEndpointClient client)
    {
        if (string.IsNullOrWhiteSpace(methods)) return null;
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var resolved = registry.Resolve(methods);
        RemoteOptionsBinder.RequireRemote(resolved);
        bool sampled = SampleOptionsBinder.Needed(resolved);
        var embedder = sampled ? SampleOptionsBinder.LoadEmbedder(settings, modelOptions) : null;
        Remote.RemoteStatistics.Register(registry, client, settings, embedder?.Embedder);
        return new MethodScoring(registry, registry.Resolve(methods), settings, embedder) { _remote = true };
    }

    /// <summary>Over an endpoint: each method's estimate on the prompt (<see cref="PromptScoring"/>).</summary>
    public IReadOnlyList<MethodScore> Score(string prompt, int maxTokens, uint seed, bool chat, CancellationToken cancellationToken) => _remote
        ? PromptScoring.Score(_registry, _estimators, prompt, new StatisticSettings { AnswerMaxTokens = maxTokens, Seed = seed, UseChatTemplate = chat }, cancellationToken)
        : throw new InvalidOperationException("these methods were prepared for a local model");

    /// <summary>Each method's estimate on the prompt (<see cref="PromptScoring"/>).</summary>
    public IReadOnlyList<MethodScore> Score(Generator generator, string prompt, int maxTokens, uint seed, bool chat, CancellationToken cancellationToken) =>
        PromptScoring.Score(generator, _registry, _estimators, prompt, new StatisticSettings { AnswerMaxTokens = maxTokens, Seed = seed, UseChatTemplate = chat }, cancellationToken);

    public static void Show(IAnsiConsole console, IReadOnlyList<MethodScore> scores)
    {
        var table = new Table().AddColumns("method", "uncertainty", "confidence", "detail");
        foreach (var s in scores)
            table.AddRow(Markup.Escape(s.Method), s.Uncertainty.ToString("G6", CultureInfo.InvariantCulture),
                s.Confidence?.ToString("F3", CultureInfo.InvariantCulture) ?? "", Markup.Escape(s.Detail ?? ""));
        console.Write(table);
    }
}
