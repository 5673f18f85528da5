using System.Net;
using System.Text.Json;

namespace UQEngine.Tests.Server;

[Trait("Category", "Integration")]
public sealed class ServerEndpointTests : IAsyncLifetime
{
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync();
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static readonly object[] Hello = [new { role = "system", content = "Be brief." }, new { role = "user", content = "Hello there" }];

    [Fact]
    public async Task Health_and_models_describe_the_served_model()
    {
        var health = JsonDocument.Parse(await _server.Client.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());

        var models = JsonDocument.Parse(await _server.Client.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        var card = Assert.Single(models.GetProperty("data").EnumerateArray());
        Assert.Equal(LoopbackServer.ModelId, card.GetProperty("id").GetString());
        Assert.Equal("model", card.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Chat_completion_carries_logprobs_with_entropy_rank_and_choice_uncertainty()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/chat/completions", new
        {
            model = LoopbackServer.ModelId, messages = Hello, max_tokens = 8, temperature = 0.8, top_p = 0.95, seed = 3, logprobs = true, top_logprobs = 3,
        });
        Assert.Equal(200, status);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Contains(choice.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        var usage = body.GetProperty("usage");
        int completionTokens = usage.GetProperty("completion_tokens").GetInt32();
        Assert.True(completionTokens > 0, "this seed should produce tokens before end-of-generation");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + completionTokens, usage.GetProperty("total_tokens").GetInt32());

        var content = choice.GetProperty("logprobs").GetProperty("content");
        Assert.Equal(completionTokens, content.GetArrayLength());
        foreach (var entry in content.EnumerateArray())
        {
            Assert.True(entry.GetProperty("logprob").GetDouble() <= 0);
            Assert.True(entry.GetProperty("entropy").GetDouble() >= 0);
            Assert.True(entry.GetProperty("rank").GetInt32() >= 0);
            Assert.Equal(3, entry.GetProperty("top_logprobs").GetArrayLength());
            Assert.Equal(JsonValueKind.Array, entry.GetProperty("bytes").ValueKind);
        }

        var uncertainty = choice.GetProperty("uncertainty");
        double p = uncertainty.GetProperty("sequence_probability").GetDouble();
        Assert.InRange(p, 0, 1);
        Assert.InRange(uncertainty.GetProperty("min_token_probability").GetDouble(), 0, 1);
        foreach (string field in new[] { "mean_logprob", "perplexity", "mean_entropy", "max_entropy" })
            Assert.True(uncertainty.TryGetProperty(field, out _), field);
    }

    [Fact]
    public async Task Greedy_generation_is_deterministic_and_n_returns_that_many_choices()
    {
        object Request(int n) => new { model = LoopbackServer.ModelId, messages = Hello, max_tokens = 6, temperature = 0, n };
        var (_, first) = await _server.PostJsonAsync("/v1/chat/completions", Request(1));
        var (status, several) = await _server.PostJsonAsync("/v1/chat/completions", Request(3));
        Assert.Equal(200, status);
        var choices = several.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        string expected = first.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.All(choices, c => Assert.Equal(expected, c.GetProperty("message").GetProperty("content").GetString()));
    }

    [Fact]
    public async Task Text_completion_has_legacy_logprobs_plus_entropies_and_ranks()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "Once upon a time", max_tokens = 5, temperature = 0, logprobs = 2, stop = new[] { "zz" } });
        Assert.Equal(200, status);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        var logprobs = choice.GetProperty("logprobs");
        int n = logprobs.GetProperty("tokens").GetArrayLength();
        Assert.Equal(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), n);
        foreach (string field in new[] { "token_logprobs", "top_logprobs", "text_offset", "token_entropies", "token_ranks" })
            Assert.Equal(n, logprobs.GetProperty(field).GetArrayLength());
        Assert.True(choice.TryGetProperty("uncertainty", out _));
    }

    [Fact]
    public async Task Streamed_chat_sends_per_token_logprobs_then_finish_usage_and_done()
    {
        string json = JsonSerializer.Serialize(new
        {
            model = LoopbackServer.ModelId, messages = Hello, max_tokens = 6, temperature = 0, stream = true, logprobs = true, top_logprobs = 2,
            stream_options = new { include_usage = true },
        });
        using var response = await _server.PostAsync("/v1/chat/completions", json);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);
        Assert.All(events, e => Assert.Equal("chat.completion.chunk", e.GetProperty("object").GetString()));

        var tokenChunks = events.Where(e => e.GetProperty("choices").GetArrayLength() == 1 && e.GetProperty("choices")[0].TryGetProperty("logprobs", out _)).ToList();
        foreach (var chunk in tokenChunks)
        {
            var entry = Assert.Single(chunk.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content").EnumerateArray());
            Assert.True(entry.TryGetProperty("entropy", out _));
            Assert.True(entry.TryGetProperty("rank", out _));
        }
        var finish = events.Single(e => e.GetProperty("choices").GetArrayLength() == 1 && e.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        Assert.True(finish.GetProperty("choices")[0].TryGetProperty("uncertainty", out _));
        var usage = events.Last().GetProperty("usage");
        Assert.NotEmpty(tokenChunks);
        Assert.Equal(tokenChunks.Count, usage.GetProperty("completion_tokens").GetInt32());

        // The streamed text is the non-streamed text.
        string streamed = string.Concat(events.SelectMany(e => e.GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : ""));
        var (_, whole) = await _server.PostJsonAsync("/v1/chat/completions", new { model = LoopbackServer.ModelId, messages = Hello, max_tokens = 6, temperature = 0 });
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), streamed);
    }

    [Fact]
    public async Task Streamed_completion_ends_with_done()
    {
        using var response = await _server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = LoopbackServer.ModelId, prompt = "abc", max_tokens = 4, stream = true, logprobs = 1 }));
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);
        Assert.All(events, e => Assert.Equal("text_completion", e.GetProperty("object").GetString()));
        Assert.Contains(events, e => e.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":[]}""", 400, "messages")]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":"hi"}""", 400, "messages")]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":[{"role":"user","content":"hi"}],"n":5}""", 400, "n")]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":[{"role":"user","content":"hi"}],"max_tokens":100000}""", 400, "max_completion_tokens")]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", 400, "temperature")]
    [InlineData("/v1/chat/completions", """{"model":"synthetic","messages":[{"role":"user","content":"hi"}],"top_logprobs":3}""", 400, "top_logprobs")]
    [InlineData("/v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""", 404, "model")]
    [InlineData("/v1/completions", """{"model":"synthetic","prompt":"hi","stop":[1,2]}""", 400, "stop")]
    [InlineData("/v1/completions", """{"model":"synthetic","prompt":"hi","seed":1e40}""", 400, "seed")]
    [InlineData("/v1/completions", """{"model":"synthetic"}""", 400, "prompt")]
    [InlineData("/v1/completions", """{"model":"synthetic","prompt":"hi" """, 400, null)]
    public async Task Bad_requests_get_openai_style_errors(string path, string json, int expectedStatus, string? param)
    {
        using var response = await _server.PostAsync(path, json);
        Assert.Equal(expectedStatus, (int)response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.True(error.TryGetProperty("code", out _));
    }

    [Fact]
    public async Task Unknown_paths_get_an_openai_style_404()
    {
        using var response = await _server.Client.GetAsync("/v1/audio/speech");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("unknown_url", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Prompt_longer_than_the_context_is_a_400()
    {
        string longPrompt = string.Join(' ', Enumerable.Repeat("word", 2000));
        var (status, body) = await _server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = longPrompt, max_tokens = 1 });
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", body.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Metrics_count_requests_tokens_queue_and_latency()
    {
        await _server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "abc", max_tokens = 3, temperature = 0 });
        await _server.PostJsonAsync("/v1/completions", new { model = 1 });
        var metrics = await _server.ScrapeAsync();
        Assert.Equal(1, metrics.Value("uqengine_requests_total", "route=/v1/completions", "status=200"));
        Assert.Equal(1, metrics.Value("uqengine_requests_total", "route=/v1/completions", "status=400"));
        Assert.True(metrics.Value("uqengine_completion_tokens_total") > 0, metrics.Text);
        Assert.Equal(0, metrics.Value("uqengine_queue_depth"));
        Assert.Equal(2, metrics.Value("uqengine_request_duration_seconds_count", "route=/v1/completions"));
        Assert.Equal(2, metrics.Value("uqengine_request_duration_seconds_bucket", "route=/v1/completions", "le=+Inf"));
    }
}

