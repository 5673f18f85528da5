using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using UQEngine.Tests.Structured;

namespace UQEngine.Tests.Server;

/// <summary>
/// response_format on /v1/chat/completions: the OpenAI .NET SDK's structured-output call and raw HTTP get JSON valid
/// against their schema (the synthetic model is random, so only the grammar makes it so), with per-field uncertainty.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StructuredOutputTests : IAsyncLifetime
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":8},"pet":{"enum":["cat","dog","owl"]},
         "month":{"type":"integer","minimum":1,"maximum":12},"tags":{"type":"array","items":{"type":"boolean"},"maxItems":2}},
         "required":["name","pet","month","tags"],"additionalProperties":false}
        """;

    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { ContextSize = 2048 });
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static string Body(string responseFormat, string extra = "") => $$"""
        {"model":"{{LoopbackServer.ModelId}}","messages":[{"role":"user","content":"Give a person as JSON"}],"max_completion_tokens":200,"response_format":{{responseFormat}}{{extra}}}
        """;

    private static string SchemaFormat(string schema) => $$$"""{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":{{{schema}}}}}""";

    [Fact]
    public async Task Sdk_structured_output_validates_against_the_schema_and_reports_fields()
    {
        var client = new ChatClient(LoopbackServer.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") });
        var options = new ChatCompletionOptions
        {
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
            MaxOutputTokenCount = 200,
            Temperature = 0f,
        };
        ClientResult<ChatCompletion> result = await client.CompleteChatAsync([new UserChatMessage("Give a person as JSON")], options);
        Assert.Equal(ChatFinishReason.Stop, result.Value.FinishReason);
        string content = result.Value.Content[0].Text;
        SchemaAssert.Valid(Schema, content);

        using var raw = JsonDocument.Parse(result.GetRawResponse().Content);
        var uncertainty = raw.RootElement.GetProperty("choices")[0].GetProperty("uncertainty");
        var fields = uncertainty.GetProperty("fields").EnumerateArray().ToList();
        var pointers = fields.Select(f => f.GetProperty("pointer").GetString()).ToList();
        Assert.Equal(["/name", "/pet", "/month"], pointers.Take(3));
        using var parsed = JsonDocument.Parse(content);
        foreach (var f in fields)
        {
            Assert.InRange(f.GetProperty("probability").GetDouble(), 0, 1);
            Assert.InRange(f.GetProperty("allowed_mass").GetDouble(), 0, 1.0001);
            Assert.True(f.GetProperty("constrained_logprob").GetDouble() >= f.GetProperty("logprob").GetDouble() - 1e-4);
            Assert.False(f.TryGetProperty("agreement", out _)); // n = 1
        }
        Assert.Equal(parsed.RootElement.GetProperty("pet").GetRawText(), fields[1].GetProperty("value").GetString());
        Assert.True(uncertainty.GetProperty("constrained_sequence_logprob").GetDouble() >= uncertainty.GetProperty("sequence_logprob").GetDouble());
    }

    [Fact]
    public async Task Several_sampled_choices_all_validate_and_fields_carry_agreement()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/chat/completions", JsonDocument.Parse(Body(SchemaFormat(Schema), ""","n":3,"temperature":1.2,"seed":5""")).RootElement);
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(3, choices.Count);
        var pets = choices.Select(c => JsonDocument.Parse(c.GetProperty("message").GetProperty("content").GetString()!).RootElement.GetProperty("pet").GetString()).ToList();
        foreach (var c in choices)
        {
            SchemaAssert.Valid(Schema, c.GetProperty("message").GetProperty("content").GetString()!);
            var pet = c.GetProperty("uncertainty").GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("pointer").GetString() == "/pet");
            string mine = JsonDocument.Parse(pet.GetProperty("value").GetString()!).RootElement.GetString()!;
            Assert.Equal(pets.Count(p => p == mine) / 3.0, pet.GetProperty("agreement").GetDouble(), 6);
        }
    }

    [Fact]
    public async Task Json_object_mode_answers_a_json_object()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/chat/completions", JsonDocument.Parse(Body("""{"type":"json_object"}""", ""","max_completion_tokens":400""")).RootElement);
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        string content = choice.GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("{", content.TrimStart());
        if (choice.GetProperty("finish_reason").GetString() == "stop")
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(content).RootElement.ValueKind);
        Assert.True(choice.GetProperty("uncertainty").TryGetProperty("fields", out _));
    }

    [Fact]
    public async Task Streaming_structured_output_validates_and_the_finish_chunk_has_the_fields()
    {
        using var response = await _server.PostAsync("/v1/chat/completions", Body(SchemaFormat(Schema), ""","stream":true"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);
        string content = string.Concat(events.SelectMany(e => e.GetProperty("choices").EnumerateArray())
            .Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : ""));
        SchemaAssert.Valid(Schema, content);
        var finish = events.SelectMany(e => e.GetProperty("choices").EnumerateArray()).Single(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        var fields = finish.GetProperty("uncertainty").GetProperty("fields");
        Assert.Contains(fields.EnumerateArray(), f => f.GetProperty("pointer").GetString() == "/month");
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]+$"}}}""", "'pattern'", "unsupported_schema", "response_format.json_schema.schema")]
    [InlineData("""{"type":"object","if":{}}""", "'if'", "unsupported_schema", "response_format.json_schema.schema")]
    public async Task An_unsupported_schema_is_400_naming_the_keyword(string schema, string named, string code, string param)
    {
        using var response = await _server.PostAsync("/v1/chat/completions", Body(SchemaFormat(schema)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Contains(named, error.GetProperty("message").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("""{"type":"xml"}""", "response_format.type")]
    [InlineData("""{"type":"json_schema"}""", "response_format.json_schema")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x"}}""", "response_format.json_schema.schema")]
    [InlineData("\"json\"", "response_format")]
    public async Task A_malformed_response_format_is_400_naming_the_field(string format, string param)
    {
        using var response = await _server.PostAsync("/v1/chat/completions", Body(format));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Response_format_on_legacy_completions_and_tools_with_it_stay_refused()
    {
        using var completion = await _server.PostAsync("/v1/completions", $$$"""{"model":"{{{LoopbackServer.ModelId}}}","prompt":"hi","response_format":{"type":"json_object"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, completion.StatusCode);
        Assert.Contains("/v1/chat/completions", await completion.Content.ReadAsStringAsync());
        using var tools = await _server.PostAsync("/v1/chat/completions", Body("""{"type":"json_object"}""", ""","tools":[{"type":"function","function":{"name":"f"}}]"""));
        Assert.Equal(HttpStatusCode.BadRequest, tools.StatusCode);
        Assert.Contains("does not call tools", await tools.Content.ReadAsStringAsync());
    }
}
