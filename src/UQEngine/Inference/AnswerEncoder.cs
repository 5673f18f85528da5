using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// A sentence embedding of an answer from the generating model itself: the mean of the final hidden states at the
/// answer's token positions (the model read prompt + answer). <see cref="Ablations"/>[t] is the same for the
/// answer with token t removed (empty unless asked for; a zero vector for a one-token answer, which leaves nothing).
/// </summary>
public sealed record AnswerEmbedding(float[] Embedding, float[][] Ablations);

/// <summary>
/// Encodes answers to one prompt with the model's own hidden states, and (for SAR's token relevance) every
/// "answer without token t" variant, sharing work through the KV cache.
/// <para>
/// Answers just sampled by <see cref="Generator"/> in this context (<see cref="GenerationResult.Cache"/>, states
/// captured with <see cref="GenerationOptions.CaptureHiddenStates"/> at this encoder's layer) are not decoded again:
/// their states come from the generation, and each variant's prefix cells (prompt + answer[0..t)) are shared from the
/// sample's own sequence. Otherwise the prompt is decoded once and each answer continues it in its own sequence, all
/// answers in one batch.
/// </para>
/// <para>
/// Variant t shares prompt + answer[0..t) with the answer (llama_memory_seq_cp over positions [0, P + t)) and only
/// its suffix answer[t+1..) is decoded, at positions P + t onwards; the suffixes of all variants of all answers go
/// into as few batches as the batch size, the free sequences and the free cells allow. Hidden states of the shared
/// prefix are identical by causality, so they are the answer's own. Decoded tokens: Σ n(n−1)/2 suffix tokens (plus
/// P + Σ n when the answers are not in the cache), instead of n + 1 full re-encodings of prompt + variant per answer
/// (<see cref="EncodeNaive"/>, kept as the reference the tests and benchmarks compare against).
/// </para>
/// Needs a context with <see cref="ContextOptions.FinalHiddenState"/> (or the chosen layer in
/// <see cref="ContextOptions.HiddenLayers"/>) and a unified KV cache; more sequences
/// (<see cref="ContextOptions.MaxSequences"/>) mean fewer batches. Uses every sequence of the context other than the
/// cached answers' (clearing the cache when it has to decode the answers itself), like <see cref="Generator"/>.
/// </summary>
public sealed class AnswerEncoder : IDisposable
{
    private readonly LlamaContext _context;
    private readonly LlamaBatchBuffer _batch;
    private readonly int? _layer;
    private bool _earlyExit; // decode only as far as _layer's input, or the final state without the LM head (checked once per context and layer)

