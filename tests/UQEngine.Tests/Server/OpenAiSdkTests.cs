using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace UQEngine.Tests.Server;

/// <summary>The official OpenAI .NET SDK talks to the server unchanged; the uncertainty fields ride along in the raw JSON.</summary>
[Trait("Category", "Integration")]
public sealed class OpenAiSdkTests : IAsyncLifetime
{
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { ApiKey = "sdk-key" });
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private ChatClient Client() => new(LoopbackServer.ModelId, new ApiKeyCredential("sdk-key"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") });

    private static readonly ChatMessage[] Messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Hello there")];

    [Fact]
    public async Task Sdk_chat_completion_with_logprobs()
    {
        var options = new ChatCompletionOptions { IncludeLogProbabilities = true, TopLogProbabilityCount = 2, MaxOutputTokenCount = 8, Temperature = 0f };
        ClientResult<ChatCompletion> result = await Client().CompleteChatAsync(Messages, options);
        ChatCompletion completion = result.Value;

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(completion.Usage.OutputTokenCount, completion.ContentTokenLogProbabilities.Count);
        Assert.NotEmpty(completion.ContentTokenLogProbabilities);
        Assert.All(completion.ContentTokenLogProbabilities, t =>
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(2, t.TopLogProbabilities.Count);
        });

        using var raw = JsonDocument.Parse(result.GetRawResponse().Content);
        var choice = raw.RootElement.GetProperty("choices")[0];
        Assert.InRange(choice.GetProperty("uncertainty").GetProperty("sequence_probability").GetDouble(), 0, 1);
        Assert.True(choice.GetProperty("logprobs").GetProperty("content")[0].TryGetProperty("entropy", out _));
    }

    [Fact]
    public async Task Sdk_streaming_chat_with_logprobs()
    {
        var options = new ChatCompletionOptions { IncludeLogProbabilities = true, TopLogProbabilityCount = 1, MaxOutputTokenCount = 6, Temperature = 0f };
        var text = new System.Text.StringBuilder();
        int logprobTokens = 0;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (StreamingChatCompletionUpdate update in Client().CompleteChatStreamingAsync(Messages, options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            logprobTokens += update.ContentTokenLogProbabilities.Count;
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.NotNull(finish);
        Assert.NotNull(usage); // the SDK asks for stream_options.include_usage
        Assert.Equal(usage.OutputTokenCount, logprobTokens);

        ChatCompletion whole = await Client().CompleteChatAsync(Messages, new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0f });
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString());
    }

    [Fact]
    public async Task Sdk_with_a_wrong_key_gets_401()
    {
        var client = new ChatClient(LoopbackServer.ModelId, new ApiKeyCredential("wrong"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") });
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync(Messages));
        Assert.Equal(401, error.Status);
    }
}
