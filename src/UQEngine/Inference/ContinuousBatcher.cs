using System.Threading.Channels;
using UQEngine.Kernels;
using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>How a <see cref="ContinuousBatcher"/> admits and schedules work.</summary>
public sealed record BatcherOptions
{
    /// <summary>Requests that may wait for sequences or KV room; <see cref="ContinuousBatcher.TrySubmit"/> refuses one more.</summary>
    public int QueueCapacity { get; init; } = 16;

    /// <summary>
    /// Most prompt tokens put into one step while other sequences are generating: a long prompt is read in chunks so
    /// running sequences keep producing a token per step instead of waiting for the whole prompt. With nothing else
    /// running a prompt is read in batches of the context's batch size.
    /// </summary>
    public int PrefillChunk { get; init; } = 64;

    /// <summary>
    /// Called on the decoding thread after each llama_decode with the number of sequences that got a token in it
    /// (0: a step that only read prompts); for telemetry, so keep it short.
    /// </summary>
    public Action<int>? OnBatchDecoded { get; init; }

    internal void Validate()
    {
        if (QueueCapacity < 1) throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, "the queue capacity must be at least 1");
        if (PrefillChunk < 1) throw new ArgumentOutOfRangeException(nameof(PrefillChunk), PrefillChunk, "the prefill chunk must be at least 1 token");
    }
}

/// <summary>One request for a <see cref="ContinuousBatcher"/>: a tokenized prompt and <see cref="Count"/> samples of it.</summary>
public sealed class BatchRequest
{
    private readonly TaskCompletionSource<IReadOnlyList<GenerationResult>> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="promptTokens">The prompt (copied).</param>
    /// <param name="count">Samples of the prompt; each is a sequence of its own, seeded with Seed + its index.</param>
    /// <param name="options">Per-request sampling, stops, limits and statistics.</param>
    /// <param name="onToken">Sees each token as it is produced, on the batcher's thread: keep it short.</param>
    /// <param name="cancellationToken">Cancelling frees the request's sequences at the next step.</param>
    public BatchRequest(ReadOnlySpan<int> promptTokens, int count, GenerationOptions options, Action<GeneratedToken>? onToken = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        PromptTokens = promptTokens.ToArray();
        Count = count;
        Options = options;
        OnToken = onToken;
        CancellationToken = cancellationToken;
    }

    public IReadOnlyList<int> PromptTokens { get; }
    public int Count { get; }
    public GenerationOptions Options { get; }
    public Action<GeneratedToken>? OnToken { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>When the batcher admitted the request (UTC; null while it waits): the end of its time in the queue.</summary>
    public DateTime? AdmittedAt { get; internal set; }

    /// <summary>When its prompt was read and sampling began (UTC; null before).</summary>
    public DateTime? PromptReadAt { get; internal set; }

    /// <summary>The results, one per sample in index order; cancelled when the request's token is, faulted on failure.</summary>
    public Task<IReadOnlyList<GenerationResult>> Completion => _completion.Task;

    /// <summary>KV cells set aside for the request: the prompt once (its cells are shared) plus every sample's tokens.</summary>
    internal long ReservedCells => PromptTokens.Count + (long)Count * Options.MaxTokens;

    internal void SetResult(IReadOnlyList<GenerationResult> results) => _completion.TrySetResult(results);
    internal void SetCanceled() => _completion.TrySetCanceled(CancellationToken.IsCancellationRequested ? CancellationToken : default);
    internal void SetException(Exception e) => _completion.TrySetException(e);
}

/// <summary>
/// A snapshot of a batcher's load and its totals since it started. Element k of StepsBySequenceCount counts the steps
/// that decoded a token for k generating sequences (k = 0: steps that only read prompts).
/// </summary>
public sealed record BatcherStatistics(
    int QueueDepth,
    int QueueCapacity,
    int ActiveRequests,
    int ActiveSequences,
    int MaxSequences,
    int ReservedCells,
    int ContextSize,
    long Steps,
    long GeneratedTokens,
    long PromptTokens,
    IReadOnlyList<long> StepsBySequenceCount);

/// <summary>
/// Continuous batching over one context: every active sequence of every admitted request gets one token per step,
/// all in one llama_decode, and new prompts are read (in chunks) inside the same steps. A request is admitted when
/// enough sequence slots are free and its worst-case KV use (prompt + n × max_tokens) fits beside the others', so a
/// running sequence never meets a full cache; a request that finishes, fails or is cancelled frees its slots and KV
/// cells at once. Owns its context and the thread that decodes on it.
/// </summary>
public sealed class ContinuousBatcher : IDisposable
{
    private readonly LlamaContext _context;
    private readonly BatcherOptions _options;
    private readonly LlamaBatchBuffer _batch;
    private readonly TopToken[] _top = new TopToken[GenerationOptions.MaxTopAlternatives];
    private readonly Channel<BatchRequest> _queue;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Thread _thread;
    // Touched only by the decoding thread.
    private readonly Stack<int> _freeSlots = new();
    private readonly List<RunningRequest> _running = [];
    private readonly long[] _stepsBySequenceCount;
    private int _reservedCells;
    private int _activeSequences;
    private int _activeRequests;
    private long _steps;
    private long _generatedTokens;
    private long _promptTokens;
    private int _disposed;

