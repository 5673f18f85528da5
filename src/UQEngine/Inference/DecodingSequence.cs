using System.Numerics.Tensors;
using System.Text;
using UQEngine.Kernels;
using UQEngine.Uncertainty;

namespace UQEngine.Inference;

/// <summary>
/// One sequence being decoded: its sampler, position, text and running scores, and the per-step work (pick a token
/// from the logits of the last decode, score it, decide whether the sequence ends). Shared by <see cref="Generator"/>
/// (the samples of one prompt) and <see cref="ContinuousBatcher"/> (the samples of many requests at once), so both
/// produce the same tokens for the same logits.
/// </summary>
internal sealed class DecodingSequence : IDisposable
{
    private readonly Vocabulary _vocab;
    private readonly GenerationOptions _options;
    private TokenProbabilityAccumulator _scores;
    private TokenProbabilityAccumulator _constrainedScores;
    private readonly GrammarConstraint? _grammar;

    // index: the sample's index within its request (reported in results, offsets the sampler's seed);
    // slot: the llama.cpp sequence id whose KV cells hold this sample.
    public DecodingSequence(int index, int slot, Vocabulary vocab, GenerationOptions options, int position, int batchIndex)
    {
        Index = index;
        Slot = slot;
        _vocab = vocab;
        _options = options;
        Sampler = options.Sampling.IsGreedy ? null : new TokenSampler(options.Sampling, (uint)index);
        Position = position;
        BatchIndex = batchIndex;
        Text = new TokenTextDecoder(vocab);
        _grammar = options.Grammar is null ? null : new GrammarConstraint(options.Grammar, vocab);
    }

    public int Index { get; }
    public int Slot { get; }
    public TokenSampler? Sampler { get; }
    /// <summary>Position the pending token will take in the KV cache.</summary>
    public int Position { get; set; }
    /// <summary>Where this sequence's logits are in the last decoded batch.</summary>
    public int BatchIndex { get; set; }
    public int PendingToken { get; private set; }
    public FinishReason? Finished { get; set; }
    public List<GeneratedToken> Tokens { get; } = [];
    public List<float[]> HiddenStates { get; } = [];
    private StringBuilder Builder { get; } = new();
    private TokenTextDecoder Text { get; }

    /// <summary>Chooses the next token from the logits at <see cref="BatchIndex"/>, scores it, and decides whether the sequence ends.</summary>
    public void Step(LlamaContext context, Span<TopToken> topScratch, Action<GeneratedToken>? onToken)
    {
        ReadOnlySpan<float> logits = context.GetLogits(BatchIndex);
        int token;
        ConstrainedStep constrained = default;
        if (_grammar is not null)
        {
            if (Sampler is not null && !float.IsFinite(TensorPrimitives.Max(logits)))
                throw new InferenceException($"the model produced non-finite logits (sequence {Index}, step {Tokens.Count}); cannot sample from them.");
            constrained = _grammar.Mask(logits, Index, Tokens.Count, _options.Sampling.Temperature);
            token = Sampler is null ? constrained.BestAllowed : _grammar.Sample(Sampler);
            _grammar.Accept(token);
        }
        else if (Sampler is null)
        {
            // The kernel's NaN rule: NaN is never picked, and all-NaN logits leave nothing to pick.
            token = TokenStatisticsKernel.GreedyToken(logits);
            if (token < 0)
                throw new InferenceException($"the model produced only NaN logits (sequence {Index}, step {Tokens.Count}); there is no greedy token.");
        }
        else
        {
            // llama.cpp's sampler chain asserts (aborting the process) when no candidate survives, which NaN or
            // infinite logits cause; one max pass at memory speed turns that into an exception.
            if (!float.IsFinite(TensorPrimitives.Max(logits)))
                throw new InferenceException($"the model produced non-finite logits (sequence {Index}, step {Tokens.Count}); cannot sample from them.");
            token = Sampler.Sample(context, BatchIndex);
        }

        TokenStatistics stats = default;
        Span<TopToken> top = topScratch[.._options.TopAlternatives];
        if (_options.TokenStatistics)
        {
            stats = TokenStatisticsKernel.Compute(logits, token, top);
            _scores.Add(stats);
            if (_grammar is not null) _constrainedScores.Add(stats.ChosenLogProbability - (constrained.LogSumExpAllowed - stats.LogSumExp), constrained.Entropy);
        }
        _options.OnStep?.Invoke(new DecodeStep(context, BatchIndex, Index, Tokens.Count, token, logits, stats));
        if (_options.CaptureHiddenStates) HiddenStates.Add(_options.CapturedState(context, BatchIndex).ToArray());

        if (_vocab.IsEndOfGeneration(token)) { Finished = FinishReason.EndOfGeneration; return; }

        string piece = Text.Append(token);
        var record = MakeToken(Index, Tokens.Count, token, piece, _options.TokenStatistics, stats, top, _vocab);
        if (_grammar is not null && _options.TokenStatistics)
        {
            float allowedLogMass = constrained.LogSumExpAllowed - stats.LogSumExp;
            record = record with
            {
                AllowedLogMass = allowedLogMass,
                ConstrainedLogProbability = stats.ChosenLogProbability - allowedLogMass,
                ConstrainedEntropy = constrained.Entropy,
                AllowedTokenCount = constrained.AllowedCount,
            };
        }
        else if (_grammar is not null) record = record with { AllowedTokenCount = constrained.AllowedCount };
        Tokens.Add(record);
        Builder.Append(piece);
        onToken?.Invoke(record);
        PendingToken = token;

        if (_options.Stop.Count > 0 && TryCutAtStop(_options.Stop, piece.Length)) Finished = FinishReason.Stop;
        else if (Tokens.Count >= _options.MaxTokens) Finished = FinishReason.Length;
        else if (Position + 1 >= context.ContextSize) Finished = FinishReason.ContextFull;
    }

