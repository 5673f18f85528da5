using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace UQEngine.Tests.Server;

/// <summary>The server's Meter and ActivitySource, as Prometheus, dotnet-counters (a MeterListener), tracers and OTLP see them.</summary>
[Trait("Category", "Integration")]
public sealed class ServerTelemetryTests
{
    private static readonly object[] Hi = [new { role = "user", content = "Hi there" }];

    private static object Completion(string prompt, int maxTokens) => new { model = LoopbackServer.ModelId, prompt, max_tokens = maxTokens, temperature = 0 };

    [Fact]
    public async Task The_scrape_counts_exactly_the_requests_and_tokens_sent()
    {
        await using var server = await LoopbackServer.StartAsync();
        int promptTokens = 0, completionTokens = 0;
        foreach (var (prompt, max) in new[] { ("The cat", 3), ("Once upon a time", 5), ("a b c", 2) })
        {
            var (status, body) = await server.PostJsonAsync("/v1/completions", Completion(prompt, max));
            Assert.Equal(200, status);
            promptTokens += body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
            completionTokens += body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        }
        Assert.Equal(400, (await server.PostJsonAsync("/v1/completions", new { model = 7 })).Status);
        Assert.Equal(400, (await server.PostJsonAsync("/v1/chat/completions", new { model = LoopbackServer.ModelId, messages = "no" })).Status);
        await server.Client.GetStringAsync("/health");

        var metrics = await server.ScrapeAsync();
        Assert.Equal(3, metrics.Value("uqengine_requests_total", "route=/v1/completions", "status=200"));
        Assert.Equal(1, metrics.Value("uqengine_requests_total", "route=/v1/completions", "status=400"));
        Assert.Equal(1, metrics.Value("uqengine_requests_total", "route=/v1/chat/completions", "status=400"));
        Assert.Equal(1, metrics.Value("uqengine_requests_total", "route=/health", "status=200"));
        Assert.Equal(promptTokens, metrics.Value("uqengine_prompt_tokens_total"));
        Assert.Equal(completionTokens, metrics.Value("uqengine_completion_tokens_total"));
        Assert.Equal(promptTokens, metrics.Value("uqengine_prompt_tokens_decoded_total")); // every prompt was read once
        Assert.Equal(4, metrics.Value("uqengine_request_duration_seconds_count", "route=/v1/completions"));
        Assert.True(metrics.Value("uqengine_request_duration_seconds_sum", "route=/v1/completions") > 0);
        // Greedy single samples: every generating step held one sequence, one step per token after the first.
        Assert.Equal(metrics.Value("uqengine_batch_sequences_count"), metrics.Value("uqengine_batch_sequences_bucket", "le=1"));
        Assert.Equal(completionTokens - 3, metrics.Value("uqengine_batch_sequences_sum"));
        Assert.Equal(0, metrics.Value("uqengine_queue_depth"));
        Assert.Equal(16, metrics.Value("uqengine_queue_capacity"));
        Assert.Equal(0, metrics.Value("uqengine_decoder_busy"));
        Assert.Equal(4, metrics.Value("uqengine_max_sequences"));
        Assert.Equal(512, metrics.Value("uqengine_kv_cells"));
        Assert.True(metrics.Value("uqengine_decode_steps_total") >= completionTokens, metrics.Text);
    }

