using System.Runtime.CompilerServices;
using System.Threading.Channels;
using UQEngine.Kernels;
using UQEngine.Native;
using UQEngine.Uncertainty;

namespace UQEngine.Inference;

/// <summary>
/// The decoding loop. Per step: one llama_decode for all live sequences, then for each sequence the sampler
/// picks a token and the fused kernel reads the same logits in place (no copy) for its statistics, which feed the
/// sequence's running TPU scores. Several sequences share the prompt's KV cache (evaluated once, then shared
/// with llama_memory_seq_cp). Uses sequences 0..count-1 of its context; one Generator per context at a time.
/// The hidden state reported at step t is the one the distribution over token t was computed from.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly LlamaContext _context;
    private readonly LlamaBatchBuffer _batch;
    private readonly TopToken[] _top = new TopToken[GenerationOptions.MaxTopAlternatives];

    public Generator(LlamaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Model.ThrowIfNoLogits("generate text");
        _context = context;
        _batch = new LlamaBatchBuffer(Math.Max(context.BatchSize, context.MaxSequences));
    }

    public LlamaContext Context => _context;

    /// <summary>Tokenizes a prompt the way <see cref="Generate(string, GenerationOptions?, CancellationToken)"/> does.</summary>
    public int[] TokenizePrompt(string prompt, GenerationOptions options) =>
        _context.Model.Vocabulary.Tokenize(prompt, options.AddSpecialTokens, options.ParseSpecialTokens);

    /// <summary>Generates one continuation of a text prompt.</summary>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        return Generate(TokenizePrompt(prompt, options), 1, options, null, cancellationToken)[0];
    }

    /// <summary>Generates <paramref name="count"/> samples of one prompt, decoded together in one batch per step.</summary>
    public IReadOnlyList<GenerationResult> Sample(string prompt, int count, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        return Generate(TokenizePrompt(prompt, options), count, options, null, cancellationToken);
    }

    /// <summary>Streams the tokens of one continuation as they are decoded (decoding runs on a worker thread).</summary>
    public async IAsyncEnumerable<GeneratedToken> StreamAsync(string prompt, GenerationOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        int[] tokens = TokenizePrompt(prompt, options);
        var channel = Channel.CreateBounded<GeneratedToken>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(() =>
        {
            try { Generate(tokens, 1, options, t => channel.Writer.WriteAsync(t, stop.Token).AsTask().GetAwaiter().GetResult(), stop.Token); channel.Writer.Complete(); }
            catch (Exception e) { channel.Writer.Complete(e); }
        }, CancellationToken.None);
        try
        {
            await foreach (var token in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return token;
        }
        finally
        {
            stop.Cancel(); // the consumer stopped early or finished: release the decoder
            try { await producer.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>
    /// The core loop: <paramref name="count"/> sequences continue one prompt; <paramref name="onToken"/> sees each
    /// token as it is produced (on this thread).
    /// </summary>
    public IReadOnlyList<GenerationResult> Generate(ReadOnlySpan<int> promptTokens, int count, GenerationOptions options, Action<GeneratedToken>? onToken, CancellationToken cancellationToken)
    {
        options.Validate();
        if (count < 1 || count > _context.MaxSequences)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"this context decodes at most {_context.MaxSequences} sequence(s) at once (ContextOptions.MaxSequences)");
        if (promptTokens.IsEmpty) throw new ArgumentException("the prompt is empty", nameof(promptTokens));
        options.ValidateFor(_context);
        if (promptTokens.Length >= _context.ContextSize)
            throw new InferenceException($"the prompt has {promptTokens.Length} tokens but the context holds {_context.ContextSize}; shorten it or raise the context size.");
        var vocab = _context.Model.Vocabulary;
        foreach (int t in promptTokens)
            if (!vocab.IsValid(t)) throw new ArgumentException($"prompt token {t} is outside the vocabulary (0..{vocab.Count - 1})", nameof(promptTokens));

        ReleaseAllSequences();
        int lastIndex = EvaluatePrompt(promptTokens, cancellationToken);
        for (int s = 1; s < count; s++) _context.CopySequence(0, s);

        var seqs = new DecodingSequence[count];
        for (int s = 0; s < count; s++)
            seqs[s] = new DecodingSequence(s, s, vocab, options, promptTokens.Length, lastIndex);
        try
        {
            int live = count;
            while (live > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var seq in seqs)
                {
                    if (seq.Finished is not null) continue;
                    seq.Step(_context, _top, onToken);
                    if (seq.Finished is not null) live--;
                }
                if (live == 0) break;
                _batch.Clear();
                foreach (var seq in seqs)
                    if (seq.Finished is null) seq.BatchIndex = _batch.Add(seq.PendingToken, seq.Position, seq.Slot, wantOutput: true);
                if (!_context.TryDecode(_batch, cancellationToken))
                {
                    foreach (var seq in seqs) seq.Finished ??= FinishReason.ContextFull;
                    break;
                }
                foreach (var seq in seqs) if (seq.Finished is null) seq.Position++;
            }
            int promptLength = promptTokens.Length;
            int[] prompt = promptTokens.ToArray(); // one copy shared by the samples' cache entries
            return [.. seqs.Select(s => s.ToResult(promptLength, leftInCache: _context, prompt))];
        }
        finally
        {
            foreach (var seq in seqs) seq.Dispose();
        }
    }

    /// <summary>
    /// Decodes <paramref name="tokens"/> into sequence 0 at positions 0.. after freeing every sequence, with no output
    /// read: the cells a continuation (e.g. <see cref="LoraQuery"/>) then builds on.
    /// </summary>
    public void Prefill(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        if (tokens.IsEmpty) throw new ArgumentException("nothing to prefill", nameof(tokens));
        if (tokens.Length >= _context.ContextSize)
            throw new InferenceException($"{tokens.Length} tokens do not fit the context of {_context.ContextSize}");
        var vocab = _context.Model.Vocabulary;
        foreach (int t in tokens)
            if (!vocab.IsValid(t)) throw new ArgumentException($"token {t} is outside the vocabulary (0..{vocab.Count - 1})", nameof(tokens));
        ReleaseAllSequences();
        EvaluatePrompt(tokens, cancellationToken);
    }

    /// <summary>
    /// Frees every sequence's cache cells, not only the ones this call uses: samples left by an earlier call with a
    /// larger count would otherwise keep occupying a unified KV cache.
    /// </summary>
    private void ReleaseAllSequences()
    {
        for (int s = 0; s < _context.MaxSequences; s++) _context.RemoveTokens(s);
    }

    /// <summary>Decodes the prompt in chunks of the batch size; returns the batch index of its last token's output.</summary>
    private int EvaluatePrompt(ReadOnlySpan<int> prompt, CancellationToken cancellationToken)
    {
        for (int start = 0; start < prompt.Length; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, prompt.Length - start);
            _batch.Clear();
            for (int i = 0; i < n; i++)
                _batch.Add(prompt[start + i], start + i, 0, wantOutput: start + i == prompt.Length - 1);
            _context.Decode(_batch, cancellationToken);
        }
        return _batch.Count - 1;
    }

    /// <summary>
    /// Teacher-forced scoring: the model reads prompt + answer in one pass and reports the probability of each
    /// answer token. The answer is tokenized without special tokens and appended to the prompt's tokens.
    /// </summary>
    public ScoredSequence Score(string prompt, string answer, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        var vocab = _context.Model.Vocabulary;
        return Score(TokenizePrompt(prompt, options), vocab.Tokenize(answer, addSpecial: false, parseSpecial: false), options, cancellationToken);
    }

    public ScoredSequence Score(ReadOnlySpan<int> promptTokens, ReadOnlySpan<int> answerTokens, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (promptTokens.IsEmpty) throw new ArgumentException("the prompt is empty", nameof(promptTokens));
        if (answerTokens.IsEmpty) throw new ArgumentException("the answer is empty", nameof(answerTokens));
        if (options.CaptureHiddenStates && (options.HiddenStateLayer is not null || !_context.Options.FinalHiddenState))
            throw new InvalidOperationException("Score captures final hidden states only, and needs a context created with FinalHiddenState = true");
        int total = promptTokens.Length + answerTokens.Length;
        if (total > _context.ContextSize)
            throw new InferenceException($"prompt + answer have {total} tokens but the context holds {_context.ContextSize}");
        var vocab = _context.Model.Vocabulary;
        int[] all = [.. promptTokens, .. answerTokens];
        foreach (int t in all)
            if (!vocab.IsValid(t)) throw new ArgumentException($"token {t} is outside the vocabulary (0..{vocab.Count - 1})");

        ReleaseAllSequences();
        var tokens = new List<GeneratedToken>(answerTokens.Length);
        var hidden = options.CaptureHiddenStates ? new List<float[]>(answerTokens.Length) : null;
        var scores = new TokenProbabilityAccumulator();
        var decoder = new TokenTextDecoder(vocab);
        int firstOutput = promptTokens.Length - 1; // the position whose logits predict answer[0]
        Span<TopToken> top = _top.AsSpan(0, options.TopAlternatives);

        for (int start = 0; start < total - 1; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, total - 1 - start); // the last answer token predicts nothing we score
            _batch.Clear();
            for (int i = 0; i < n; i++) _batch.Add(all[start + i], start + i, 0, wantOutput: start + i >= firstOutput);
            _context.Decode(_batch, cancellationToken);
            for (int i = Math.Max(0, firstOutput - start); i < n; i++)
            {
                int answerIndex = start + i - firstOutput;
                int chosen = answerTokens[answerIndex];
                ReadOnlySpan<float> logits = _context.GetLogits(i);
                var stats = TokenStatisticsKernel.Compute(logits, chosen, top);
                scores.Add(stats);
                options.OnStep?.Invoke(new DecodeStep(_context, i, 0, answerIndex, chosen, logits, stats));
                hidden?.Add(_context.GetFinalHiddenState(i).ToArray());
                tokens.Add(DecodingSequence.MakeToken(0, answerIndex, chosen, decoder.Append(chosen), true, stats, top, vocab));
            }
        }
        return new ScoredSequence(tokens, scores.Result, promptTokens.Length, hidden);
    }

    public void Dispose() => _batch.Dispose();
}
