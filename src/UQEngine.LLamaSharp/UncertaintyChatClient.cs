using System.Runtime.CompilerServices;
using LLama;
using LLama.Abstractions;
using LLama.Common;
using LLama.Native;
using LLama.Sampling;
using Microsoft.Extensions.AI;
using UQEngine.Chat;
using UQEngine.Inference;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace UQEngine.LLamaSharp;

/// <summary>
/// Microsoft.Extensions.AI for LLamaSharp with UQEngine's uncertainty: <c>executor.AsUncertaintyChatClient()</c> is
/// LLamaSharp's own <c>executor.AsChatClient()</c> (its prompt building, inference parameters and output transform,
/// unchanged) whose responses carry the same <see cref="ChatUncertainty"/> as UQEngine.Chat's client, read with the
/// same <see cref="ChatUncertaintyExtensions.GetUncertainty(ChatResponse)"/>.
/// </summary>
/// <remarks>
/// Why two layers: LLamaSharp 0.30.0's chat client builds a fresh DefaultSamplingPipeline for every call and
/// discards any pipeline passed through <c>ChatOptions.RawRepresentationFactory</c>, so the only seam left is the
/// executor it calls. <see cref="RecordingExecutor"/> wraps that executor and puts an
/// <see cref="UncertaintySamplingPipeline"/> around the pipeline of each inference; the
/// <see cref="UncertaintyChatClient"/> decorator finds the recording of its own call (an AsyncLocal slot, so
/// concurrent calls on different executors do not mix) and attaches it. The wrapped executor is not a
/// StatefulExecutorBase, so LLamaSharp's chat client sends the whole history each call (its stateless behaviour):
/// use a StatelessExecutor, as LLamaSharp's own examples do for IChatClient.
/// </remarks>
public static class LLamaSharpChatExtensions
{
    /// <summary>LLamaSharp's IChatClient over <paramref name="executor"/>, with <see cref="ChatUncertainty"/> on every response.</summary>
    public static IChatClient AsUncertaintyChatClient(this ILLamaExecutor executor, IHistoryTransform? historyTransform = null,
        ITextStreamTransform? outputTransform = null, int topAlternatives = 0)
    {
        ArgumentNullException.ThrowIfNull(executor);
        var recording = new RecordingExecutor(executor, topAlternatives);
        return new UncertaintyChatClient(recording.AsChatClient(historyTransform, outputTransform), recording);
    }
}

/// <summary>
/// An <see cref="ILLamaExecutor"/> that records the uncertainty of every inference: it wraps the inference's
/// sampling pipeline (LLamaSharp's default when none is set) in an <see cref="UncertaintySamplingPipeline"/>.
/// </summary>
public sealed class RecordingExecutor(ILLamaExecutor inner, int topAlternatives = 0) : ILLamaExecutor
{
    private static readonly AsyncLocal<Slot?> Current = new();

    /// <summary>Where the decorator that started a call finds its recording.</summary>
    internal sealed class Slot { public UncertaintySamplingPipeline? Pipeline; public int MaxTokens; }

    public ILLamaExecutor Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>The recording of the most recent inference on this executor.</summary>
    public UncertaintySamplingPipeline? Last { get; private set; }

    public LLamaContext Context => Inner.Context;
    public bool IsMultiModal => Inner.IsMultiModal;
    public MtmdWeights? ClipModel => Inner.ClipModel;
    public List<SafeMtmdEmbed> Embeds => Inner.Embeds;

    /// <summary>Opens a slot that the next inference in this async flow records into.</summary>
    internal static Slot Open() => Current.Value = new Slot();

    public IAsyncEnumerable<string> InferAsync(string text, IInferenceParams? inferenceParams = null, CancellationToken token = default)
    {
        // Not an iterator: the pipeline is wrapped and the slot filled now, in the caller's async flow.
        var parameters = inferenceParams as InferenceParams ?? Copy(inferenceParams);
        var pipeline = new UncertaintySamplingPipeline(parameters.SamplingPipeline ?? new DefaultSamplingPipeline(), topAlternatives, ownsInner: false);
        parameters = parameters with { SamplingPipeline = pipeline };
        Last = pipeline;
        if (Current.Value is { } slot) { slot.Pipeline = pipeline; slot.MaxTokens = parameters.MaxTokens; }
        return Inner.InferAsync(text, parameters, token);
    }

