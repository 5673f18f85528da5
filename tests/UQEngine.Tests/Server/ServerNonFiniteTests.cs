using UQEngine.Tests.Gguf;
using UQEngine.Tests.ModelCheck;

namespace UQEngine.Tests.Server;

/// <summary>A model with NaN weights: the answer's uncertainty says its logits were not finite instead of passing a uniform distribution off as real.</summary>
[Trait("Category", "Integration")]
public sealed class ServerNonFiniteTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private LoopbackServer _nanServer = null!;
    private LoopbackServer _soundServer = null!;

    public async ValueTask InitializeAsync()
    {
        // Token 0's output row is NaN: its logit is NaN at every step, the others stay finite, so greedy decoding
        // goes on and every step is flagged.
        string nan = BrokenModels.WithNonFiniteTensor(_temp.File("nan.gguf"), "output.weight", count: 64);
        _nanServer = await LoopbackServer.StartAsync(o => o with { ModelPath = nan });
        _soundServer = await LoopbackServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _nanServer.DisposeAsync();
        await _soundServer.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Chat_and_completion_answers_of_a_NaN_model_report_their_non_finite_steps()
    {
        var (status, chat) = await _nanServer.PostJsonAsync("/v1/chat/completions", new
        {
            model = LoopbackServer.ModelId, messages = new[] { new { role = "user", content = "Hello" } }, max_tokens = 3, temperature = 0,
        });
        Assert.Equal(200, status);
        var uncertainty = chat.GetProperty("choices")[0].GetProperty("uncertainty");
        int steps = uncertainty.GetProperty("token_count").GetInt32();
        Assert.True(steps > 0);
        Assert.Equal(steps, uncertainty.GetProperty("non_finite_steps").GetInt32());

        var (status2, text) = await _nanServer.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "Once", max_tokens = 2, temperature = 0 });
        Assert.Equal(200, status2);
        Assert.True(text.GetProperty("choices")[0].GetProperty("uncertainty").GetProperty("non_finite_steps").GetInt32() > 0);
    }

    [Fact]
    public async Task A_model_whose_logits_are_all_NaN_is_a_clear_error_and_the_server_keeps_serving()
    {
        string allNaN = BrokenModels.WithNonFiniteTensor(_temp.File("all-nan.gguf"));
        await using var server = await LoopbackServer.StartAsync(o => o with { ModelPath = allNaN });
        using var response = await server.PostAsync("/v1/completions", "{\"model\":\"synthetic\",\"prompt\":\"Once\",\"max_tokens\":2,\"temperature\":0}");
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(500, (int)response.StatusCode); // the model is broken, not the request
        Assert.Contains("only NaN logits", body);
        using var models = await server.Client.GetAsync("/v1/models");
        Assert.Equal(200, (int)models.StatusCode);
    }

    [Fact]
    public async Task A_sound_model_has_no_non_finite_field()
    {
        var (status, body) = await _soundServer.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "Once", max_tokens = 2, temperature = 0 });
        Assert.Equal(200, status);
        Assert.False(body.GetProperty("choices")[0].GetProperty("uncertainty").TryGetProperty("non_finite_steps", out _));
    }
}
