using System.Text;
using LLama.Native;
using LLama.Sampling;
using UQEngine.Inference;
using UQEngine.Kernels;
using UQEngine.Uncertainty;

namespace UQEngine.LLamaSharp;

/// <summary>
/// A LLamaSharp <see cref="ISamplingPipeline"/> decorator that records the uncertainty of every token it samples:
/// the inner pipeline picks the token, then UQEngine's fused kernel reads the same step's logits in place
/// (<see cref="SafeLLamaContextHandle.GetLogitsIth"/>, a span over llama.cpp's buffer, no copy) and gives the
/// token's probability, full-vocabulary entropy, rank and top alternatives; the sequence scores accumulate as in
/// UQEngine's own generator. Works wherever LLamaSharp takes a pipeline: <c>InferenceParams.SamplingPipeline</c> of
/// StatelessExecutor / InteractiveExecutor / InstructExecutor (streaming included: <see cref="TokenSampled"/> fires
/// before the executor yields the token's text), and <c>Conversation.Sample(pipeline)</c> of BatchedExecutor.
/// </summary>
/// <remarks>
/// The statistics are those of the raw model distribution (temperature 1, no top-k/top-p/penalties), which is what
/// UQEngine scores everywhere; the inner pipeline's settings only decide which token is chosen. The logits are read
/// after the inner pipeline has sampled, because the kernel needs the chosen token for its log-probability and rank
/// in the same pass; LLamaSharp 0.30.0's pipelines (Default, Greedy) sample through llama.cpp's sampler chain, which
/// copies the logits into its own candidate array and leaves the context's logits untouched. A custom pipeline that
/// edits the logits buffer in place would make the recorded values those of the edited distribution.
/// One pipeline records one sequence (it is not thread-safe, like LLamaSharp's own); <see cref="Clear"/> starts a new
/// recording, <see cref="Reset"/> only forwards to the inner pipeline (executors call it at times of their choosing).
/// </remarks>
public sealed class UncertaintySamplingPipeline : ISamplingPipeline
{
    private readonly bool _ownsInner;
    private readonly List<GeneratedToken> _tokens = [];
    private readonly TopToken[] _top;
    private readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();
    private TokenProbabilityAccumulator _scores;
    private int _lastTokenId = -1;

    /// <param name="inner">The pipeline that chooses tokens (e.g. <see cref="DefaultSamplingPipeline"/> or <see cref="GreedySamplingPipeline"/>).</param>
    /// <param name="topAlternatives">Most likely alternatives recorded per token (0..20), as OpenAI's top_logprobs.</param>
    /// <param name="sequence">The sequence number written into each <see cref="GeneratedToken"/> (sample index for K samples).</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this pipeline.</param>
    public UncertaintySamplingPipeline(ISamplingPipeline inner, int topAlternatives = 0, int sequence = 0, bool ownsInner = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (topAlternatives is < 0 or > GenerationOptions.MaxTopAlternatives)
            throw new ArgumentOutOfRangeException(nameof(topAlternatives), topAlternatives, $"top alternatives must be in 0..{GenerationOptions.MaxTopAlternatives}");
        Inner = inner;
        _ownsInner = ownsInner;
        _top = new TopToken[topAlternatives];
        Sequence = sequence;
    }

    /// <summary>The pipeline that chooses the tokens.</summary>
    public ISamplingPipeline Inner { get; }

    /// <summary>The sequence number the recorded tokens carry.</summary>
    public int Sequence { get; }

    /// <summary>Every sampled token since construction or <see cref="Clear"/>, an end-of-generation token included.</summary>
    public IReadOnlyList<GeneratedToken> Tokens => _tokens;

    /// <summary>Sequence scores over <see cref="Tokens"/> (MSP, perplexity, mean/max entropy, min token probability).</summary>
    public TokenProbabilityScores Scores => _scores.Result;

    /// <summary>The id of the last sampled token, or −1 before the first.</summary>
    public int LastTokenId => _lastTokenId;

    /// <summary>Raised after each token is recorded, on the decoding thread (before the executor yields its text).</summary>
    public event Action<GeneratedToken>? TokenSampled;

    /// <summary>Forgets the recording (tokens, scores, partial UTF-8 text) to start a new sequence; the inner pipeline is untouched.</summary>
    public void Clear()
    {
        _tokens.Clear();
        _scores = default;
        _utf8.Reset();
        _lastTokenId = -1;
    }

    /// <inheritdoc />
    public LLamaToken Sample(SafeLLamaContextHandle ctx, int index)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        LLamaToken token = Inner.Sample(ctx, index);
        Record(ctx, index, token);
        return token;
    }

    /// <inheritdoc />
    public void Apply(SafeLLamaContextHandle ctx, LLamaTokenDataArray data) => Inner.Apply(ctx, data);

    /// <inheritdoc />
    public void Reset() => Inner.Reset();

    /// <inheritdoc />
    public void Accept(LLamaToken token) => Inner.Accept(token);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsInner) Inner.Dispose();
    }

    private void Record(SafeLLamaContextHandle ctx, int index, LLamaToken token)
    {
        ReadOnlySpan<float> logits = ctx.GetLogitsIth(index);
        int id = (int)token;
        if ((uint)id >= (uint)logits.Length)
            throw new InvalidOperationException($"the inner pipeline sampled token {id}, outside the vocabulary of {logits.Length} logits");
        var statistics = TokenStatisticsKernel.Compute(logits, id, _top);
        _scores.Add(statistics);
        TokenAlternative[] alternatives = _top.Length == 0 ? [] : new TokenAlternative[Math.Min(statistics.TopCount, _top.Length)];
        for (int i = 0; i < alternatives.Length; i++)
            alternatives[i] = new TokenAlternative(_top[i].TokenId, TokenText.Decode(ctx, _top[i].TokenId, null), _top[i].LogProbability);
        // One stateful UTF-8 decoder per sequence: a character split over byte tokens goes to the token completing it.
        // End-of-generation tokens are scored (stopping is a decision too) but are not part of the text.
        string text = token.IsEndOfGeneration(ctx.Vocab) ? "" : TokenText.Decode(ctx, id, _utf8);
        var generated = new GeneratedToken(Sequence, _tokens.Count, id, text, statistics.ChosenLogProbability, statistics.Entropy, statistics.ChosenRank, alternatives);
        _tokens.Add(generated);
        _lastTokenId = id;
        TokenSampled?.Invoke(generated);
    }
}
