using UQEngine.Evaluation.Metrics;
using System.Net;
using System.Text.Json;

namespace UQEngine.Tests.Server;

/// <summary>The bounded queue, client cancellation and the API key. A test hook holds the decoder at a step.</summary>
[Trait("Category", "Integration")]
public sealed class ServerConcurrencyTests
{
    private static string Completion(int maxTokens = 2) => JsonSerializer.Serialize(new { model = LoopbackServer.ModelId, prompt = "hold on", max_tokens = maxTokens });

    /// <summary>Blocks the decoding worker (at its first step) while closed; signals when the worker got there.</summary>
    private sealed class DecoderGate
    {
        public ManualResetEventSlim Open { get; } = new(false);
        public SemaphoreSlim Reached { get; } = new(0);
        public void OnStep(CancellationToken cancellation)
        {
            if (Open.IsSet) return;
            Reached.Release();
            Open.Wait(cancellation); // a cancelled request throws here, as it would mid-decode
        }
    }

    [Fact]
    public async Task A_full_queue_answers_429_and_queued_requests_still_complete()
    {
        var gate = new DecoderGate();
        await using var server = await LoopbackServer.StartAsync(o => o with { QueueCapacity = 1, OnDecodeStep = gate.OnStep });
        var running = server.PostAsync("/v1/completions", Completion());
        Assert.True(await gate.Reached.WaitAsync(TimeSpan.FromSeconds(30)), "the first request never reached the decoder");
        var queued = server.PostAsync("/v1/completions", Completion());
        await WaitForAsync(server, "uqengine_queue_depth", 1);

        using (var rejected = await server.PostAsync("/v1/completions", Completion()))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), rejected.Headers.RetryAfter?.Delta); // when to try again
            var error = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("queue_full", error.GetProperty("code").GetString());
        }

        gate.Open.Set();
        using var first = await running;
        using var second = await queued;
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, (await server.ScrapeAsync()).Value("uqengine_requests_total", "route=/v1/completions", "status=429"));
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_its_generation_and_frees_the_worker()
    {
        var gate = new DecoderGate();
        await using var server = await LoopbackServer.StartAsync(o => o with { OnDecodeStep = gate.OnStep });
        using var disconnect = new CancellationTokenSource();
        var abandoned = server.PostAsync("/v1/completions", Completion(), cancellationToken: disconnect.Token);
        Assert.True(await gate.Reached.WaitAsync(TimeSpan.FromSeconds(30)), "the request never reached the decoder");

        await disconnect.CancelAsync(); // the gate stays closed: only cancellation can free the worker
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await WaitForAsync(server, "uqengine_decoder_busy", 0);

        gate.Open.Set(); // let later requests through without blocking
        using var next = await server.PostAsync("/v1/completions", Completion());
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task A_streaming_client_that_disconnects_frees_the_worker()
    {
        var gate = new DecoderGate();
        await using var server = await LoopbackServer.StartAsync(o => o with { OnDecodeStep = gate.OnStep });
        string json = JsonSerializer.Serialize(new { model = LoopbackServer.ModelId, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 8, stream = true });
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // the role chunk went out; the decoder is now held
        Assert.True(await gate.Reached.WaitAsync(TimeSpan.FromSeconds(30)));

        response.Dispose(); // hang up mid-stream
        await WaitForAsync(server, "uqengine_decoder_busy", 0);
        gate.Open.Set();
        using var next = await server.PostAsync("/v1/completions", Completion());
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task Concurrent_requests_are_decoded_together_and_answer_as_they_do_alone()
    {
        await using var server = await LoopbackServer.StartAsync(o => o with { MaxSequences = 6, ContextSize = 1024 });
        object Body(string prompt, int n) => new { model = LoopbackServer.ModelId, prompt, max_tokens = 24, n, temperature = 0, logprobs = 2 };
        (string Prompt, int N)[] requests = [("The cat", 1), ("Hello world, the", 2), ("Once upon a time", 1), ("a b c", 2)];
        var alone = new List<string>();
        foreach (var (prompt, n) in requests)
        {
            var (status, body) = await server.PostJsonAsync("/v1/completions", Body(prompt, n));
            Assert.Equal(200, status);
            alone.Add(string.Join("|", body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString())));
        }
        var before = await server.ScrapeAsync();

        var together = await Task.WhenAll(requests.Select(r => server.PostJsonAsync("/v1/completions", Body(r.Prompt, r.N))));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(200, together[i].Status);
            Assert.Equal(alone[i], string.Join("|", together[i].Body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString())));
        }
        // Alone, no step decoded more than n = 2 sequences; together, some step decoded more.
        var after = await server.ScrapeAsync();
        Assert.True(before.Value("uqengine_batch_sequences_count") > 0, before.Text);
        Assert.Equal(before.Value("uqengine_batch_sequences_count"), before.Value("uqengine_batch_sequences_bucket", "le=2"));
        Assert.True(after.Value("uqengine_batch_sequences_count") > after.Value("uqengine_batch_sequences_bucket", "le=2"), after.Text);
        Assert.Equal(0, after.Value("uqengine_active_sequences"));
        Assert.Equal(0, after.Value("uqengine_kv_reserved_cells"));
    }

    [Fact]
    public async Task Api_key_guards_v1_but_not_health()
    {
        await using var server = await LoopbackServer.StartAsync(o => o with { ApiKey = "s3cret" });
        using (var missing = await server.PostAsync("/v1/completions", Completion()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
            var error = JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        }
        using (var wrong = await server.PostAsync("/v1/completions", Completion(), apiKey: "nope"))
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using (var right = await server.PostAsync("/v1/completions", Completion(), apiKey: "s3cret"))
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
    }

    private static async Task WaitForAsync(LoopbackServer server, string metric, double value)
    {
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(20))
            if ((await server.ScrapeAsync()).Find(metric) == value) return;
        Assert.Fail($"/metrics never showed {metric} = {value}");
    }
}
