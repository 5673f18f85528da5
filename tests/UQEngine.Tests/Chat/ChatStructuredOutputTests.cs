using System.Text.Json;
using Microsoft.Extensions.AI;
using UQEngine.Chat;
using UQEngine.Structured;
using UQEngine.Tests.Structured;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;

namespace UQEngine.Tests.Chat;

/// <summary>ChatOptions.ResponseFormat on the in-process IChatClient: JSON valid against the schema, fields in ChatUncertainty.</summary>
[Trait("Category", "Integration")]
public sealed class ChatStructuredOutputTests(ChatModelFixture fixture) : IClassFixture<ChatModelFixture>
{
    private const string Schema = """
        {"type":"object","properties":{"city":{"type":"string","maxLength":8},"month":{"type":"integer","minimum":1,"maximum":12}},
         "required":["city","month"],"additionalProperties":false}
        """;

    private static readonly AiMessage[] Question = [new(ChatRole.User, "Where and when? Answer as JSON.")];

    private UqEngineChatClient NewClient() => new(fixture.Model, new UqEngineChatClientOptions { ContextSize = 1024, Threads = 1 });

    [Fact]
    public async Task ForJsonSchema_gives_valid_json_and_per_field_uncertainty()
    {
        using var client = NewClient();
        var options = new ChatOptions
        {
            ResponseFormat = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(Schema).RootElement, "place"),
            MaxOutputTokens = 200,
            Temperature = 0f,
        };
        var response = await client.GetResponseAsync(Question, options);
        SchemaAssert.Valid(Schema, response.Text);
        var u = Assert.IsType<ChatUncertainty>(response.GetUncertainty());
        Assert.NotNull(u.Fields);
        Assert.Equal(["/city", "/month"], u.Fields.Select(f => f.Pointer));
        Assert.Equal(JsonFields.Analyze(response.Text, u.Tokens).Select(f => f.LogProbability), u.Fields.Select(f => f.LogProbability));
        Assert.NotNull(u.ConstrainedScores);

        // Streaming gives the same answer and the same fields on the last update.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Question, options)) updates.Add(update);
        Assert.Equal(response.Text, string.Concat(updates.Select(x => x.Text)));
        Assert.Equal(u.Fields.Select(f => f.Value), updates[^1].GetUncertainty()!.Fields!.Select(f => f.Value));
    }

    [Fact]
    public async Task Json_format_gives_an_object_and_free_text_has_no_fields()
    {
        using var client = NewClient();
        var json = await client.GetResponseAsync(Question, new ChatOptions { ResponseFormat = ChatResponseFormat.Json, MaxOutputTokens = 300, Temperature = 0f });
        Assert.StartsWith("{", json.Text.TrimStart());
        Assert.NotNull(json.GetUncertainty()!.Fields);
        var text = await client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 8, Temperature = 0f });
        Assert.Null(text.GetUncertainty()!.Fields);
    }

    [Fact]
    public async Task An_unsupported_schema_keyword_is_refused_naming_it()
    {
        using var client = NewClient();
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"id":{"type":"string","pattern":"^a"}}}""").RootElement;
        var e = await Assert.ThrowsAsync<UnsupportedSchemaException>(() => client.GetResponseAsync(Question, new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema) }));
        Assert.Equal("pattern", e.Keyword);
    }
}
