using System.Diagnostics.Metrics;

namespace UQEngine.Server;

/// <summary>
/// The server's instruments on the Meter <see cref="MeterName"/> (what dotnet-counters and OpenTelemetry read).
/// OpenTelemetry's Prometheus exporter turns the dotted names into today's /metrics names: dots become underscores,
/// counters get _total and the "s" unit _seconds (uqengine.requests → uqengine_requests_total).
/// </summary>
internal sealed class ServerMetrics
{
    public const string MeterName = "UQEngine.Server";

    // Request latency of a local model runs from milliseconds (errors, /health) to minutes (long generations).
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    // Totals read by observable counters: a Counter's measurements before the exporter starts listening (the model
    // loads before the host starts) would be lost, and a scrape should show the totals from the start, 0 included.
    private long _promptTokens;
    private long _completionTokens;
    private long _embeddingTokens;
    private readonly Histogram<int> _batchSequences;
    private DecodeWorker? _worker;

    /// <param name="meters">The app's factory: its meters are this app's alone, so two servers in one process keep apart.</param>
    /// <param name="options">Its MaxSequences bounds the batch histogram's buckets.</param>
    public ServerMetrics(IMeterFactory meters, ServerOptions options)
    {
        Meter = meters.Create(MeterName);
        _requests = Meter.CreateCounter<long>("uqengine.requests", "{request}", "HTTP requests answered, by route and status.");
        _duration = Meter.CreateHistogram("uqengine.request.duration", "s", "Request latency, by route.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        Meter.CreateObservableCounter("uqengine.prompt_tokens", () => Interlocked.Read(ref _promptTokens), "{token}", "Prompt tokens read.");
        Meter.CreateObservableCounter("uqengine.completion_tokens", () => Interlocked.Read(ref _completionTokens), "{token}", "Tokens generated.");
        Meter.CreateObservableCounter("uqengine.embedding_tokens", () => Interlocked.Read(ref _embeddingTokens), "{token}", "Input tokens embedded by /v1/embeddings.");
        // Sequences that got a token per step: how much batching there was (the mean is _sum / _count).
        _batchSequences = Meter.CreateHistogram("uqengine.batch.sequences", "{sequence}", "Generating sequences decoded together per step (steps with at least one).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = PowersOfTwo(options.MaxSequences) });

        Meter.CreateObservableGauge("uqengine.queue.depth", () => Read(w => w.QueueDepth), "{request}", "Requests waiting for the decoder.");
        Meter.CreateObservableGauge("uqengine.queue.capacity", () => Read(w => w.Capacity), "{request}", "Requests that may wait before new ones get 429.");
        Meter.CreateObservableGauge("uqengine.decoder.busy", () => Read(w => w.IsBusy ? 1 : 0), null, "1 while any request is decoding.");
        Meter.CreateObservableGauge("uqengine.active_requests", () => Read(w => w.Statistics.ActiveRequests), "{request}", "Requests admitted to the batch (reading their prompt or generating).");
        Meter.CreateObservableGauge("uqengine.active_sequences", () => Read(w => w.Statistics.ActiveSequences), "{sequence}", "Sequence slots in use (each request holds one per sample).");
        Meter.CreateObservableGauge("uqengine.max_sequences", () => Read(w => w.Statistics.MaxSequences), "{sequence}", "Sequence slots of the context.");
        Meter.CreateObservableGauge("uqengine.kv.reserved_cells", () => Read(w => w.Statistics.ReservedCells), "{cell}", "KV cells set aside for admitted requests (prompt + n x max_tokens each).");
        Meter.CreateObservableGauge("uqengine.kv.cells", () => Read(w => w.Statistics.ContextSize), "{cell}", "KV cells of the context.");
        Meter.CreateObservableCounter("uqengine.decode_steps", () => Read(w => w.Statistics.Steps), "{step}", "llama_decode calls made by the batcher.");
        Meter.CreateObservableCounter("uqengine.prompt_tokens_decoded", () => Read(w => w.Statistics.PromptTokens), "{token}", "Prompt tokens read into the KV cache by the batcher.");
    }

    public Meter Meter { get; }

    /// <summary>The decoder whose load the gauges report (set once the model is loaded).</summary>
    public void Observe(DecodeWorker worker) => _worker = worker;

    public void RecordRequest(string route, int status, TimeSpan elapsed)
    {
        _requests.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("status", status));
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route));
    }

    public void RecordTokens(int prompt, int completion)
    {
        Interlocked.Add(ref _promptTokens, prompt);
        Interlocked.Add(ref _completionTokens, completion);
    }

    public void RecordEmbeddingTokens(int tokens) => Interlocked.Add(ref _embeddingTokens, tokens);

    /// <summary>The batcher's per-step callback (its decoding thread); steps that only read prompts are not batching.</summary>
    public void RecordBatchStep(int generatingSequences)
    {
        if (generatingSequences > 0) _batchSequences.Record(generatingSequences);
    }

    private IEnumerable<Measurement<T>> Read<T>(Func<DecodeWorker, T> read) where T : struct =>
        _worker is { } worker ? [new Measurement<T>(read(worker))] : [];

    /// <summary>1, 2, 4, … up to the slot count: the buckets of the old hand-written histogram.</summary>
    private static int[] PowersOfTwo(int max)
    {
        var bounds = new List<int> { 1 };
        while (bounds[^1] < max) bounds.Add(bounds[^1] * 2);
        return [.. bounds];
    }
}