    [Fact]
    public async Task A_meter_listener_sees_the_instruments_as_dotnet_counters_would()
    {
        await using var server = await LoopbackServer.StartAsync();
        var factory = server.Services.GetRequiredService<IMeterFactory>();
        var instruments = new ConcurrentDictionary<string, Instrument>();
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                // This server's meter only: other test servers in the process have meters of the same name.
                if (instrument.Meter.Name != "UQEngine.Server" || !ReferenceEquals(instrument.Meter.Scope, factory)) return;
                instruments[instrument.Name] = instrument;
                l.EnableMeasurementEvents(instrument);
            },
        };
        void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state) where T : struct =>
            measurements.Enqueue((instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        listener.SetMeasurementEventCallback<long>(Record);
        listener.SetMeasurementEventCallback<int>(Record);
        listener.SetMeasurementEventCallback<double>(Record);
        listener.Start();

        Assert.Equal(200, (await server.PostJsonAsync("/v1/completions", Completion("Hello", 4))).Status);
        listener.RecordObservableInstruments();

        string[] expected =
        [
            "uqengine.requests", "uqengine.request.duration", "uqengine.prompt_tokens", "uqengine.completion_tokens", "uqengine.embedding_tokens",
            "uqengine.batch.sequences", "uqengine.queue.depth", "uqengine.queue.capacity", "uqengine.decoder.busy", "uqengine.active_requests",
            "uqengine.active_sequences", "uqengine.max_sequences", "uqengine.kv.reserved_cells", "uqengine.kv.cells", "uqengine.decode_steps",
            "uqengine.prompt_tokens_decoded",
        ];
        Assert.Equal(expected.Order(), instruments.Keys.Order());
        Assert.Equal("s", instruments["uqengine.request.duration"].Unit);

        var request = Assert.Single(measurements, m => m.Instrument == "uqengine.requests");
        Assert.Equal(1, request.Value);
        Assert.Equal("/v1/completions", request.Tags["route"]);
        Assert.Equal(200, request.Tags["status"]);
        Assert.True(Assert.Single(measurements, m => m.Instrument == "uqengine.request.duration").Value > 0);
        Assert.Equal(512, Assert.Single(measurements, m => m.Instrument == "uqengine.kv.cells").Value);
        Assert.Equal(0, Assert.Single(measurements, m => m.Instrument == "uqengine.queue.depth").Value);
        Assert.Equal(4, Assert.Single(measurements, m => m.Instrument == "uqengine.completion_tokens").Value); // the total so far
    }

    [Fact]
    public async Task A_request_span_has_queue_prompt_and_generation_children()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            // ASP.NET Core's own (unrecorded) request activity too: the server's span must not hang under it.
            ShouldListenTo = source => source.Name is "UQEngine.Server" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> options) => options.Source.Name == "UQEngine.Server"
                ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.PropagationData,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var server = await LoopbackServer.StartAsync();

        foreach (bool stream in new[] { false, true })
        {
            // The caller's trace: other tests' servers in this process emit spans of the same source.
            var trace = ActivityTraceId.CreateRandom();
            var caller = ActivitySpanId.CreateRandom();
            using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent(JsonSerializer.Serialize(stream
                    ? new { model = LoopbackServer.ModelId, messages = Hi, max_tokens = 5, temperature = 0, stream = true, stream_options = new { include_usage = true } }
                    : (object)new { model = LoopbackServer.ModelId, messages = Hi, max_tokens = 5, temperature = 0 }), Encoding.UTF8, "application/json"),
            };
            message.Headers.Add("traceparent", $"00-{trace}-{caller}-01");
            using var response = await server.Client.SendAsync(message);
            string text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            var usage = (stream ? LoopbackServer.ParseEvents(text).Events[^1] : JsonDocument.Parse(text).RootElement).GetProperty("usage");

            Activity[] spans = [];
            for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(10) && spans.Length < 4; await Task.Delay(10))
                spans = [.. stopped.Where(a => a.TraceId == trace && a.Source.Name == "UQEngine.Server")];
            var root = Assert.Single(spans, s => s.ParentSpanId == caller);
            Assert.Equal("POST /v1/chat/completions", root.DisplayName);
            Assert.Equal(ActivityKind.Server, root.Kind);
            Assert.Equal("synthetic", root.GetTagItem("gen_ai.request.model"));
            Assert.Equal(200, root.GetTagItem("http.response.status_code"));
            Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), root.GetTagItem("gen_ai.usage.input_tokens"));
            Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), root.GetTagItem("gen_ai.usage.output_tokens"));

            var children = spans.Where(s => s.ParentSpanId == root.SpanId).OrderBy(s => s.StartTimeUtc).ToArray();
            Assert.Equal(["uqengine.queue", "uqengine.prompt", "uqengine.generation"], children.Select(c => c.DisplayName));
            Assert.Equal(4, spans.Length);
            for (int i = 0; i < children.Length; i++)
            {
                var child = children[i];
                Assert.Equal("synthetic", child.GetTagItem("gen_ai.request.model"));
                Assert.True(child.StartTimeUtc >= root.StartTimeUtc && child.StartTimeUtc + child.Duration <= root.StartTimeUtc + root.Duration, $"{child.DisplayName} lies outside the request");
                if (i > 0) Assert.Equal(children[i - 1].StartTimeUtc + children[i - 1].Duration, child.StartTimeUtc); // phases follow each other
            }
            Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), children[1].GetTagItem("gen_ai.usage.input_tokens"));
            Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), children[2].GetTagItem("gen_ai.usage.output_tokens"));
        }
    }

    [Fact]
    public async Task Otlp_over_http_receives_the_metrics_and_the_spans()
    {
        // A stand-in collector: OTLP/HTTP posts protobuf to /v1/metrics and /v1/traces.
        var received = new ConcurrentDictionary<string, byte[]>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        await using var collector = builder.Build();
        collector.MapPost("/v1/{signal}", async (string signal, HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            received.AddOrUpdate(signal, body.ToArray(), (_, old) => [.. old, .. body.ToArray()]);
            return Results.Ok();
        });
        await collector.StartAsync();

        var server = await LoopbackServer.StartAsync(o => o with { OtlpEndpoint = new Uri(collector.Urls.First()), OtlpProtocol = "http/protobuf" });
        Assert.Equal(200, (await server.PostJsonAsync("/v1/completions", Completion("Hello", 3))).Status);
        await server.DisposeAsync(); // shutting down flushes both exporters

        Assert.True(received.TryGetValue("metrics", out var metrics), "no POST /v1/metrics");
        Assert.True(received.TryGetValue("traces", out var traces), "no POST /v1/traces");
        foreach (string name in new[] { "uqengine.requests", "uqengine.completion_tokens", "uqengine.queue.depth" })
            Assert.True(Contains(metrics!, name), $"the OTLP metrics lack {name}");
        foreach (string name in new[] { "uqengine.queue", "uqengine.prompt", "uqengine.generation", "POST /v1/completions" })
            Assert.True(Contains(traces!, name), $"the OTLP traces lack {name}");
    }

    private static bool Contains(byte[] protobuf, string text) => protobuf.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
}
