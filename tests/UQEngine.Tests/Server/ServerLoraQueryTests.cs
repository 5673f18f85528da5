using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Server;
using UQEngine.Tests.Inference;

namespace UQEngine.Tests.Server;

/// <summary>`serve --lora-query FILE`: each choice carries the adapter's reading, the same as the library's.</summary>
[Trait("Category", "Integration")]
public sealed class ServerLoraQueryTests : IAsyncLifetime
{
    private const string Prompt = "Hello world, the";
    private static readonly Lazy<string> AdapterPath = new(() =>
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        return LoraQueryTests.WriteQueryAdapter(model, "serve-query-lora.gguf");
    });

    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { LoraQueryPath = AdapterPath.Value });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static object Completion(bool stream, params string[] methods) => new
    {
        model = LoopbackServer.ModelId, prompt = Prompt, max_tokens = 6, temperature = 1.3, seed = 5, n = 3, stream,
        uncertainty = new { methods },
    };

    [Fact]
    public async Task Each_choice_carries_the_confidence_the_library_reads_for_the_same_prompt_and_answer()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/completions", Completion(false, "lora_query"));
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(3, choices.Count);

        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        using var generator = new Generator(context);
        using var query = LoraQuery.Load(model, AdapterPath.Value);
        // What the server decodes for a completion without parse_special_tokens.
        int[] promptTokens = model.Vocabulary.Tokenize(Prompt, addSpecial: true, parseSpecial: false);
        var confidences = new List<double>();
        foreach (var choice in choices)
        {
            var served = choice.GetProperty("uncertainty").GetProperty("lora_query");
            var reading = query.Ask(generator, promptTokens, choice.GetProperty("text").GetString()!);
            // The same tokens decoded on another context of another size: float rounding only.
            Assert.Equal(reading.Confidence, served.GetProperty("confidence").GetDouble(), 1e-5);
            Assert.Equal(reading.Logit, served.GetProperty("margin").GetDouble(), 1e-4);
            Assert.Equal(query.SuffixTokens.Count, served.GetProperty("query_tokens").GetInt32());
            Assert.True(served.GetProperty("elapsed_ms").GetDouble() > 0);
            confidences.Add(reading.Confidence);
        }
        Assert.True(choices.Select(c => c.GetProperty("text").GetString()).Distinct().Count() == 1 || confidences.Distinct().Count() > 1,
            "different answers should get different readings (otherwise the comparison is weak)");

        // Not asked, not computed; and the adapter never touched the batcher: the same seeded request gives the same
        // choices, bit for bit, after queries as before.
        var (_, plain) = await _server.PostJsonAsync("/v1/completions", Completion(false));
        for (int c = 0; c < 3; c++)
        {
            var p = plain.GetProperty("choices")[c];
            Assert.False(p.GetProperty("uncertainty").TryGetProperty("lora_query", out _));
            Assert.Equal(choices[c].GetProperty("text").GetString(), p.GetProperty("text").GetString());
            Assert.Equal(choices[c].GetProperty("uncertainty").GetProperty("sequence_logprob").GetDouble(), p.GetProperty("uncertainty").GetProperty("sequence_logprob").GetDouble());
        }
    }

    [Fact]
    public async Task Concurrent_requests_share_the_query_context_one_at_a_time_and_get_their_own_readings()
    {
        object Request(int seed) => new
        {
            model = LoopbackServer.ModelId, prompt = Prompt, max_tokens = 6, temperature = 1.3, seed, n = 2, uncertainty = new[] { "lora_query" },
        };
        int[] seeds = [11, 12, 13, 14];
        var alone = new List<JsonElement>();
        foreach (int seed in seeds) alone.Add((await _server.PostJsonAsync("/v1/completions", Request(seed))).Body);
        var together = await Task.WhenAll(seeds.Select(seed => _server.PostJsonAsync("/v1/completions", Request(seed))));
        for (int r = 0; r < seeds.Length; r++)
        {
            Assert.Equal(200, together[r].Status);
            for (int c = 0; c < 2; c++)
            {
                var a = alone[r].GetProperty("choices")[c];
                var t = together[r].Body.GetProperty("choices")[c];
                Assert.Equal(a.GetProperty("text").GetString(), t.GetProperty("text").GetString());
                Assert.Equal(a.GetProperty("uncertainty").GetProperty("lora_query").GetProperty("confidence").GetDouble(),
                    t.GetProperty("uncertainty").GetProperty("lora_query").GetProperty("confidence").GetDouble(), 1e-9);
            }
        }
    }

    [Fact]
    public async Task Streaming_carries_the_reading_on_each_choices_finish_chunk()
    {
        var (_, whole) = await _server.PostJsonAsync("/v1/completions", Completion(false, "lora_query"));
        using var response = await _server.PostAsync("/v1/completions", JsonSerializer.Serialize(Completion(true, "lora_query")));
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);
        for (int c = 0; c < 3; c++)
        {
            var finish = Assert.Single(events.SelectMany(e => e.GetProperty("choices").EnumerateArray()),
                ch => ch.GetProperty("index").GetInt32() == c && ch.GetProperty("finish_reason").ValueKind == JsonValueKind.String);
            double expected = whole.GetProperty("choices")[c].GetProperty("uncertainty").GetProperty("lora_query").GetProperty("confidence").GetDouble();
            Assert.Equal(expected, finish.GetProperty("uncertainty").GetProperty("lora_query").GetProperty("confidence").GetDouble(), 1e-9);
        }
    }

    [Fact]
    public async Task Lora_query_without_a_loaded_adapter_is_a_400()
    {
        await using var bare = await LoopbackServer.StartAsync();
        var (status, body) = await bare.PostJsonAsync("/v1/completions", Completion(false, "lora_query"));
        Assert.Equal(400, status);
        var error = body.GetProperty("error");
        Assert.Contains("--lora-query", error.GetProperty("message").GetString());
        Assert.Equal("lora_query_not_loaded", error.GetProperty("code").GetString());
    }

    [Fact]
    public void An_adapter_trained_on_another_base_model_is_refused_at_start_up()
    {
        string other;
        using (var model = LlamaModel.Load(TestModels.SyntheticPath))
            other = LoraQueryTests.WriteQueryAdapter(model, "serve-query-lora-other.gguf", baseSha256: new string('b', 64));
        var options = new ServerOptions { ModelPath = TestModels.SyntheticPath, Port = 0, ContextSize = 256, Threads = 1, LoraQueryPath = other };
        var e = Assert.Throws<InferenceException>(() => UqEngineServer.Build(options));
        Assert.Contains("trained on synthetic.gguf", e.Message);
        Assert.Contains(TestModels.SyntheticPath, e.Message);
    }
}