    /// <param name="context">The generating model's context.</param>
    /// <param name="layer">
    /// Null: the final hidden state (after the output norm; needs <see cref="ContextOptions.FinalHiddenState"/>).
    /// A layer index: the hidden state entering that layer (needs it in <see cref="ContextOptions.HiddenLayers"/>). llama.cpp
    /// reports layer inputs for every token without marking them as outputs, so no LM-head row is computed for them:
    /// on a small model with a large vocabulary that is most of the relevance pass's cost.
    /// </param>
    public AnswerEncoder(LlamaContext context, int? layer = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.ExposesHiddenState(layer))
            throw new InvalidOperationException(layer is int l
                ? $"AnswerEncoder reads layer {l}, which the context does not expose (ContextOptions.HiddenLayers)"
                : "AnswerEncoder needs a context created with ContextOptions.FinalHiddenState = true");
        _context = context;
        _layer = layer;
        _batch = new LlamaBatchBuffer(context.BatchSize);
    }

    public LlamaContext Context => _context;

    /// <summary>The layer whose input states are read, or null for the final hidden state.</summary>
    public int? Layer => _layer;

    /// <summary>How many distinct answers the last <see cref="Encode"/> took from the cache (not decoded again).</summary>
    public int LastReusedAnswers { get; private set; }

    /// <summary>Embeddings of <paramref name="answers"/> (token ids, no special tokens added) after <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt's tokens (with its special tokens).</param>
    /// <param name="answers">Each answer's tokens.</param>
    /// <param name="ablations">Also embed every "answer without token t" variant (SAR's token relevance).</param>
    /// <param name="cached">
    /// Optional, per answer: where it was generated (<see cref="GenerationResult.Cache"/>); used when every answer is
    /// still current in this context with states of this encoder's layer, and ignored otherwise.
    /// </param>
    /// <param name="cancellationToken">Stops between (or inside) decodes.</param>
    public IReadOnlyList<AnswerEmbedding> Encode(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, bool ablations, IReadOnlyList<CachedSequence?>? cached = null, CancellationToken cancellationToken = default)
    {
        Validate(prompt, answers);
        if (ablations && !_context.Options.UnifiedKvCache)
            throw new InvalidOperationException("token ablations share prefix cells between sequences and need a unified KV cache (ContextOptions.UnifiedKvCache)");
        if (ablations && _context.MaxSequences < 2)
            throw new InvalidOperationException("token ablations need a context with at least 2 sequences (ContextOptions.MaxSequences); more make fewer batches");
        if (cached is not null && cached.Count != answers.Count)
            throw new ArgumentException($"{cached.Count} cache entries for {answers.Count} answers", nameof(cached));

        // Identical answers (common when the model is sure of itself) are encoded once.
        var first = new Dictionary<int[], int>(TokenSequenceComparer.Instance);
        var representative = new int[answers.Count];
        var distinct = new List<int>();
        for (int a = 0; a < answers.Count; a++)
        {
            if (!first.TryGetValue(answers[a], out int r)) { r = distinct.Count; first.Add(answers[a], r); distinct.Add(a); }
            representative[a] = r;
        }
        if (distinct.Count == answers.Count) return EncodeDistinct(prompt, answers, ablations, cached, cancellationToken);
        var encoded = EncodeDistinct(prompt, [.. distinct.Select(a => answers[a])], ablations,
            cached is null ? null : [.. distinct.Select(a => cached[a])], cancellationToken);
        return [.. representative.Select(r => encoded[r])];
    }

    private IReadOnlyList<AnswerEmbedding> EncodeDistinct(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, bool ablations, IReadOnlyList<CachedSequence?>? cached, CancellationToken cancellationToken)
    {
        if (cached is not null && CanReuse(prompt, answers, cached))
        {
            LastReusedAnswers = answers.Count;
            return EncodeFromCache(prompt, answers, cached!, ablations, cancellationToken);
        }
        LastReusedAnswers = 0;
        _context.ClearCache();
        _earlyExit = CheckEarlyExit(_context.MaxSequences - 1, prompt, cancellationToken);
        int d = _context.HiddenSize;
        int p = prompt.Length;
        var results = new AnswerEmbedding[answers.Count];
        // Each answer occupies one sequence while its variants are decoded; the rest of the sequences hold variants.
        int maxSequences = _context.MaxSequences;
        int perGroup = ablations ? Math.Max(1, maxSequences / 2) : maxSequences;

        for (int first = 0; first < answers.Count; first += perGroup)
        {
            int count = Math.Min(perGroup, answers.Count - first);
            _context.ClearCache();
            DecodePrompt(prompt, cancellationToken);

            // Answer a in sequence a: answer 0 extends the prompt's sequence 0, the others share its prompt cells first.
            var states = new double[count][];
            var jobs = new List<Job>(count);
            for (int a = 0; a < count; a++)
            {
                int[] answer = answers[first + a];
                if (a != 0) _context.CopySequence(0, a);
                states[a] = new double[answer.Length * d];
                var target = states[a];
                jobs.Add(new Job(a, answer, 0, p, (i, h) => Copy(h, target.AsSpan(i * d, d))));
            }
            Run(jobs, cancellationToken);

            int usedCells = p;
            for (int a = 0; a < count; a++) usedCells += answers[first + a].Length;
            var group = new Ablation[count];
            var work = new List<SharedPrefixJob>();
            for (int a = 0; a < count; a++)
            {
                group[a] = new Ablation(answers[first + a], states[a], d);
                if (ablations) group[a].AddVariantJobs(a, p, work);
            }
            RunSharingPrefixes(work, [.. Enumerable.Range(count, maxSequences - count)], usedCells, cancellationToken);
            for (int a = 0; a < count; a++) results[first + a] = group[a].Result(ablations);
        }
        return results;
    }

    /// <summary>Every answer is current in this context, after this very prompt, with its states at this encoder's layer, in its own sequence.</summary>
    private bool CanReuse(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, IReadOnlyList<CachedSequence?> cached)
    {
        // The last tokens and the variants are decoded in sequences of their own: at least one must be free.
        if (cached.Count != answers.Count || answers.Count == 0 || answers.Count >= _context.MaxSequences) return false;
        var sequences = new HashSet<int>();
        for (int a = 0; a < answers.Count; a++)
        {
            var c = cached[a];
            if (c is null || !ReferenceEquals(c.Context, _context) || c.StateLayer != _layer || c.States is null
                || !c.IsCurrent || !sequences.Add(c.Sequence) || !prompt.SequenceEqual(c.PromptTokens)) return false;
            int[] answer = answers[a];
            int n = answer.Length, decoded = c.DecodedTokens.Length;
            int have = Math.Min(n, c.States.Count - 1); // states of answer[0..have)
            // Variants need cells of answer[0..n-1); the missing states' tokens continue from answer[0..have).
            if (n - 1 > decoded || have > decoded || have < 0) return false;
            for (int i = 0; i < Math.Min(n, decoded); i++)
                if (answer[i] != c.DecodedTokens[i]) return false;
        }
        return true;
    }

    private IReadOnlyList<AnswerEmbedding> EncodeFromCache(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, IReadOnlyList<CachedSequence?> cached, bool ablations, CancellationToken cancellationToken)
    {
        int d = _context.HiddenSize;
        int promptLength = prompt.Length;
        var answerSequences = new HashSet<int>(cached.Select(c => c!.Sequence));
        var free = Enumerable.Range(0, _context.MaxSequences).Where(s => !answerSequences.Contains(s)).ToArray();
        foreach (int s in free) _context.RemoveTokens(s); // leftovers of earlier work; cells shared with the answers stay
        _earlyExit = CheckEarlyExit(free[^1], prompt, cancellationToken);
        int usedCells = promptLength + cached.Sum(c => c!.DecodedTokens.Length);

        var work = new List<SharedPrefixJob>();
        var ablation = new Ablation[answers.Count];
        for (int a = 0; a < answers.Count; a++)
        {
            var c = cached[a]!;
            int[] answer = answers[a];
            int have = Math.Min(answer.Length, c.States!.Count - 1);
            var states = new double[answer.Length * d];
            for (int i = 0; i < have; i++) Copy(c.States[i + 1], states.AsSpan(i * d, d));
            if (have < answer.Length) // the last sampled token is never fed back: decode it (and any other missing) on the shared prefix
                work.Add(new SharedPrefixJob(c.Sequence, promptLength + have, answer, have, (i, h) => Copy(h, states.AsSpan(i * d, d))));
            ablation[a] = new Ablation(answer, states, d);
            if (ablations) ablation[a].AddVariantJobs(c.Sequence, promptLength, work);
        }
        RunSharingPrefixes(work, free, usedCells, cancellationToken);
        return [.. ablation.Select(x => x.Result(ablations))];
    }

    /// <summary>
    /// The same numbers the slow way: every answer and every variant re-encoded from scratch (prompt + text in one
    /// sequence, one decode each). The baseline of the tests and benchmarks.
    /// </summary>
    public IReadOnlyList<AnswerEmbedding> EncodeNaive(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, bool ablations, CancellationToken cancellationToken = default)
    {
        Validate(prompt, answers);
        _earlyExit = false; // the reference: every re-encoding in full
        int[] promptCopy = prompt.ToArray();
        var results = new AnswerEmbedding[answers.Count];
        for (int a = 0; a < answers.Count; a++)
        {
            int[] answer = answers[a];
            float[] embedding = EncodeOne(promptCopy, answer, cancellationToken);
            float[][] variants = [];
            if (ablations && answer.Length > 0)
            {
                variants = new float[answer.Length][];
                for (int t = 0; t < answer.Length; t++)
                    variants[t] = EncodeOne(promptCopy, [.. answer[..t], .. answer[(t + 1)..]], cancellationToken);
            }
            results[a] = new AnswerEmbedding(embedding, variants);
        }
        return results;
    }

    private float[] EncodeOne(int[] prompt, int[] answer, CancellationToken cancellationToken)
    {
        int d = _context.HiddenSize;
        _context.ClearCache();
        DecodePrompt(prompt, cancellationToken);
        var states = new double[answer.Length * d];
        Run([new Job(0, answer, 0, prompt.Length, (i, h) => Copy(h, states.AsSpan(i * d, d)))], cancellationToken);
        return MeanRows(states, answer.Length, d);
    }

    /// <summary>
    /// One answer's embedding and variants. Variant t = answer without token t; its embedding is
    /// (Σ_{i&lt;t} h_i + Σ of its suffix's states) / (n − 1). The answer's states may still be filling in (a job
    /// decoding its last token) while the variants' suffix sums accumulate, so the prefix sums are added at the end.
    /// </summary>
    private sealed class Ablation(int[] answer, double[] states, int d)
    {
        private readonly double[][] _suffixSums = new double[answer.Length][];

        /// <summary>Adds the jobs of variants 0..n−2 (variant n−1 has no suffix), sharing prefixes of <paramref name="sequence"/>.</summary>
        public void AddVariantJobs(int sequence, int promptLength, List<SharedPrefixJob> work)
        {
            int n = answer.Length;
            for (int t = 0; t < n; t++) _suffixSums[t] = new double[d];
            if (n < 2) return;
            for (int t = 0; t < n - 1; t++)
            {
                var sum = _suffixSums[t];
                work.Add(new SharedPrefixJob(sequence, promptLength + t, answer, t + 1, (_, h) => Add(h, sum)));
            }
        }

        public AnswerEmbedding Result(bool ablations)
        {
            int n = answer.Length;
            float[] embedding = MeanRows(states, n, d);
            if (!ablations || n == 0) return new AnswerEmbedding(embedding, []);
            var variants = new float[n][];
            if (n == 1) { variants[0] = new float[d]; return new AnswerEmbedding(embedding, variants); }
            var prefix = new double[d];
            for (int t = 0; t < n; t++)
            {
                var v = new float[d];
                var suffix = _suffixSums[t];
                for (int k = 0; k < d; k++) v[k] = (float)((prefix[k] + suffix[k]) / (n - 1));
                variants[t] = v;
                for (int k = 0; k < d; k++) prefix[k] += states[t * d + k];
            }
            return new AnswerEmbedding(embedding, variants);
        }
    }

    /// <summary>tokens[from..] of each job go to its sequence from position start on; every token asks for output.</summary>
    private sealed record Job(int Sequence, int[] Tokens, int From, int Start, Action<int, ReadOnlySpan<float>> OnState);

    /// <summary>Tokens[From..] continue the first <paramref name="PrefixCells"/> positions of sequence Source (shared, not decoded again).</summary>
    private sealed record SharedPrefixJob(int Source, int PrefixCells, int[] Tokens, int From, Action<int, ReadOnlySpan<float>> OnState);

    /// <summary>
    /// Runs shared-prefix jobs in rounds: each round gives as many jobs as there are free sequences (and free cells)
    /// their own sequence holding the source's prefix cells, decodes all their tokens in as few batches as the batch
    /// size allows, then frees those sequences.
    /// </summary>
    private void RunSharingPrefixes(List<SharedPrefixJob> work, int[] freeSequences, int usedCells, CancellationToken cancellationToken)
    {
        if (work.Count == 0) return;
        if (freeSequences.Length == 0) throw new InvalidOperationException("no free sequence for the shared-prefix jobs (ContextOptions.MaxSequences)");
        int cellBudget = Math.Max(1, _context.ContextSize - usedCells - 1);
        int next = 0;
        while (next < work.Count)
        {
            var jobs = new List<Job>();
            int tokens = 0;
            while (next < work.Count && jobs.Count < freeSequences.Length)
            {
                var w = work[next];
                int length = w.Tokens.Length - w.From;
                if (jobs.Count > 0 && tokens + length > cellBudget) break;
                int seq = freeSequences[jobs.Count];
                _context.CopySequence(w.Source, seq, 0, w.PrefixCells);
                jobs.Add(new Job(seq, w.Tokens, w.From, w.PrefixCells, w.OnState));
                tokens += length;
                next++;
            }
            Run(jobs, cancellationToken);
            foreach (var job in jobs) _context.RemoveTokens(job.Sequence);
        }
    }

    /// <summary>Feeds the jobs' tokens through as few decodes as the batch size allows; hands each hidden state to its job.</summary>
    private void Run(IReadOnlyList<Job> jobs, CancellationToken cancellationToken)
    {
        var owners = new (Job Job, int Index)[_batch.Capacity];
        _batch.Clear();
        foreach (var job in jobs)
        {
            for (int i = job.From; i < job.Tokens.Length; i++)
            {
                if (_batch.Count == _batch.Capacity) Flush(owners, cancellationToken);
                owners[_batch.Count] = (job, i);
                _batch.Add(job.Tokens[i], job.Start + (i - job.From), job.Sequence, wantOutput: _layer is null);
            }
        }
        if (_batch.Count > 0) Flush(owners, cancellationToken);
    }

    private void Flush((Job Job, int Index)[] owners, CancellationToken cancellationToken)
    {
        // Layer inputs are reported for every token, outputs or not: no output row, so no LM-head product at all;
        // with early exit not even the layers from _layer on.
        Decode(cancellationToken);
        for (int b = 0; b < _batch.Count; b++)
        {
            var (job, index) = owners[b];
            job.OnState(index, _layer is int layer ? _context.GetLayerHiddenState(layer, b) : _context.GetFinalHiddenState(b));
        }
        _batch.Clear();
    }

    private void Decode(CancellationToken cancellationToken)
    {
        if (!_earlyExit) _context.Decode(_batch, cancellationToken);
        else if (_layer is int layer) _context.DecodeThroughLayer(_batch, layer, cancellationToken);
        else _context.DecodeSkippingLogits(_batch, cancellationToken);
    }

    /// <summary>
    /// Whether this context can stop its graph at the input of this encoder's layer (<see cref="LlamaContext.DecodeThroughLayer"/>),
    /// or, reading final states, before the LM head (<see cref="LlamaContext.DecodeSkippingLogits"/>):
    /// once per context and layer, a few prompt tokens are decoded in <paramref name="scratch"/> both ways and their
    /// states compared; a graph that does not stop there, or gives other numbers, keeps full decodes. Early exit is
    /// safe here because every cell this encoder writes is discarded, or only ever attended to by tokens it decodes
    /// the same way.
    /// </summary>
    private bool CheckEarlyExit(int scratch, ReadOnlySpan<int> probe, CancellationToken cancellationToken)
    {
        if (_layer == 0 || probe.IsEmpty || (_layer is null && !_context.Options.EarlyExit)) return false;
        // The final state is checked under the layer count (LlamaContext.EarlyExitChecks).
        int layer = _layer ?? _context.Model.Facts.LayerCount;
        if (_context.EarlyExitChecks.TryGetValue(layer, out bool known)) return known;
        int d = _context.HiddenSize, m = Math.Min(8, Math.Min(probe.Length, _batch.Capacity));
        ReadOnlySpan<float> State(int i) => _layer is null ? _context.GetFinalHiddenState(i) : _context.GetLayerHiddenState(layer, i);
        _context.RemoveTokens(scratch);
        _batch.Clear();
        for (int i = 0; i < m; i++) _batch.Add(probe[i], i, scratch, wantOutput: _layer is null);
        _context.Decode(_batch, cancellationToken);
        var full = new float[m * d];
        for (int i = 0; i < m; i++) State(i).CopyTo(full.AsSpan(i * d, d));
        _context.RemoveTokens(scratch);
        bool works = _layer is null ? _context.DecodeSkippingLogits(_batch, cancellationToken) : _context.DecodeThroughLayer(_batch, layer, cancellationToken);
        for (int i = 0; works && i < m; i++)
        {
            var early = State(i);
            for (int k = 0; k < d; k++)
                if (!(Math.Abs(early[k] - full[i * d + k]) <= 1e-5f * (1 + Math.Abs(full[i * d + k])))) { works = false; break; }
        }
        _context.RemoveTokens(scratch);
        _batch.Clear();
        _context.EarlyExitChecks[layer] = works;
        return works;
    }

    private void DecodePrompt(ReadOnlySpan<int> prompt, CancellationToken cancellationToken)
    {
        for (int start = 0; start < prompt.Length; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, prompt.Length - start);
            _batch.Clear();
            for (int i = 0; i < n; i++) _batch.Add(prompt[start + i], start + i, 0, wantOutput: _layer is null && start + i == prompt.Length - 1);
            Decode(cancellationToken);
        }
        _batch.Clear();
    }

    private void Validate(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        if (prompt.IsEmpty) throw new ArgumentException("the prompt is empty", nameof(prompt));
        var vocab = _context.Model.Vocabulary;
        foreach (int t in prompt)
            if (!vocab.IsValid(t)) throw new ArgumentException($"prompt token {t} is outside the vocabulary (0..{vocab.Count - 1})", nameof(prompt));
        for (int a = 0; a < answers.Count; a++)
        {
            ArgumentNullException.ThrowIfNull(answers[a], nameof(answers));
            foreach (int t in answers[a])
                if (!vocab.IsValid(t)) throw new ArgumentException($"answer {a} has token {t}, outside the vocabulary (0..{vocab.Count - 1})", nameof(answers));
            if (prompt.Length + answers[a].Length > _context.ContextSize)
                throw new InferenceException($"prompt + answer {a} have {prompt.Length + answers[a].Length} tokens but the context holds {_context.ContextSize}");
        }
    }

    private static void Copy(ReadOnlySpan<float> from, Span<double> to)
    {
        for (int k = 0; k < from.Length; k++) to[k] = from[k];
    }

    private static void Add(ReadOnlySpan<float> from, double[] to)
    {
        for (int k = 0; k < from.Length; k++) to[k] += from[k];
    }

    private static float[] MeanRows(double[] rows, int count, int d)
    {
        var mean = new float[d];
        if (count == 0) return mean;
        var sum = new double[d];
        for (int r = 0; r < count; r++)
            for (int k = 0; k < d; k++) sum[k] += rows[r * d + k];
        for (int k = 0; k < d; k++) mean[k] = (float)(sum[k] / count);
        return mean;
    }

    public void Dispose() => _batch.Dispose();

    private sealed class TokenSequenceComparer : IEqualityComparer<int[]>
    {
        public static readonly TokenSequenceComparer Instance = new();
        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(int[] tokens)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()));
            return hash.ToHashCode();
        }
    }
}
