using Microsoft.Extensions.AI;
using UQEngine.Inference;
using UQEngine.Structured;
using UQEngine.Uncertainty;

namespace UQEngine.Chat;

/// <summary>
/// How sure the model was of one chat answer: the sequence scores over every decoded step (an end-of-generation
/// token included, although it is not part of the text) and each answer token with its probability, entropy, rank
/// and top alternatives.
/// </summary>
public sealed record ChatUncertainty(TokenProbabilityScores Scores, IReadOnlyList<GeneratedToken> Tokens, FinishReason FinishReason)
{
    /// <summary>P(answer | prompt).</summary>
    public double SequenceProbability => Scores.SequenceProbability;

    /// <summary>exp(−mean log p); 1 when the model was certain. NaN for an empty answer.</summary>
    public double Perplexity => Scores.Perplexity;

    /// <summary>Mean full-vocabulary entropy per step, in nats.</summary>
    public double MeanEntropy => Scores.MeanEntropy;

    /// <summary>Largest step entropy, in nats.</summary>
    public double MaxEntropy => Scores.MaxEntropy;

    /// <summary>Smallest probability of a chosen token.</summary>
    public double MinTokenProbability => Scores.MinTokenProbability;

    /// <summary>
    /// With a JSON <see cref="ChatOptions.ResponseFormat"/>: one entry per leaf value of the answer (JSON pointer, raw and
    /// constrained log-probs, entropy, the raw mass on grammar-allowed tokens); null for free text.
    /// </summary>
    public IReadOnlyList<JsonFieldUncertainty>? Fields { get; init; }

    /// <summary>With a JSON response format: <see cref="Scores"/> over the constrained (renormalised) probabilities; <see cref="Scores"/> stays raw.</summary>
    public TokenProbabilityScores? ConstrainedScores { get; init; }

    internal static ChatUncertainty Of(GenerationResult result, bool structured) => new(result.Uncertainty, result.Tokens, result.FinishReason)
    {
        Fields = structured ? JsonFields.Analyze(result) : null,
        ConstrainedScores = result.ConstrainedUncertainty,
    };
}

/// <summary>
/// Reads UQEngine's uncertainty from Microsoft.Extensions.AI results produced by <see cref="UqEngineChatClient"/>.
/// The typed values ride in AdditionalProperties, so they pass through any ChatClientBuilder pipeline and survive
/// <c>ToChatResponseAsync</c> (which merges update properties into the answer message).
/// </summary>
public static class ChatUncertaintyExtensions
{
    /// <summary>AdditionalProperties key of the <see cref="ChatUncertainty"/> (on the response, its message, and a stream's last update).</summary>
    public const string UncertaintyKey = "uqengine.uncertainty";

    /// <summary>AdditionalProperties key of the <see cref="GeneratedToken"/> a streaming update comes from.</summary>
    public const string TokenKey = "uqengine.token";

    /// <summary>The answer's uncertainty, from the response or (for a response assembled from updates) its last message that has one.</summary>
    public static ChatUncertainty? GetUncertainty(this ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.AdditionalProperties?.TryGetValue(UncertaintyKey, out var value) == true && value is ChatUncertainty direct) return direct;
        for (int i = response.Messages.Count - 1; i >= 0; i--)
            if (response.Messages[i].AdditionalProperties?.TryGetValue(UncertaintyKey, out value) == true && value is ChatUncertainty found) return found;
        return null;
    }

    /// <summary>The answer's uncertainty; present on the last update of a stream only.</summary>
    public static ChatUncertainty? GetUncertainty(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return update.AdditionalProperties?.TryGetValue(UncertaintyKey, out var value) == true ? value as ChatUncertainty : null;
    }

    /// <summary>The token a streaming update comes from (its text may be held back while it could start a stop sequence).</summary>
    public static GeneratedToken? GetToken(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return update.AdditionalProperties?.TryGetValue(TokenKey, out var value) == true ? value as GeneratedToken : null;
    }
}