    internal static GeneratedToken MakeToken(int sequence, int index, int token, string text, bool haveStats, in TokenStatistics stats, ReadOnlySpan<TopToken> top, Vocabulary vocab)
    {
        TokenAlternative[] alternatives = [];
        int count = Math.Min(top.Length, stats.TopCount); // a vocabulary smaller than k leaves empty slots
        if (haveStats && count > 0)
        {
            alternatives = new TokenAlternative[count];
            for (int i = 0; i < count; i++) alternatives[i] = new TokenAlternative(top[i].TokenId, vocab.TokenText(top[i].TokenId), top[i].LogProbability);
        }
        return haveStats
            ? new GeneratedToken(sequence, index, token, text, stats.ChosenLogProbability, stats.Entropy, stats.ChosenRank, alternatives, stats.HasNonFiniteLogits)
            : new GeneratedToken(sequence, index, token, text, float.NaN, float.NaN, -1, alternatives);
    }

    /// <summary>Looks for a stop string in the text's tail (only where the new piece could have completed one).</summary>
    private bool TryCutAtStop(IReadOnlyList<string> stops, int newChars)
    {
        foreach (string stop in stops)
        {
            if (stop.Length == 0) continue;
            int from = Math.Max(0, Builder.Length - newChars - stop.Length + 1);
            int at = Builder.ToString(from, Builder.Length - from).IndexOf(stop, StringComparison.Ordinal);
            if (at < 0) continue;
            Builder.Length = from + at;
            return true;
        }
        return false;
    }

    public GenerationResult ToResult(int promptTokens, LlamaContext? leftInCache = null, int[]? prompt = null)
    {
        Builder.Append(Text.Flush());
        var states = HiddenStates is { Count: > 0 } ? HiddenStates : null;
        var result = new GenerationResult(Index, Builder.ToString(), Tokens, Finished ?? FinishReason.Length, _scores.Result, promptTokens, states)
        {
            ConstrainedUncertainty = _grammar is not null && _options.TokenStatistics ? _constrainedScores.Result : null,
        };
        if (leftInCache is null || prompt is null) return result;
        // Position counts the cells written: the prompt, then every token fed back (not the last one sampled).
        int[] decoded = [.. Tokens.Take(Math.Max(0, Position - promptTokens)).Select(t => t.TokenId)];
        return result with
        {
            Cache = new CachedSequence(leftInCache, Slot, leftInCache.SequenceVersion(Slot), prompt, decoded,
                _options.CaptureHiddenStates ? _options.HiddenStateLayer : null, states),
        };
    }

    public void Dispose()
    {
        Sampler?.Dispose();
        _grammar?.Dispose();
    }
}