    /// <summary>Creates the context (whose MaxSequences is the number of slots) and starts the decoding thread.</summary>
    public ContinuousBatcher(LlamaModel model, ContextOptions contextOptions, BatcherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(contextOptions);
        _options = options ?? new BatcherOptions();
        _options.Validate();
        _context = model.CreateContext(contextOptions);
        try { _batch = new LlamaBatchBuffer(Math.Max(_context.BatchSize, _context.MaxSequences)); }
        catch { _context.Dispose(); throw; }
        for (int slot = _context.MaxSequences - 1; slot >= 0; slot--) _freeSlots.Push(slot);
        _stepsBySequenceCount = new long[_context.MaxSequences + 1];
        _queue = Channel.CreateBounded<BatchRequest>(new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _thread = new Thread(Run) { IsBackground = true, Name = "uqengine-batcher" };
        _thread.Start();
    }

    public int ContextSize => _context.ContextSize;
    public int MaxSequences => _context.MaxSequences;
    public Vocabulary Vocabulary => _context.Model.Vocabulary;

    public BatcherStatistics Statistics => new(
        _queue.Reader.Count, _options.QueueCapacity, Volatile.Read(ref _activeRequests), Volatile.Read(ref _activeSequences), _context.MaxSequences,
        Volatile.Read(ref _reservedCells), _context.ContextSize, Interlocked.Read(ref _steps), Interlocked.Read(ref _generatedTokens),
        Interlocked.Read(ref _promptTokens), [.. _stepsBySequenceCount]);

    /// <summary>
    /// Queues a request, or returns false at once when <see cref="BatcherOptions.QueueCapacity"/> requests already wait.
    /// A request that could never run (bad tokens, more samples than slots, more KV than the context) throws
    /// <see cref="ArgumentException"/> here.
    /// </summary>
    public bool TrySubmit(BatchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Validate(request);
        return _queue.Writer.TryWrite(request);
    }

    private void Validate(BatchRequest request)
    {
        var options = request.Options;
        options.Validate();
        if (request.Count < 1 || request.Count > _context.MaxSequences)
            throw new ArgumentOutOfRangeException(nameof(request), request.Count, $"a request may ask for 1..{_context.MaxSequences} samples (the batcher's sequence slots)");
        if (request.PromptTokens.Count == 0) throw new ArgumentException("the prompt is empty", nameof(request));
        try { options.ValidateFor(_context); }
        catch (InvalidOperationException e) { throw new ArgumentException(e.Message, nameof(request), e); }
        var vocab = _context.Model.Vocabulary;
        foreach (int t in request.PromptTokens)
            if (!vocab.IsValid(t)) throw new ArgumentException($"prompt token {t} is outside the vocabulary (0..{vocab.Count - 1})", nameof(request));
        if (request.ReservedCells > _context.ContextSize)
            throw new ArgumentException(
                $"the prompt ({request.PromptTokens.Count} tokens) and {request.Count} sample(s) of up to {options.MaxTokens} tokens need {request.ReservedCells} KV cells but the context holds {_context.ContextSize}; lower max_tokens or n",
                nameof(request));
    }

    private void Run()
    {
        var shutdown = _shutdown.Token;
        try
        {
            while (!shutdown.IsCancellationRequested)
            {
                if (_running.Count == 0 && !_queue.Reader.WaitToReadAsync(shutdown).AsTask().GetAwaiter().GetResult()) break;
                Admit();
                foreach (var running in _running.ToArray())
                    if (running.Request.CancellationToken.IsCancellationRequested) Release(running, r => r.SetCanceled());
                if (_running.Count > 0) DecodeStep(shutdown);
            }
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested) { }
        catch (Exception e)
        {
            foreach (var running in _running.ToArray()) Release(running, r => r.SetException(e));
        }
        finally
        {
            // Whatever is running or queued at shutdown is answered rather than left hanging.
            foreach (var running in _running.ToArray()) Release(running, r => r.SetCanceled());
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var left)) left.SetCanceled();
        }
    }

