using UQEngine.Kernels;
using UQEngine.Uncertainty;

namespace UQEngine.Inference;

/// <summary>What to generate and what to record while doing it.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 128;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>Generation of a sequence ends when its text contains one of these; the stop text is cut off.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Most likely alternatives recorded per token (0..20), as OpenAI's top_logprobs.</summary>
    public int TopAlternatives { get; init; }
    /// <summary>Run the fused statistics kernel at each step (logprob, entropy, rank, TPU scores). Default true.</summary>
    public bool TokenStatistics { get; init; } = true;
    /// <summary>
    /// Copy each step's hidden state into the result: the final one (the context needs FinalHiddenState), or the
    /// state entering <see cref="HiddenStateLayer"/> when that is set (the context must expose it in HiddenLayers).
    /// </summary>
    public bool CaptureHiddenStates { get; init; }
    /// <summary>With <see cref="CaptureHiddenStates"/>: the layer whose input state is captured; null = the final state.</summary>
    public int? HiddenStateLayer { get; init; }
    /// <summary>Add BOS etc. when tokenizing a text prompt.</summary>
    public bool AddSpecialTokens { get; init; } = true;
    /// <summary>Treat control-token text in the prompt ("&lt;|im_start|&gt;") as control tokens. Needed for chat-formatted prompts.</summary>
    public bool ParseSpecialTokens { get; init; } = true;
    /// <summary>Called at every step of every sequence with zero-copy views of the logits and hidden state.</summary>
    public DecodeStepObserver? OnStep { get; init; }
    /// <summary>
    /// Constrains the text to a grammar (greedy: the most likely allowed token; sampled: the chain draws among the
    /// allowed). Token statistics stay on the raw logits; each token also gets its constrained probability and the
    /// raw mass on the allowed tokens (<see cref="GeneratedToken.ConstrainedLogProbability"/>).
    /// </summary>
    public GenerationGrammar? Grammar { get; init; }

    public const int MaxTopAlternatives = 20;

    internal void Validate()
    {
        if (MaxTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "max_tokens must be at least 1");
        if (TopAlternatives is < 0 or > MaxTopAlternatives) throw new ArgumentOutOfRangeException(nameof(TopAlternatives), TopAlternatives, $"top alternatives must be in 0..{MaxTopAlternatives}");
        Sampling.Validate();
    }

    /// <summary>Throws when <see cref="CaptureHiddenStates"/> asks for a state the context does not expose.</summary>
    internal void ValidateFor(LlamaContext context)
    {
        Grammar?.Validate(context.Model.Vocabulary); // a grammar that does not parse is the caller's ArgumentException
        if (!CaptureHiddenStates || context.ExposesHiddenState(HiddenStateLayer)) return;
        throw new InvalidOperationException(HiddenStateLayer is int layer
            ? $"CaptureHiddenStates reads layer {layer}, which the context does not expose (ContextOptions.HiddenLayers)"
            : "CaptureHiddenStates needs a context created with FinalHiddenState = true");
    }

    /// <summary>The captured state at a batch index (final, or the input of <see cref="HiddenStateLayer"/>).</summary>
    internal ReadOnlySpan<float> CapturedState(LlamaContext context, int batchIndex) =>
        HiddenStateLayer is int layer ? context.GetLayerHiddenState(layer, batchIndex) : context.GetFinalHiddenState(batchIndex);
}

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason { EndOfGeneration, Length, Stop, ContextFull }

/// <summary>An alternative the model considered at a step.</summary>
public sealed record TokenAlternative(int TokenId, string Text, float LogProbability);

/// <summary>
/// One generated (or scored) token with its uncertainty. Statistics are NaN when TokenStatistics is off.
/// <paramref name="HasNonFiniteLogits"/>: the step's logits contained NaN or ±∞ (a broken model), so its statistics
/// are not trustworthy (see <see cref="Kernels.TokenStatistics.HasNonFiniteLogits"/>).
/// </summary>
public sealed record GeneratedToken(
    int Sequence,
    int Index,
    int TokenId,
    string Text,
    float LogProbability,
    float Entropy,
    int Rank,
    IReadOnlyList<TokenAlternative> Alternatives,
    bool HasNonFiniteLogits = false)
{
    public double Probability => Math.Exp(LogProbability);

    /// <summary>
    /// Under a grammar: log p(token) renormalised over the tokens the grammar allowed at this step (temperature 1),
    /// i.e. <see cref="LogProbability"/> − <see cref="AllowedLogMass"/>. NaN without a grammar or statistics.
    /// </summary>
    public float ConstrainedLogProbability { get; init; } = float.NaN;

    /// <summary>Under a grammar: entropy (nats) of the raw distribution renormalised over the allowed tokens.</summary>
    public float ConstrainedEntropy { get; init; } = float.NaN;

    /// <summary>
    /// Under a grammar: ln of the raw probability mass the model put on the allowed tokens (0 = the grammar removed
    /// nothing the model wanted; very negative = the grammar overrode the model). NaN without a grammar.
    /// </summary>
    public float AllowedLogMass { get; init; } = float.NaN;

    /// <summary>
    /// Tokens the grammar allowed at this step among those it checked: the tokens within 30 nats of the top logit
    /// (all of the vocabulary when it allowed none of those); 0 without a grammar.
    /// </summary>
    public int AllowedTokenCount { get; init; }
}

