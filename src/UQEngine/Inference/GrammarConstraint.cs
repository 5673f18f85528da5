using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// A grammar the generated text must follow, in llama.cpp's GBNF format (rules <c>name ::= ...</c>, the start rule
/// named by <paramref name="Root"/>). <c>UQEngine.Structured.JsonSchemaGrammar</c> writes one from a JSON Schema.
/// </summary>
public sealed record GenerationGrammar(string Text, string Root = "root")
{
    /// <summary>Throws an <see cref="ArgumentException"/> when llama.cpp cannot parse the grammar for this model's vocabulary.</summary>
    internal void Validate(Vocabulary vocab)
    {
        using var sampler = Create(vocab);
    }

    internal SafeLlamaSamplerHandle Create(Vocabulary vocab)
    {
        ArgumentException.ThrowIfNullOrEmpty(Text, nameof(Text));
        ArgumentException.ThrowIfNullOrEmpty(Root, nameof(Root));
        return SafeLlamaSamplerHandle.CreateGrammar(vocab.Native, Text, Root)
            ?? throw new ArgumentException($"llama.cpp could not parse the grammar (root rule '{Root}'): a syntax error, an undefined rule or left recursion; its log names the place", nameof(Text));
    }
}

/// <summary>What a grammar did at one step: the raw distribution's view of the tokens it allowed.</summary>
/// <param name="AllowedCount">Tokens the grammar allowed among those it was shown (see <see cref="GrammarConstraint.CandidateWindow"/>).</param>
/// <param name="LogSumExpAllowed">ln Σ e^{x_i} over the allowed tokens' raw logits.</param>
/// <param name="Entropy">Entropy (nats) of the raw distribution renormalised over the allowed tokens.</param>
/// <param name="BestAllowed">The allowed token with the largest raw logit (the first such; NaN never chosen).</param>
internal readonly record struct ConstrainedStep(int AllowedCount, float LogSumExpAllowed, float Entropy, int BestAllowed);

/// <summary>
/// One sequence's grammar state (llama.cpp's grammar sampler) and its candidates buffer. Each step copies the raw
/// logits of the plausible tokens into the candidates, lets the grammar set rejected ones to −∞ (llama_sampler_apply)
/// and, the same way, tokens that would make the text invalid UTF-8 (<see cref="Utf8State"/>),
/// reads the allowed set back in one pass, and picks the token among the allowed ones; the raw logits themselves are
/// never changed, so the token statistics still describe the model's own distribution.
/// </summary>
internal sealed unsafe class GrammarConstraint : IDisposable
{
    private readonly SafeLlamaSamplerHandle _grammar;
    private readonly LlamaTokenData[] _candidates;
    private readonly Vocabulary _vocab;
    // The text so far as UTF-8: a token that would make it invalid is masked like one the grammar rejects.
    private Utf8State _utf8 = Utf8State.Start;

    public GrammarConstraint(GenerationGrammar grammar, Vocabulary vocab)
    {
        _vocab = vocab;
        _grammar = grammar.Create(vocab);
        _candidates = new LlamaTokenData[vocab.Count];
    }

    /// <summary>
    /// Candidates whose raw logit is within this many nats of the largest one are checked against the grammar first:
    /// each token left out has raw probability at most e^−30 ≈ 1e−13 of the top token's, so together (even over 150k
    /// tokens) they miss under 2e−8 of the mass, and the best allowed token is always inside when any is.
    /// </summary>
    internal const float CandidateWindow = 30f;

    private int _count;

