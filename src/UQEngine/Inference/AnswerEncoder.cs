using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>
/// A sentence embedding of an answer from the generating model itself: the mean of the final hidden states at the
/// answer's token positions (the model read prompt + answer). <see cref="Ablations"/>[t] is the same for the
/// answer with token t removed (empty unless asked for; a zero vector for a one-token answer, which leaves nothing).
/// </summary>
public sealed record AnswerEmbedding(float[] Embedding, float[][] Ablations);

/// <summary>
/// Encodes answers to one prompt with the model's own final hidden states, and (for SAR's token relevance) every
/// "answer without token t" variant, sharing work through the KV cache:
/// <list type="number">
/// <item>the prompt is decoded once (sequence 0);</item>
/// <item>each answer continues it in its own sequence (prompt cells shared with llama_memory_seq_cp), all answers
/// in one batch; the answer's hidden states give its embedding;</item>
/// <item>variant t of an answer shares prompt + answer[0..t) with the answer: those cells are shared into a fresh
/// sequence (llama_memory_seq_cp over positions [0, P + t)), and only the suffix answer[t+1..) is decoded, at
/// positions P + t onwards. The suffixes of all variants of all answers go into as few batches as the batch size,
/// the free cells and the sequence count allow. Hidden states of the shared prefix are identical by causality, so
/// they are taken from step 2.</item>
/// </list>
/// Decoded tokens: P + Σ n + Σ n(n−1)/2 suffix tokens, in a handful of llama_decode calls, instead of n + 1 full
/// re-encodings of prompt + variant per answer (<see cref="EncodeNaive"/>, kept as the reference the tests and
/// benchmarks compare against). Needs a context with <see cref="ContextOptions.FinalHiddenState"/> and a unified KV
/// cache; more sequences (<see cref="ContextOptions.MaxSequences"/>) mean fewer batches. Uses and clears every
/// sequence of the context, like <see cref="Generator"/>.
/// </summary>
public sealed class AnswerEncoder : IDisposable
{
    private readonly LlamaContext _context;
    private readonly LlamaBatchBuffer _batch;
    private readonly int? _layer;

    /// <param name="context">The generating model's context.</param>
    /// <param name="layer">
    /// Null (default): the final hidden state (after the output norm; needs <see cref="ContextOptions.FinalHiddenState"/>).
    /// A layer index: the hidden state entering that layer (needs it in <see cref="ContextOptions.HiddenLayers"/>). llama.cpp
    /// reports layer inputs for every token without marking them as outputs, so no LM-head row is computed for them:
    /// on a small model with a large vocabulary that is most of the relevance pass's cost.
    /// </param>
    public AnswerEncoder(LlamaContext context, int? layer = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (layer is null && !context.Options.FinalHiddenState)
            throw new InvalidOperationException("AnswerEncoder needs a context created with ContextOptions.FinalHiddenState = true");
        if (layer is int l && !context.HiddenLayers.Contains(l))
            throw new InvalidOperationException($"AnswerEncoder reads layer {l}, which the context does not expose (ContextOptions.HiddenLayers)");
        _context = context;
        _layer = layer;
        _batch = new LlamaBatchBuffer(context.BatchSize);
    }

    public LlamaContext Context => _context;

    /// <summary>The layer whose input states are read, or null for the final hidden state.</summary>
    public int? Layer => _layer;