/// <summary>A finished sequence.</summary>
public sealed record GenerationResult(
    int Sequence,
    string Text,
    IReadOnlyList<GeneratedToken> Tokens,
    FinishReason FinishReason,
    TokenProbabilityScores Uncertainty,
    int PromptTokenCount,
    IReadOnlyList<float[]>? HiddenStates)
{
    /// <summary>
    /// Where this sample still sits in its context's KV cache (set by <see cref="Generator"/>): lets
    /// <see cref="AnswerEncoder"/> reuse its cells and captured states instead of decoding it again.
    /// </summary>
    public CachedSequence? Cache { get; init; }

    /// <summary>
    /// Under a grammar: the same scores over the constrained (renormalised) token probabilities and entropies.
    /// <see cref="Uncertainty"/> always uses the raw probabilities. Null without a grammar.
    /// </summary>
    public TokenProbabilityScores? ConstrainedUncertainty { get; init; }
}

/// <summary>A generated sequence left in its context's KV cache. Usable while <see cref="IsCurrent"/>.</summary>
/// <param name="Context">The context whose cache holds it.</param>
/// <param name="Sequence">The llama.cpp sequence id whose cells hold it.</param>
/// <param name="Version">The sequence's <see cref="LlamaContext.SequenceVersion"/> when the generation left it.</param>
/// <param name="PromptTokens">The prompt, at positions 0..P−1.</param>
/// <param name="DecodedTokens">The generated tokens that were fed back, so have cells, at positions P, P + 1, ...</param>
/// <param name="StateLayer">Which states were captured: the input of this layer, or null for the final hidden state.</param>
/// <param name="States">The states captured while decoding: [j] belongs to the token at position P − 1 + j (j = 0: the prompt's last token); null when none were.</param>
public sealed record CachedSequence(LlamaContext Context, int Sequence, long Version, int[] PromptTokens, int[] DecodedTokens, int? StateLayer, IReadOnlyList<float[]>? States)
{
    public int PromptLength => PromptTokens.Length;

    /// <summary>True while nothing has touched the sequence's cells since the generation left them.</summary>
    public bool IsCurrent => !Context.IsDisposed && Context.SequenceVersion(Sequence) == Version;
}

/// <summary>A teacher-forced answer: the model's probability of each given token.</summary>
public sealed record ScoredSequence(
    IReadOnlyList<GeneratedToken> Tokens,
    TokenProbabilityScores Uncertainty,
    int PromptTokenCount,
    IReadOnlyList<float[]>? HiddenStates);

/// <summary>
/// A zero-copy view of one decoding step of one sequence, valid only during the observer call: the logits and
/// hidden state point into llama.cpp's buffers. Probes and custom statistics hook in here.
/// </summary>
public readonly ref struct DecodeStep
{
    internal DecodeStep(LlamaContext context, int batchIndex, int sequence, int index, int tokenId, ReadOnlySpan<float> logits, in TokenStatistics statistics)
    {
        Context = context; BatchIndex = batchIndex; Sequence = sequence; Index = index; TokenId = tokenId; Logits = logits; Statistics = statistics;
    }

    public LlamaContext Context { get; }
    public int BatchIndex { get; }
    public int Sequence { get; }
    /// <summary>Index of the token within the generated (or scored) answer.</summary>
    public int Index { get; }
    public int TokenId { get; }
    public ReadOnlySpan<float> Logits { get; }
    public TokenStatistics Statistics { get; }
    /// <summary>The final hidden state at this step; empty unless the context has FinalHiddenState.</summary>
    public ReadOnlySpan<float> FinalHiddenState => Context.Options.FinalHiddenState ? Context.GetFinalHiddenState(BatchIndex) : default;
    /// <summary>The hidden state entering a layer requested in ContextOptions.HiddenLayers.</summary>
    public ReadOnlySpan<float> LayerHiddenState(int layer) => Context.GetLayerHiddenState(layer, BatchIndex);
}

public delegate void DecodeStepObserver(in DecodeStep step);