    /// <summary>First come, first served: the head of the queue waits for room rather than being overtaken.</summary>
    private void Admit()
    {
        while (_queue.Reader.TryPeek(out var next))
        {
            if (next.CancellationToken.IsCancellationRequested)
            {
                _queue.Reader.TryRead(out _);
                next.SetCanceled();
                continue;
            }
            if (next.Count > _freeSlots.Count || _reservedCells + next.ReservedCells > _context.ContextSize) return;
            _queue.Reader.TryRead(out _);
            var slots = new int[next.Count];
            for (int i = 0; i < slots.Length; i++) slots[i] = _freeSlots.Pop();
            next.AdmittedAt = DateTime.UtcNow;
            _running.Add(new RunningRequest(next, slots));
            _reservedCells += (int)next.ReservedCells;
            PublishLoad();
        }
    }

    /// <summary>One llama_decode: a token for every generating sequence, then prompt chunks up to the budget; then each sequence steps.</summary>
    private void DecodeStep(CancellationToken shutdown)
    {
        _batch.Clear();
        int generating = 0;
        foreach (var running in _running)
        {
            if (running.Sequences is null) continue;
            foreach (var seq in running.Sequences)
            {
                if (seq.Finished is not null) continue;
                seq.BatchIndex = _batch.Add(seq.PendingToken, seq.Position, seq.Slot, wantOutput: true);
                generating++;
            }
        }
        int budget = _batch.Capacity - _batch.Count;
        if (generating > 0) budget = Math.Min(budget, _options.PrefillChunk);
        int promptTokens = 0;
        foreach (var running in _running)
        {
            if (running.Sequences is not null || budget == 0) continue;
            var prompt = running.Request.PromptTokens;
            int n = Math.Min(budget, prompt.Count - running.PromptCursor);
            for (int i = 0; i < n; i++)
            {
                int position = running.PromptCursor + i;
                int index = _batch.Add(prompt[position], position, running.Slots[0], wantOutput: position == prompt.Count - 1);
                if (position == prompt.Count - 1) running.PromptOutputIndex = index;
            }
            running.PromptCursor += n;
            budget -= n;
            promptTokens += n;
        }
        if (_batch.Count == 0) return;

        bool placed;
        try { placed = _context.TryDecode(_batch, shutdown); }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested) { throw; }
        catch (Exception e)
        {
            foreach (var running in _running.ToArray()) Release(running, r => r.SetException(e));
            return;
        }
        if (!placed)
        {
            // The reservation makes this unexpected; end what runs rather than loop on a batch that cannot be placed.
            var error = new InferenceException($"the KV cache ({_context.ContextSize} cells) had no room for a step of {_batch.Count} tokens");
            foreach (var running in _running.ToArray())
            {
                if (running.Sequences is null) { Release(running, r => r.SetException(error)); continue; }
                foreach (var seq in running.Sequences) seq.Finished ??= FinishReason.ContextFull;
                Complete(running);
            }
            return;
        }
        Interlocked.Increment(ref _steps);
        Interlocked.Add(ref _generatedTokens, generating);
        Interlocked.Add(ref _promptTokens, promptTokens);
        Interlocked.Increment(ref _stepsBySequenceCount[generating]);
        _options.OnBatchDecoded?.Invoke(generating);