    /// <summary>
    /// Masks the logits with the grammar; the candidates keep the masked logits for <see cref="Sample"/>. The grammar
    /// costs per candidate, so it first sees only the tokens within <see cref="CandidateWindow"/> (×temperature when
    /// above 1) of the top logit, and the whole vocabulary only when it allows none of them.
    /// </summary>
    public ConstrainedStep Mask(ReadOnlySpan<float> logits, int sequence, int step, float temperature = 1f)
    {
        int n = Math.Min(logits.Length, _candidates.Length);
        float top = float.NegativeInfinity;
        for (int i = 0; i < n; i++) if (logits[i] > top) top = logits[i]; // NaN compares false: skipped
        float threshold = float.IsFinite(top) ? top - CandidateWindow * Math.Max(1f, temperature) : float.NegativeInfinity;
        var result = MaskFrom(logits, n, threshold);
        if (result.AllowedCount == 0 && threshold > float.NegativeInfinity) result = MaskFrom(logits, n, float.NegativeInfinity);
        if (result.AllowedCount == 0)
            throw new InferenceException($"the grammar allows no token the model can produce (sequence {sequence}, step {step}): the grammar and the vocabulary do not fit");
        return result;
    }

    private ConstrainedStep MaskFrom(ReadOnlySpan<float> logits, int n, float threshold)
    {
        _count = 0;
        for (int i = 0; i < n; i++)
        {
            float x = logits[i];
            if (x >= threshold || (float.IsNegativeInfinity(threshold) && !float.IsNaN(x)))
                _candidates[_count++] = new LlamaTokenData { Id = i, Logit = x, P = 0f };
        }
        fixed (LlamaTokenData* data = _candidates)
        {
            var array = new LlamaTokenDataArray { Data = data, Size = (nuint)_count, Selected = -1, Sorted = 0 };
            _grammar.Apply(ref array);
        }

        for (int i = 0; i < _count; i++)
        {
            ref var c = ref _candidates[i];
            if (!float.IsNegativeInfinity(c.Logit) && _utf8.After(_vocab.TokenBytes(c.Id)) is null) c.Logit = float.NegativeInfinity;
        }

        // Pass 1: the largest allowed logit. The grammar writes −∞ to rejected tokens; an allowed token whose raw
        // logit is −∞ carries no mass, so "allowed" here means "kept by the grammar" = not −∞ after the mask.
        int allowed = 0, best = -1;
        float max = float.NegativeInfinity;
        for (int i = 0; i < _count; i++)
        {
            float x = _candidates[i].Logit;
            if (float.IsNegativeInfinity(x) || float.IsNaN(x)) continue;
            allowed++;
            if (best < 0 || x > max) { max = x; best = _candidates[i].Id; }
        }
        if (best < 0) return default;
        if (float.IsPositiveInfinity(max))
            return new ConstrainedStep(allowed, float.PositiveInfinity, 0f, best);

        // Pass 2: S = Σ e^{x−m}, T = Σ e^{x−m}(x−m) over the allowed: ln S + m is the log-sum-exp, ln S − T/S the entropy.
        double s = 0, t = 0;
        for (int i = 0; i < _count; i++)
        {
            float x = _candidates[i].Logit;
            if (float.IsNegativeInfinity(x) || float.IsNaN(x)) continue;
            double d = x - max, e = Math.Exp(d);
            s += e;
            t += e * d;
        }
        return new ConstrainedStep(allowed, (float)(max + Math.Log(s)), (float)Math.Max(0, Math.Log(s) - t / s), best);
    }

    /// <summary>Draws from the masked candidates with the sequence's sampler chain (top-k/p, min-p, temperature, seeded draw).</summary>
    public int Sample(TokenSampler sampler)
    {
        fixed (LlamaTokenData* data = _candidates)
        {
            var array = new LlamaTokenDataArray { Data = data, Size = (nuint)_count, Selected = -1, Sorted = 0 };
            return sampler.SampleFrom(ref array);
        }
    }

    /// <summary>Advances the grammar past a chosen token. End-of-generation tokens end the sequence and are not fed to it.</summary>
    public void Accept(int token)
    {
        if (_vocab.IsEndOfGeneration(token)) return;
        _grammar.Accept(token);
        _utf8 = _utf8.After(_vocab.TokenBytes(token)) ?? Utf8State.Start;
    }

    public void Dispose() => _grammar.Dispose();
}
