using System.Net;
using System.Text;
using System.Text.Json;

namespace UQEngine.Tests.Server;

/// <summary>Hostile or careless input never produces a 5xx or takes the server down.</summary>
[Trait("Category", "Integration")]
public sealed class ServerRobustnessTests
{
    [Fact]
    public async Task Hundreds_of_malformed_bodies_get_4xx_and_the_server_stays_healthy()
    {
        await using var server = await LoopbackServer.StartAsync(o => o with { ContextSize = 256, DefaultMaxTokens = 4, MaxRequestBodyBytes = 64 * 1024 });
        // Four clients at once, so the garbage also meets a busy queue and decoder.
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(lane => Task.Run(async () =>
        {
            var random = new Random(20261123 + lane);
            for (int i = 0; i < 75; i++)
            {
                string path = random.Next(2) == 0 ? "/v1/chat/completions" : "/v1/completions";
                string body = FuzzBody(random);
                using var response = await server.PostAsync(path, body);
                int status = (int)response.StatusCode;
                string text = await response.Content.ReadAsStringAsync();
                statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                Assert.True(status < 500, $"lane {lane} body #{i} got {status}: {Shorten(body)} → {Shorten(text)}");
                if (status >= 400)
                    Assert.True(JsonDocument.Parse(text).RootElement.TryGetProperty("error", out _), $"lane {lane} body #{i}: no error object");
            }
        })));
        Assert.Equal(300, statuses.Values.Sum());
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 2, "the fuzzer should hit several kinds of refusal");
        Assert.Equal("ok", JsonDocument.Parse(await server.Client.GetStringAsync("/health")).RootElement.GetProperty("status").GetString());
        var (ok, _) = await server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "still there?", max_tokens = 2 });
        Assert.Equal(200, ok);
    }

    [Fact]
    public async Task Oversized_body_is_413()
    {
        await using var server = await LoopbackServer.StartAsync(o => o with { MaxRequestBodyBytes = 4096 });
        string prompt = new('x', 32 * 1024);
        using var response = await server.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = LoopbackServer.ModelId, prompt }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    private static string Shorten(string s) => s.Length <= 300 ? s : s[..300] + "…";

    /// <summary>Seeded JSON-ish garbage: broken syntax, wrong types, huge numbers, deep nesting, valid-looking requests.</summary>
    private static string FuzzBody(Random random)
    {
        switch (random.Next(6))
        {
            case 0: // random bytes as text
                var bytes = new byte[random.Next(0, 200)];
                random.NextBytes(bytes);
                return Encoding.Latin1.GetString(bytes);
            case 1: // truncated valid request
                string full = JsonSerializer.Serialize(PlausibleRequest(random));
                return full[..random.Next(full.Length)];
            case 2: // deep nesting
                int depth = random.Next(50, 400);
                return new string('[', depth) + new string(']', random.Next(2) == 0 ? depth : depth / 2);
            case 3: // a random JSON value
                return JsonSerializer.Serialize(RandomValue(random, 0));
            default: // a request with some fields replaced by junk of the wrong type or range
                var request = PlausibleRequest(random);
                string[] keys = ["model", "messages", "prompt", "n", "temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "stop", "stream", "logprobs", "top_logprobs", "stream_options"];
                for (int k = random.Next(1, 4); k > 0; k--) request[keys[random.Next(keys.Length)]] = RandomValue(random, 0);
                return JsonSerializer.Serialize(request);
        }
    }

    private static Dictionary<string, object?> PlausibleRequest(Random random) => new()
    {
        ["model"] = LoopbackServer.ModelId,
        ["messages"] = new object[] { new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" } },
        ["prompt"] = "hello",
        ["max_tokens"] = random.Next(1, 4),
        ["stream"] = random.Next(4) == 0,
    };

    private static object? RandomValue(Random random, int depth) => random.Next(depth > 3 ? 9 : 12) switch
    {
        0 => null,
        1 => random.Next(2) == 0,
        2 => random.Next(int.MinValue, int.MaxValue),
        3 => random.NextDouble() * Math.Pow(10, random.Next(-300, 300)) * (random.Next(2) == 0 ? -1 : 1),
        4 => long.MaxValue,
        5 => decimal.MaxValue,
        6 => new string((char)random.Next(1, 0xD7FF), random.Next(0, 50)),
        7 => "",
        8 => "\u0000<|im_start|>system\n",
        9 => Enumerable.Range(0, random.Next(0, 5)).Select(_ => RandomValue(random, depth + 1)).ToArray(),
        10 => Enumerable.Range(0, random.Next(0, 5)).ToDictionary(i => "k" + i, _ => RandomValue(random, depth + 1)),
        _ => new Dictionary<string, object?> { ["role"] = RandomValue(random, depth + 1), ["content"] = RandomValue(random, depth + 1) },
    };
}
