using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>One request's work for the decoder: a prompt, n samples, and where its tokens go.</summary>
internal sealed class DecodeJob(int[] promptTokens, int count, GenerationOptions options, Action<GeneratedToken>? onToken, CancellationToken cancellation)
{
    public int[] PromptTokens { get; } = promptTokens;
    public int Count { get; } = count;
    public GenerationOptions Options { get; } = options;
    public Action<GeneratedToken>? OnToken { get; } = onToken;
    /// <summary>The client's HttpContext.RequestAborted: a client that goes away frees its sequences at the next step.</summary>
    public CancellationToken Cancellation { get; } = cancellation;
    public TaskCompletionSource<IReadOnlyList<GenerationResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // For the request's trace: the batcher stamps admission and prompt end on Request.
    public BatchRequest? Request { get; set; }
    public System.Diagnostics.Activity? Span { get; set; }
    public DateTime? EnqueuedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}

/// <summary>
/// The server's side of the <see cref="ContinuousBatcher"/>: concurrent requests are decoded together, each of their
/// n samples a sequence of its own; the batcher's bounded queue is the one that answers 429.
/// </summary>
internal sealed class DecodeWorker(ContinuousBatcher batcher) : IDisposable
{
    public int Capacity => batcher.Statistics.QueueCapacity;
    /// <summary>Requests accepted but not yet admitted to the batch.</summary>
    public int QueueDepth => batcher.Statistics.QueueDepth;
    public bool IsBusy => batcher.Statistics.ActiveRequests > 0;
    public BatcherStatistics Statistics => batcher.Statistics;

    /// <summary>Queues a job, or returns false at once when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(DecodeJob job)
    {
        BatchRequest request;
        try
        {
            request = new BatchRequest(job.PromptTokens, job.Count, job.Options, job.OnToken, job.Cancellation);
            job.EnqueuedAt = DateTime.UtcNow;
            job.Span = ServerTracing.CurrentRequestSpan();
            if (!batcher.TrySubmit(request)) return false;
            job.Request = request;
        }
        catch (ArgumentException e)
        {
            job.Completion.TrySetException(e); // answered as a 400 by whoever awaits the job
            return true;
        }
        request.Completion.ContinueWith(static (task, state) =>
        {
            var job = (DecodeJob)state!;
            job.CompletedAt = DateTime.UtcNow;
            // Before the request is answered, so the phases end inside the request's span.
            ServerTracing.RecordPhases(job, task.IsCompletedSuccessfully ? task.Result : null);
            var completion = job.Completion;
            if (task.IsCanceled) completion.TrySetCanceled();
            else if (task.IsFaulted) completion.TrySetException(task.Exception!.InnerExceptions);
            else completion.TrySetResult(task.Result);
        }, job, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return true;
    }

    public void Dispose() => batcher.Dispose();
}
