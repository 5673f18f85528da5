using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Remote;

/// <summary>
/// The statistics of <see cref="RemoteSupport.Filled"/> computed over an endpoint, registered under the catalog's
/// names so every method that reads only those runs unchanged. The prompts are the evaluation's: with chat, the
/// item's instruction as one user message (the server applies its template, as the local run applies the
/// model's); without (<c>--raw</c>), the plain-text prompt over /v1/completions. Generation settings are the
/// local statistics' (greedy answers stop at a newline; samples at the sampling temperature, seeds Seed + i).
/// </summary>
public static class RemoteStatistics
{
    /// <summary>
    /// Registers the remote statistics in <paramref name="registry"/> over <paramref name="client"/>, after the
    /// sample statistics of <paramref name="settings"/> (their similarity backends read texts only: rouge-l, jaccard
    /// or minilm through <paramref name="embedder"/>). Throws ArgumentException for a backend that needs the
    /// model's hidden states.
    /// </summary>
    public static void Register(UncertaintyMethodRegistry registry, OpenAiEndpointClient client, SampleSettings settings, ITextEmbedder? embedder = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Similarity is SimilarityBackend.Hidden or SimilarityBackend.Embedding)
            throw new ArgumentException($"--similarity {(settings.Similarity == SimilarityBackend.Hidden ? "hidden" : "embedding")} reads a local model, and an endpoint returns text only; use --similarity rouge-l, jaccard or minilm");
        SampleMethods.Register(registry, settings, embedder);
        registry.Register(new RemoteAnswer(client, StatisticNames.GreedyGeneration, stop: true, extraTokens: 0));
        registry.Register(new RemoteAnswer(client, StatisticNames.StatedConfidenceResponse, stop: false, extraTokens: StatedConfidenceStatistic.ConfidenceTokens));
        registry.Register(new RemoteVerbalReply(client, StatisticNames.VerbalNumericResponse, linguistic: false));
        registry.Register(new RemoteVerbalReply(client, StatisticNames.VerbalLinguisticResponse, linguistic: true));
        registry.Register(new RemoteSamples(client, settings));
    }

    /// <summary>The request for one of the run's prompts: a user message (chat) or the plain-text prompt.</summary>
    internal static RemoteRequest Request(OpenAiEndpointClient client, StatisticContext context, string instruction, string label, int count, int maxTokens, float temperature, IReadOnlyList<string> stop, int topLogprobs, SampleSettings? sampling = null) =>
        new(client.Options.Chat && context.Settings.UseChatTemplate ? [ChatMessage.User(instruction.TrimEnd())] : null,
            client.Options.Chat && context.Settings.UseChatTemplate ? null : instruction + label,
            count, maxTokens, temperature, sampling?.TopP ?? 1f, sampling?.TopK ?? 0, context.Settings.Seed, stop, topLogprobs);

    internal static IReadOnlyList<GenerationResult> Run(OpenAiEndpointClient client, RemoteRequest request, StatisticContext context) =>
        client.CompleteAsync(request, context.CancellationToken).GetAwaiter().GetResult();
}

/// <summary>The greedy answer (with or without the newline stop), with logprobs and top_logprobs.</summary>
internal sealed class RemoteAnswer(OpenAiEndpointClient client, string name, bool stop, int extraTokens) : IItemStatistic
{
    public string Name { get; } = name;
    public IReadOnlyList<string> Dependencies => [];
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        var request = RemoteStatistics.Request(client, context, ItemPrompts.AnswerInstruction(context.Item), ItemPrompts.AnswerLabel, 1,
            context.Settings.AnswerMaxTokens + extraTokens, 0f, stop ? ["\n"] : [], client.Options.TopLogprobs);
        return RemoteStatistics.Run(client, request, context)[0];
    }
}

/// <summary>A verbal-confidence reply about the greedy answer.</summary>
internal sealed class RemoteVerbalReply(OpenAiEndpointClient client, string name, bool linguistic) : IItemStatistic
{
    public string Name { get; } = name;
    public IReadOnlyList<string> Dependencies { get; } = [StatisticNames.GreedyGeneration];
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        var answer = context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
        string body = linguistic ? ItemPrompts.VerbalLinguisticInstruction(context.Item, answer.Text) : ItemPrompts.VerbalNumericInstruction(context.Item, answer.Text);
        var request = RemoteStatistics.Request(client, context, body, linguistic ? ItemPrompts.VerbalLinguisticLabel : ItemPrompts.VerbalNumericLabel, 1,
            context.Settings.ConfidenceMaxTokens, 0f, ["\n"], 0);
        return RemoteStatistics.Run(client, request, context)[0];
    }
}

/// <summary>K samples of the answer prompt (n = K, or K requests), with their token log-probabilities.</summary>
internal sealed class RemoteSamples(OpenAiEndpointClient client, SampleSettings settings) : IItemStatistic
{
    public string Name => SampleStatisticNames.Samples;
    public IReadOnlyList<string> Dependencies => [];
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        string instruction = ItemPrompts.AnswerInstruction(context.Item);
        var request = RemoteStatistics.Request(client, context, instruction, ItemPrompts.AnswerLabel, settings.Samples,
            settings.MaxTokens ?? context.Settings.AnswerMaxTokens, settings.Temperature, ["\n"], 0, settings);
        var generations = RemoteStatistics.Run(client, request, context);
        return SampleSet.From(request.Prompt ?? instruction, [], generations);
    }
}
