using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using UQEngine.Chat;
using OpenAiChat = OpenAI.Chat;

namespace UQEngine.Tests.Server;

/// <summary>
/// Microsoft.Extensions.AI's IChatClient over HTTP (its OpenAI adapter on the official SDK) talks to `uqengine serve`,
/// and gets the same answer and the same scores as the in-process IChatClient on the same model file.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ExtensionsAiHttpTests : IAsyncLifetime
{
    private const string Key = "meai-key";
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { ApiKey = Key });
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private IChatClient HttpClient() =>
        new OpenAiChat.ChatClient(LoopbackServer.ModelId, new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") }).AsIChatClient();

    private static UqEngineChatClient InProcess() =>
        UqEngineChatClient.Open(TestModels.SyntheticPath, new UqEngineChatClientOptions { ModelId = LoopbackServer.ModelId, ContextSize = 512, Threads = 1, TopAlternatives = 3 });

    private static readonly ChatMessage[] Conversation = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hello there")];

    [Fact]
    public async Task Over_http_the_answer_tokens_and_scores_match_the_in_process_client()
    {
        using IChatClient remote = new ChatClientBuilder(HttpClient()).ConfigureOptions(o => o.MaxOutputTokens ??= 10).Build();
        var options = new ChatOptions
        {
            Temperature = 0,
            // The adapter passes SDK-specific settings through the raw options: ask for logprobs like any OpenAI client.
            RawRepresentationFactory = _ => new OpenAiChat.ChatCompletionOptions { IncludeLogProbabilities = true, TopLogProbabilityCount = 3 },
        };
        ChatResponse overHttp = await remote.GetResponseAsync(Conversation, options);

        using var local = InProcess();
        ChatResponse inProcess = await local.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 10 });
        ChatUncertainty expected = inProcess.GetUncertainty()!;

        Assert.Equal(inProcess.Text, overHttp.Text);
        Assert.Equal(inProcess.FinishReason, overHttp.FinishReason);
        Assert.Equal(inProcess.Usage!.OutputTokenCount, overHttp.Usage!.OutputTokenCount);
        Assert.Equal(LoopbackServer.ModelId, overHttp.ModelId);

        var completion = Assert.IsType<OpenAiChat.ChatCompletion>(overHttp.RawRepresentation);
        Assert.Equal(expected.Tokens.Count, completion.ContentTokenLogProbabilities.Count);
        for (int i = 0; i < expected.Tokens.Count; i++)
        {
            var http = completion.ContentTokenLogProbabilities[i];
            Assert.Equal(expected.Tokens[i].Text, http.Token);
            Assert.Equal(expected.Tokens[i].LogProbability, http.LogProbability, 1e-5f);
            Assert.Equal(expected.Tokens[i].Alternatives.Select(a => a.Text), http.TopLogProbabilities.Select(a => a.Token));
        }

        // UQEngine's additions are not in the SDK's types, but the SDK keeps unknown JSON and writes it back out.
        using var raw = JsonDocument.Parse(ModelReaderWriter.Write(completion));
        var choice = raw.RootElement.GetProperty("choices")[0];
        var uncertainty = choice.GetProperty("uncertainty");
        Assert.Equal(expected.SequenceProbability, uncertainty.GetProperty("sequence_probability").GetDouble(), 1e-9);
        Assert.Equal(expected.Perplexity, uncertainty.GetProperty("perplexity").GetDouble(), 1e-6);
        Assert.Equal(expected.MeanEntropy, uncertainty.GetProperty("mean_entropy").GetDouble(), 1e-6);
        var firstEntry = choice.GetProperty("logprobs").GetProperty("content")[0];
        Assert.Equal(expected.Tokens[0].Entropy, firstEntry.GetProperty("entropy").GetDouble(), 1e-5);
        Assert.Equal(expected.Tokens[0].Rank, firstEntry.GetProperty("rank").GetInt32());
    }

    [Fact]
    public async Task Streaming_over_http_concatenates_to_the_non_streaming_answer()
    {
        IChatClient remote = HttpClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        ChatResponse whole = await remote.GetResponseAsync(Conversation, options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in remote.GetStreamingResponseAsync(Conversation, options)) updates.Add(update);

        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(whole.FinishReason, updates.Select(u => u.FinishReason).Where(f => f is not null).Distinct().Single()); // the adapter repeats it on the usage update
        ChatResponse assembled = updates.ToChatResponse();
        Assert.Equal(whole.Usage!.OutputTokenCount, assembled.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Errors_reach_the_IChatClient_caller_as_exceptions_with_the_servers_message()
    {
        IChatClient wrongModel = new OpenAiChat.ChatClient("no-such-model", new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") }).AsIChatClient();
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => wrongModel.GetResponseAsync(Conversation));
        Assert.Equal(404, notFound.Status);
        Assert.Contains("no-such-model", notFound.Message);

        var tooMany = await Assert.ThrowsAsync<ClientResultException>(() => HttpClient().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 100_000 }));
        Assert.Equal(400, tooMany.Status);
        Assert.Contains("context", tooMany.Message);
    }
}