    private static InferenceParams Copy(IInferenceParams? p) => p is null ? new InferenceParams() : new InferenceParams
    {
        TokensKeep = p.TokensKeep,
        MaxTokens = p.MaxTokens,
        AntiPrompts = p.AntiPrompts,
        SamplingPipeline = p.SamplingPipeline,
        DecodeSpecialTokens = p.DecodeSpecialTokens,
        OverflowStrategy = p.OverflowStrategy,
        ContextTruncationPercentage = p.ContextTruncationPercentage,
    };
}

/// <summary>
/// Decorates the IChatClient LLamaSharp makes over a <see cref="RecordingExecutor"/>: each response (and a stream's
/// last update) carries the call's <see cref="ChatUncertainty"/> under <see cref="ChatUncertaintyExtensions.UncertaintyKey"/>,
/// and each streamed update the <see cref="GeneratedToken"/> it came from under <see cref="ChatUncertaintyExtensions.TokenKey"/>.
/// </summary>
public sealed class UncertaintyChatClient(IChatClient inner, RecordingExecutor executor) : DelegatingChatClient(inner)
{
    public RecordingExecutor Executor { get; } = executor ?? throw new ArgumentNullException(nameof(executor));

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var slot = RecordingExecutor.Open();
        var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var uncertainty = Uncertainty(slot);
        response.FinishReason = FinishReasonOf(uncertainty.FinishReason);
        Attach(response.AdditionalProperties ??= [], uncertainty);
        foreach (var message in response.Messages)
            if (message.Role == ChatRole.Assistant) Attach(message.AdditionalProperties ??= [], uncertainty);
        return response;
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var slot = RecordingExecutor.Open();
        string? messageId = null;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            messageId ??= update.MessageId;
            // The executor yields a token's text after sampling it, so the newest recorded token is this update's.
            if (slot.Pipeline is { Tokens.Count: > 0 } pipeline) (update.AdditionalProperties ??= [])[ChatUncertaintyExtensions.TokenKey] = pipeline.Tokens[^1];
            yield return update;
        }
        var uncertainty = Uncertainty(slot);
        yield return new ChatResponseUpdate(ChatRole.Assistant, (string?)null)
        {
            MessageId = messageId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = FinishReasonOf(uncertainty.FinishReason),
            AdditionalProperties = Attach([], uncertainty),
        };
    }

    private ChatUncertainty Uncertainty(RecordingExecutor.Slot slot)
    {
        var pipeline = slot.Pipeline ?? throw new InvalidOperationException(
            "the inner chat client did not run an inference on the RecordingExecutor in this call; build it with executor.AsUncertaintyChatClient()");
        var tokens = pipeline.Tokens.ToList();
        // LLamaSharp reports no finish reason; the recording tells: an end-of-generation token was sampled, the token
        // limit was reached, or the executor stopped at an anti-prompt.
        var vocab = Executor.Context.Vocab;
        var reason = tokens.Count > 0 && ((LLamaToken)tokens[^1].TokenId).IsEndOfGeneration(vocab) ? FinishReason.EndOfGeneration
            : slot.MaxTokens > 0 && tokens.Count >= slot.MaxTokens ? FinishReason.Length
            : FinishReason.Stop;
        return new ChatUncertainty(pipeline.Scores, tokens, reason);
    }

    /// <summary>The keys UqEngineChatClient sets: the typed value, and plain numbers for consumers that do not reference UQEngine.Chat.</summary>
    private static AdditionalPropertiesDictionary Attach(AdditionalPropertiesDictionary properties, ChatUncertainty u)
    {
        properties[ChatUncertaintyExtensions.UncertaintyKey] = u;
        properties["sequence_probability"] = u.SequenceProbability;
        properties["perplexity"] = u.Perplexity;
        properties["mean_entropy"] = u.MeanEntropy;
        properties["max_entropy"] = u.MaxEntropy;
        properties["min_token_probability"] = u.MinTokenProbability;
        return properties;
    }

    private static ChatFinishReason FinishReasonOf(FinishReason reason) => reason switch
    {
        FinishReason.Length or FinishReason.ContextFull => ChatFinishReason.Length,
        _ => ChatFinishReason.Stop,
    };
}
