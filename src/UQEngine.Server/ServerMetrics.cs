using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace UQEngine.Server;

/// <summary>Counters for GET /metrics in the Prometheus text format.</summary>
internal sealed class ServerMetrics
{
    private static readonly double[] Quantiles = [0.5, 0.9, 0.99];
    private const int LatencyWindow = 1024; // quantiles over the most recent requests

    private readonly ConcurrentDictionary<(string Route, int Status), long> _requests = new();
    private readonly Lock _latencyLock = new();
    private readonly double[] _recentLatencies = new double[LatencyWindow];
    private int _recentCount;
    private int _recentNext;
    private long _latencyCount;
    private double _latencySum;
    private long _completionTokens;
    private long _promptTokens;

    public void RecordRequest(string route, int status, TimeSpan elapsed)
    {
        _requests.AddOrUpdate((route, status), 1, (_, n) => n + 1);
        lock (_latencyLock)
        {
            _recentLatencies[_recentNext] = elapsed.TotalSeconds;
            _recentNext = (_recentNext + 1) % LatencyWindow;
            _recentCount = Math.Min(_recentCount + 1, LatencyWindow);
            _latencyCount++;
            _latencySum += elapsed.TotalSeconds;
        }
    }

    public void RecordTokens(int prompt, int completion)
    {
        Interlocked.Add(ref _promptTokens, prompt);
        Interlocked.Add(ref _completionTokens, completion);
    }

    public string Render(DecodeWorker worker)
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine("# HELP uqengine_requests_total HTTP requests answered, by route and status.");
        text.AppendLine("# TYPE uqengine_requests_total counter");
        foreach (var ((route, status), count) in _requests.OrderBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
            text.Append(inv, $"uqengine_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}\n");
        void Single(string name, string type, string help, long value)
        {
            text.Append(inv, $"# HELP {name} {help}\n# TYPE {name} {type}\n{name} {value}\n");
        }
        Single("uqengine_completion_tokens_total", "counter", "Tokens generated.", Interlocked.Read(ref _completionTokens));
        Single("uqengine_prompt_tokens_total", "counter", "Prompt tokens read.", Interlocked.Read(ref _promptTokens));
        Single("uqengine_queue_depth", "gauge", "Requests waiting for the decoder.", worker.QueueDepth);
        Single("uqengine_queue_capacity", "gauge", "Requests that may wait before new ones get 429.", worker.Capacity);
        var batch = worker.Statistics;
        Single("uqengine_decoder_busy", "gauge", "1 while any request is decoding.", batch.ActiveRequests > 0 ? 1 : 0);
        Single("uqengine_active_requests", "gauge", "Requests admitted to the batch (reading their prompt or generating).", batch.ActiveRequests);
        Single("uqengine_active_sequences", "gauge", "Sequence slots in use (each request holds one per sample).", batch.ActiveSequences);
        Single("uqengine_max_sequences", "gauge", "Sequence slots of the context.", batch.MaxSequences);
        Single("uqengine_kv_reserved_cells", "gauge", "KV cells set aside for admitted requests (prompt + n x max_tokens each).", batch.ReservedCells);
        Single("uqengine_kv_cells", "gauge", "KV cells of the context.", batch.ContextSize);
        Single("uqengine_decode_steps_total", "counter", "llama_decode calls made by the batcher.", batch.Steps);
        Single("uqengine_prompt_tokens_decoded_total", "counter", "Prompt tokens read into the KV cache by the batcher.", batch.PromptTokens);
        // Sequences that got a token per step: how much batching there was (the mean is _sum / _count).
        text.AppendLine("# HELP uqengine_batch_sequences Generating sequences decoded together per step (steps with at least one).");
        text.AppendLine("# TYPE uqengine_batch_sequences histogram");
        long cumulative = 0;
        var buckets = batch.StepsBySequenceCount;
        for (int le = 1; ; le *= 2)
        {
            for (int k = le == 1 ? 1 : le / 2 + 1; k <= Math.Min(le, buckets.Count - 1); k++) cumulative += buckets[k];
            text.Append(inv, $"uqengine_batch_sequences_bucket{{le=\"{le}\"}} {cumulative}\n");
            if (le >= buckets.Count - 1) break;
        }
        text.Append(inv, $"uqengine_batch_sequences_bucket{{le=\"+Inf\"}} {cumulative}\n");
        text.Append(inv, $"uqengine_batch_sequences_sum {batch.GeneratedTokens}\n");
        text.Append(inv, $"uqengine_batch_sequences_count {cumulative}\n");
        text.AppendLine("# HELP uqengine_request_duration_seconds Request latency (quantiles over the last 1024 requests).");
        text.AppendLine("# TYPE uqengine_request_duration_seconds summary");
        lock (_latencyLock)
        {
            double[] sorted = _recentLatencies[.._recentCount];
            Array.Sort(sorted);
            foreach (double q in Quantiles)
            {
                double value = sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
                text.Append(inv, $"uqengine_request_duration_seconds{{quantile=\"{q}\"}} {Format(value)}\n");
            }
            text.Append(inv, $"uqengine_request_duration_seconds_sum {Format(_latencySum)}\n");
            text.Append(inv, $"uqengine_request_duration_seconds_count {_latencyCount}\n");
        }
        return text.ToString();
    }

    private static string Format(double value) => double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);
}
