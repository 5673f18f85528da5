using System.Threading.Channels;
using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>One request's work for the decoder: a prompt, n samples, and where its tokens go.</summary>
internal sealed class DecodeJob(int[] promptTokens, int count, GenerationOptions options, Action<GeneratedToken>? onToken, CancellationToken cancellation)
{
    public int[] PromptTokens { get; } = promptTokens;
    public int Count { get; } = count;
    public GenerationOptions Options { get; } = options;
    public Action<GeneratedToken>? OnToken { get; } = onToken;
    /// <summary>The client's HttpContext.RequestAborted: a client that goes away stops its own decoding.</summary>
    public CancellationToken Cancellation { get; } = cancellation;
    public TaskCompletionSource<IReadOnlyList<GenerationResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A bounded queue in front of one decoding loop. Requests run one after another on one context (whose
/// MaxSequences serves "n" samples of a request); requests are not batched with each other in this version.
/// </summary>
internal sealed class DecodeWorker : IAsyncDisposable
{
    private readonly Generator _generator;
    private readonly Channel<DecodeJob> _queue;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _loop;
    private int _waiting;
    private int _busy;

    public DecodeWorker(Generator generator, int capacity)
    {
        _generator = generator;
        Capacity = capacity;
        _queue = Channel.CreateBounded<DecodeJob>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _loop = Task.Run(RunAsync);
    }

    public int Capacity { get; }
    /// <summary>Requests accepted but not yet started.</summary>
    public int QueueDepth => Volatile.Read(ref _waiting);
    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    /// <summary>Queues a job, or returns false at once when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(DecodeJob job)
    {
        Interlocked.Increment(ref _waiting);
        if (_queue.Writer.TryWrite(job)) return true;
        Interlocked.Decrement(ref _waiting);
        return false;
    }

    private async Task RunAsync()
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(_shutdown.Token).ConfigureAwait(false))
            {
                Interlocked.Decrement(ref _waiting);
                Volatile.Write(ref _busy, 1);
                try { Run(job); }
                finally { Volatile.Write(ref _busy, 0); }
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested) { }
        // Whatever is still queued at shutdown is answered rather than left hanging.
        while (_queue.Reader.TryRead(out var left)) left.Completion.TrySetCanceled();
    }

    private void Run(DecodeJob job)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.Cancellation, _shutdown.Token);
        if (cancel.IsCancellationRequested) { job.Completion.TrySetCanceled(cancel.Token); return; }
        try
        {
            job.Completion.TrySetResult(_generator.Generate(job.PromptTokens, job.Count, job.Options, job.OnToken, cancel.Token));
        }
        catch (OperationCanceledException) { job.Completion.TrySetCanceled(cancel.Token); }
        catch (Exception e) { job.Completion.TrySetException(e); }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _shutdown.Dispose();
    }
}