    /// <summary>Embeddings of <paramref name="answers"/> (token ids, no special tokens added) after <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt's tokens (with its special tokens).</param>
    /// <param name="answers">Each answer's tokens.</param>
    /// <param name="ablations">Also embed every "answer without token t" variant (SAR's token relevance).</param>
    /// <param name="cancellationToken">Stops between (or inside) decodes.</param>
    public IReadOnlyList<AnswerEmbedding> Encode(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, bool ablations, CancellationToken cancellationToken = default)
    {
        Validate(prompt, answers);
        if (ablations && !_context.Options.UnifiedKvCache)
            throw new InvalidOperationException("token ablations share prefix cells between sequences and need a unified KV cache (ContextOptions.UnifiedKvCache)");
        if (ablations && _context.MaxSequences < 2)
            throw new InvalidOperationException("token ablations need a context with at least 2 sequences (ContextOptions.MaxSequences); more make fewer batches");
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
            var sequenceOf = new int[count];
            var jobs = new List<Job>(count);
            for (int a = 0; a < count; a++)
            {
                int[] answer = answers[first + a];
                int seq = a;
                sequenceOf[a] = seq;
                if (seq != 0) _context.CopySequence(0, seq);
                states[a] = new double[answer.Length * d];
                var target = states[a];
                jobs.Add(new Job(seq, answer, 0, p, (i, h) => Copy(h, target.AsSpan(i * d, d))));
            }
            Run(jobs, cancellationToken);

            int usedCells = p;
            for (int a = 0; a < count; a++) usedCells += answers[first + a].Length;
            for (int a = 0; a < count; a++)
            {
                int[] answer = answers[first + a];
                float[] embedding = MeanRows(states[a], answer.Length, d);
                float[][] variants = [];
                if (ablations && answer.Length > 0)
                    variants = Ablate(answer, states[a], sequenceOf[a], p, count, usedCells, cancellationToken);
                results[first + a] = new AnswerEmbedding(embedding, variants);
            }
        }
        return results;
    }

    /// <summary>
    /// The same numbers the slow way: every answer and every variant re-encoded from scratch (prompt + text in one
    /// sequence, one decode each). The baseline of the tests and benchmarks.
    /// </summary>
    public IReadOnlyList<AnswerEmbedding> EncodeNaive(ReadOnlySpan<int> prompt, IReadOnlyList<int[]> answers, bool ablations, CancellationToken cancellationToken = default)
    {
        Validate(prompt, answers);
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

    /// <summary>Variant t = answer without token t; its embedding is (Σ_{i&lt;t} h_i + Σ suffix states) / (n − 1).</summary>
    private float[][] Ablate(int[] answer, double[] states, int answerSequence, int promptLength, int answersInCache, int usedCells, CancellationToken cancellationToken)
    {
        int n = answer.Length, d = _context.HiddenSize;
        var variants = new float[n][];
        if (n == 1) { variants[0] = new float[d]; return variants; }

        // Prefix sums of the answer's states: Σ_{i<t} h_i for every t.
        var prefix = new double[(n + 1) * d];
        for (int t = 0; t < n; t++)
            for (int k = 0; k < d; k++) prefix[(t + 1) * d + k] = prefix[t * d + k] + states[t * d + k];

        // The last token's variant has no suffix: only the prefix.
        var sums = new double[n][];
        sums[n - 1] = prefix.AsSpan((n - 1) * d, d).ToArray();

        // Answers sit in sequences 0..answersInCache-1; variants take the sequences after them.
        int firstFree = answersInCache;
        int freeSequences = _context.MaxSequences - firstFree;
        int cellBudget = Math.Max(1, _context.ContextSize - usedCells - 1);

        int next = 0; // the next variant t (0..n-2) to schedule
        while (next < n - 1)
        {
            var jobs = new List<Job>();
            int tokens = 0;
            while (next < n - 1 && jobs.Count < freeSequences)
            {
                int suffix = n - 1 - next;
                if (jobs.Count > 0 && tokens + suffix > cellBudget) break;
                int t = next++;
                int seq = firstFree + jobs.Count;
                _context.CopySequence(answerSequence, seq, 0, promptLength + t);
                sums[t] = prefix.AsSpan(t * d, d).ToArray();
                var target = sums[t];
                jobs.Add(new Job(seq, answer, t + 1, promptLength + t, (_, h) => Add(h, target)));
                tokens += suffix;
            }
            Run(jobs, cancellationToken);
            foreach (var job in jobs) _context.RemoveTokens(job.Sequence);
        }
        for (int t = 0; t < n; t++)
        {
            var v = new float[d];
            for (int k = 0; k < d; k++) v[k] = (float)(sums[t][k] / (n - 1));
            variants[t] = v;
        }
        return variants;
    }

    /// <summary>tokens[from..] of each job go to its sequence from position start on; every token asks for output.</summary>
    private sealed record Job(int Sequence, int[] Tokens, int From, int Start, Action<int, ReadOnlySpan<float>> OnState);

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
        if (_layer is not null) _batch.SetOutput(_batch.Count - 1, true); // one output keeps llama.cpp's output bookkeeping ordinary
        _context.Decode(_batch, cancellationToken);
        for (int b = 0; b < _batch.Count; b++)
        {
            var (job, index) = owners[b];
            job.OnState(index, _layer is int layer ? _context.GetLayerHiddenState(layer, b) : _context.GetFinalHiddenState(b));
        }
        _batch.Clear();
    }

    private void DecodePrompt(ReadOnlySpan<int> prompt, CancellationToken cancellationToken)
    {
        for (int start = 0; start < prompt.Length; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, prompt.Length - start);
            _batch.Clear();
            for (int i = 0; i < n; i++) _batch.Add(prompt[start + i], start + i, 0, wantOutput: start + i == prompt.Length - 1);
            _context.Decode(_batch, cancellationToken);
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
}