        foreach (var running in _running.ToArray())
        {
            try
            {
                if (running.Sequences is null)
                {
                    if (running.PromptOutputIndex < 0) continue; // the prompt is not read to its end yet
                    StartSamples(running);
                }
                else
                {
                    foreach (var seq in running.Sequences)
                    {
                        if (seq.Finished is not null) continue;
                        seq.Position++;
                        seq.Step(_context, _top, running.Request.OnToken);
                    }
                }
                if (running.Sequences!.All(s => s.Finished is not null)) Complete(running);
            }
            catch (OperationCanceledException) { Release(running, r => r.SetCanceled()); }
            catch (Exception e) { Release(running, r => r.SetException(e)); }
        }
    }

    /// <summary>The prompt is in the first slot's cache: the other samples share its cells and all start from its last logits.</summary>
    private void StartSamples(RunningRequest running)
    {
        var request = running.Request;
        request.PromptReadAt = DateTime.UtcNow;
        for (int s = 1; s < running.Slots.Length; s++) _context.CopySequence(running.Slots[0], running.Slots[s]);
        var sequences = new DecodingSequence[running.Slots.Length];
        for (int s = 0; s < sequences.Length; s++)
            sequences[s] = new DecodingSequence(s, running.Slots[s], _context.Model.Vocabulary, request.Options, request.PromptTokens.Count, running.PromptOutputIndex);
        running.Sequences = sequences;
        foreach (var seq in sequences) seq.Step(_context, _top, request.OnToken);
    }

    private void Complete(RunningRequest running)
    {
        int promptLength = running.Request.PromptTokens.Count;
        var results = running.Sequences!.Select(s => s.ToResult(promptLength)).ToArray();
        Release(running, r => r.SetResult(results));
    }

    /// <summary>Frees the request's KV cells and slots before answering it, so the next step can admit a waiting request.</summary>
    private void Release(RunningRequest running, Action<BatchRequest> answer)
    {
        if (!_running.Remove(running)) return;
        foreach (int slot in running.Slots)
        {
            _context.RemoveTokens(slot);
            _freeSlots.Push(slot);
        }
        if (running.Sequences is not null)
            foreach (var seq in running.Sequences) seq.Dispose();
        _reservedCells -= (int)running.Request.ReservedCells;
        PublishLoad();
        answer(running.Request);
    }

    private void PublishLoad()
    {
        Volatile.Write(ref _activeRequests, _running.Count);
        Volatile.Write(ref _activeSequences, _context.MaxSequences - _freeSlots.Count);
    }

    /// <summary>Stops the decoding thread (running and queued requests are cancelled), then frees the context.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        _shutdown.Cancel();
        _thread.Join();
        _batch.Dispose();
        _context.Dispose();
        _shutdown.Dispose();
    }

    private sealed class RunningRequest(BatchRequest request, int[] slots)
    {
        public BatchRequest Request { get; } = request;
        /// <summary>KV sequence ids; the prompt is read into the first and shared with the rest.</summary>
        public int[] Slots { get; } = slots;
        public int PromptCursor { get; set; }
        public int PromptOutputIndex { get; set; } = -1;
        /// <summary>Null while the prompt is being read.</summary>
        public DecodingSequence[]? Sequences { get; set; }
    }
}