[Trait("Category", "Integration")]
public sealed class ServerStreamingStopTests : IAsyncLifetime
{
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync();
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Streamed_text_never_contains_a_stop_string_and_matches_the_plain_answer()
    {
        object Request(string[]? stop, bool stream) => new { model = LoopbackServer.ModelId, prompt = "The quick brown fox", max_tokens = 24, temperature = 0, stop, stream };
        var (_, free) = await _server.PostJsonAsync("/v1/completions", Request(null, false));
        string freeText = free.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(freeText.Length >= 6, $"greedy text too short to pick a stop from: '{freeText}'");
        string stop = freeText.Substring(freeText.Length / 2, 3);

        var (_, plain) = await _server.PostJsonAsync("/v1/completions", Request([stop], false));
        string plainText = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal("stop", plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.DoesNotContain(stop, plainText);

        using var response = await _server.PostAsync("/v1/completions", JsonSerializer.Serialize(Request([stop], true)));
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);
        string streamed = string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(plainText, streamed);
    }

    [Fact]
    public async Task Parallel_requests_are_all_answered_in_turn()
    {
        var requests = Enumerable.Range(0, 12).Select(i => _server.PostJsonAsync(i % 2 == 0 ? "/v1/completions" : "/v1/chat/completions", i % 2 == 0
            ? new { model = LoopbackServer.ModelId, prompt = $"request {i}", max_tokens = 4, seed = i } as object
            : new { model = LoopbackServer.ModelId, messages = new[] { new { role = "user", content = $"request {i}" } }, max_tokens = 4, seed = i, n = 2 })).ToList();
        foreach (var (status, body) in await Task.WhenAll(requests))
        {
            Assert.Equal(200, status);
            Assert.True(body.GetProperty("choices").GetArrayLength() >= 1);
        }
    }
}
