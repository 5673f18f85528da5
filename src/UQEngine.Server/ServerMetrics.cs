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
        Single("uqengine_decoder_busy", "gauge", "1 while a request is decoding.", worker.IsBusy ? 1 : 0);
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
