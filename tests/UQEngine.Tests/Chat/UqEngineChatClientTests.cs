using Microsoft.Extensions.AI;
using UQEngine.Chat;
using UQEngine.Inference;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = UQEngine.Inference.ChatMessage;

namespace UQEngine.Tests.Chat;

/// <summary>One model for the class: the synthetic llama loads in milliseconds, but each test makes its own client.</summary>
public sealed class ChatModelFixture : IDisposable
{
    public LlamaModel Model { get; } = LlamaModel.Load(TestModels.SyntheticPath);
    public void Dispose() => Model.Dispose();
}

/// <summary>The in-process IChatClient on the real llama.cpp and the synthetic model, driven through Microsoft.Extensions.AI.</summary>
[Trait("Category", "Integration")]
public sealed class UqEngineChatClientTests(ChatModelFixture fixture) : IClassFixture<ChatModelFixture>
{
    private static readonly AiMessage[] Conversation = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hello there")];

    private UqEngineChatClient NewClient(UqEngineChatClientOptions? options = null) =>
        new(fixture.Model, (options ?? new UqEngineChatClientOptions()) with { ContextSize = 512, Threads = 1 });

    /// <summary>The same answer straight from the Generator: the model's chat template, greedy decoding.</summary>
    private GenerationResult GeneratorAnswer(int maxTokens, IReadOnlyList<string>? stop = null)
    {
        using var context = fixture.Model.CreateContext(new ContextOptions { ContextSize = 512, Threads = 1 });
        using var generator = new Generator(context);
        string prompt = ChatTemplate.Format(fixture.Model, [TemplateMessage.System("Be brief."), TemplateMessage.User("Hello there")]);
        return generator.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens, Stop = stop ?? [], TopAlternatives = 5 });
    }

    [Fact]
    public async Task A_ChatClientBuilder_pipeline_gets_the_generators_answer_and_its_uncertainty()
    {
        using var inner = NewClient();
        int callsSeen = 0;
        using IChatClient pipeline = new ChatClientBuilder(inner)
            .ConfigureOptions(o => o.MaxOutputTokens ??= 12)
            .Use(async (messages, options, next, ct) => { Interlocked.Increment(ref callsSeen); await next(messages, options, ct); })
            .Build();

        ChatResponse response = await pipeline.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0 });

        var expected = GeneratorAnswer(12);
        Assert.Equal(1, callsSeen);
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal("synthetic", response.ModelId);
        Assert.Equal(expected.FinishReason is FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(expected.PromptTokenCount, (int)response.Usage!.InputTokenCount!);
        Assert.Equal(expected.Tokens.Count, (int)response.Usage.OutputTokenCount!);

        ChatUncertainty uncertainty = response.GetUncertainty()!;
        Assert.NotNull(uncertainty);
        Assert.Equal(expected.Tokens.Count, uncertainty.Tokens.Count);
        Assert.Equal(expected.Tokens.Select(t => t.TokenId), uncertainty.Tokens.Select(t => t.TokenId));
        Assert.All(uncertainty.Tokens, t => Assert.Equal(5, t.Alternatives.Count));

        // Independent arithmetic over the per-token records (+ the end-of-generation step, which is not a text token).
        var steps = uncertainty.Tokens.Select(t => ((double)t.LogProbability, (double)t.Entropy)).ToList();
        Assert.True(uncertainty.Scores.TokenCount - steps.Count is 0 or 1);
        if (uncertainty.Scores.TokenCount == steps.Count)
        {
            double sumLogp = steps.Sum(s => s.Item1);
            Assert.Equal(Math.Exp(sumLogp), uncertainty.SequenceProbability, 1e-9);
            Assert.Equal(Math.Exp(-sumLogp / steps.Count), uncertainty.Perplexity, 1e-6);
            Assert.Equal(steps.Average(s => s.Item2), uncertainty.MeanEntropy, 1e-5);
            Assert.Equal(steps.Max(s => s.Item2), uncertainty.MaxEntropy, 1e-5);
            Assert.Equal(steps.Min(s => Math.Exp(s.Item1)), uncertainty.MinTokenProbability, 1e-6);
        }
        Assert.Equal(expected.Uncertainty.SequenceLogProbability, uncertainty.Scores.SequenceLogProbability, 1e-9);

        // The plain entries for consumers that do not reference UQEngine's types.
        Assert.Equal(uncertainty.SequenceProbability, (double)response.AdditionalProperties!["sequence_probability"]!);
        Assert.Equal(uncertainty.Perplexity, (double)response.AdditionalProperties["perplexity"]!);
        Assert.Equal(uncertainty.MeanEntropy, (double)response.AdditionalProperties["mean_entropy"]!);
        Assert.Equal("uqengine", pipeline.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task Streaming_concatenation_equals_the_non_streaming_greedy_answer_token_for_token()
    {
        using var client = NewClient();
        var options = new ChatOptions { MaxOutputTokens = 16, Temperature = 0 };
        ChatResponse whole = await client.GetResponseAsync(Conversation, options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options)) updates.Add(update);

        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        var streamedTokens = updates.Select(u => u.GetToken()).OfType<GeneratedToken>().ToList();
        var wholeTokens = whole.GetUncertainty()!.Tokens;
        Assert.Equal(wholeTokens.Select(t => (t.TokenId, t.LogProbability, t.Entropy, t.Rank)), streamedTokens.Select(t => (t.TokenId, t.LogProbability, t.Entropy, t.Rank)));

        var last = updates[^1];
        Assert.Equal(whole.FinishReason, last.FinishReason);
        Assert.Equal(whole.GetUncertainty()!.Scores, last.GetUncertainty()!.Scores);
        Assert.Equal(whole.Usage!.OutputTokenCount, last.Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);

        // Microsoft.Extensions.AI's own coalescing keeps the uncertainty reachable from the assembled response.
        ChatResponse assembled = updates.ToChatResponse();
        Assert.Equal(whole.Text, assembled.Text);
        Assert.Equal(whole.GetUncertainty()!.Scores, assembled.GetUncertainty()!.Scores);
    }

    [Fact]
    public async Task A_stop_sequence_cuts_both_paths_at_its_first_occurrence_and_none_of_it_is_streamed()
    {
        using var client = NewClient();
        string full = (await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Temperature = 0 })).Text;
        Assert.True(full.Length >= 6, $"the greedy answer is too short to pick a stop from: '{full}'");
        string stop = full.Substring(full.Length / 2, 2);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var options = new ChatOptions { MaxOutputTokens = 24, Temperature = 0, StopSequences = [stop] };
        ChatResponse cut = await client.GetResponseAsync(Conversation, options);
        var streamed = new System.Text.StringBuilder();
        var pieces = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options)) { streamed.Append(update.Text); pieces.Add(streamed.ToString()); }

        Assert.Equal(expected, cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
        Assert.Equal(expected, streamed.ToString());
        Assert.All(pieces, soFar => Assert.StartsWith(soFar, expected)); // no update ever showed text that the stop took back
    }

    [Fact]
    public async Task Seeded_sampling_is_reproducible_and_options_reach_the_sampler()
    {
        using var client = NewClient();
        var seeded = new ChatOptions { MaxOutputTokens = 16, Temperature = 1.5f, Seed = 1234 };
        string a = (await client.GetResponseAsync(Conversation, seeded)).Text;
        string b = (await client.GetResponseAsync(Conversation, seeded)).Text;
        Assert.Equal(a, b);

        var texts = new HashSet<string>();
        for (long seed = 1; seed <= 4; seed++)
            texts.Add((await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 16, Temperature = 1.5f, Seed = seed })).Text);
        Assert.True(texts.Count > 1, "four seeds at temperature 1.5 all gave the same text: the seed or temperature did not reach the sampler");

        var response = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 3, Temperature = 0 });
        Assert.Equal(3, response.GetUncertainty()!.Tokens.Count);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task Cancelling_a_stream_stops_it_and_frees_the_client_for_the_next_call()
    {
        using var client = NewClient();
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 200, Temperature = 0 }, cts.Token))
                if (++seen == 1) cts.Cancel();
        });
        Assert.Equal(1, seen);

        // Leaving a stream early (break) also releases the context.
        await foreach (var _ in client.GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 200, Temperature = 0 })) break;

        var after = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 4, Temperature = 0 }).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(GeneratorAnswer(4).Text, after.Text);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Conversation, cancellationToken: new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task Calls_are_serialized_and_a_caller_waiting_for_its_turn_can_cancel()
    {
        using var client = NewClient();
        var options = new ChatOptions { MaxOutputTokens = 8, Temperature = 0 };

        await using (var holder = client.GetStreamingResponseAsync(Conversation, options).GetAsyncEnumerator())
        {
            Assert.True(await holder.MoveNextAsync()); // this stream now holds the context until it ends or is disposed
            using var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            var waiting = client.GetResponseAsync(Conversation, options, impatient.Token);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        }

        // Concurrent calls on one client queue up and each gets the same answer as alone.
        string alone = GeneratorAnswer(8).Text;
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => client.GetResponseAsync(Conversation, options))));
        Assert.All(answers, r => Assert.Equal(alone, r.Text));
    }

    [Fact]
    public async Task Requests_it_cannot_honour_are_refused_with_the_reason()
    {
        using var client = NewClient();
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new AiMessage(ChatRole.User, string.Concat(Enumerable.Repeat("Hello world ", 600)))]));
        Assert.Contains("context holds 512", tooLong.Message);
        Assert.Contains("ModelId", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new ChatOptions { ModelId = "gpt-4o" }))).Message);
        Assert.Contains("Tools", (await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Conversation,
            new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] }))).Message);
        Assert.Contains("DataContent", (await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(
            [new AiMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")])]))).Message);
        Assert.Contains("role 'tool'", (await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new AiMessage(ChatRole.Tool, "42")]))).Message);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 0 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Conversation, new ChatOptions { TopP = 0 }));

        client.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(Conversation));
    }

    [Fact]
    public async Task An_owning_client_loads_its_model_and_answers()
    {
        using var client = UqEngineChatClient.Open(TestModels.SyntheticPath, new UqEngineChatClientOptions { ModelId = "mine", ContextSize = 256, Threads = 1 });
        var response = await client.GetResponseAsync("Hello", new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal("mine", response.ModelId);
        Assert.InRange(response.GetUncertainty()!.SequenceProbability, 0, 1);
        Assert.NotNull(client.GetService<LlamaModel>());
    }
}
