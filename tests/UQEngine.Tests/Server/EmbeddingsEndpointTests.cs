using System.ClientModel;
using System.ClientModel.Primitives;
using System.Numerics.Tensors;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;
using UQEngine.Inference;
using UQEngine.MiniLM;

namespace UQEngine.Tests.Server;

/// <summary>POST /v1/embeddings through the official OpenAI .NET SDK's EmbeddingClient and raw HTTP.</summary>
[Trait("Category", "Integration")]
public sealed class EmbeddingsEndpointTests : IAsyncLifetime
{
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync();
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static EmbeddingClient Client(LoopbackServer server, string model = LoopbackServer.ModelId) =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress + "/v1") });

    /// <summary>The served model's width, read from its file, not from the server.</summary>
    private static int ModelWidth(string path)
    {
        using var model = LlamaModel.Load(path);
        return model.Facts.EmbeddingSize;
    }

    private static float[] Floats(JsonElement item) => [.. item.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle())];

    [Fact]
    public async Task The_sdk_embeds_strings_with_the_served_model_in_float_and_base64()
    {
        string[] inputs = ["The cat sat on the mat.", "Quarterly revenue grew by four percent.", "The cat sat on the mat."];
        int width = ModelWidth(TestModels.SyntheticPath);

        // The SDK's typed call (it asks for base64 and decodes it).
        var result = await Client(_server).GenerateEmbeddingsAsync(inputs, new EmbeddingGenerationOptions { Dimensions = width });
        var typed = result.Value.OrderBy(e => e.Index).Select(e => e.ToFloats().ToArray()).ToArray();
        Assert.Equal(3, typed.Length);
        Assert.All(typed, v => Assert.Equal(width, v.Length));
        Assert.All(typed, v => Assert.Equal(1.0, TensorPrimitives.Norm(v), 4)); // L2-normalised
        Assert.Equal(typed[0], typed[2]); // identical strings, identical vectors
        Assert.NotEqual(typed[0], typed[1]);
        Assert.True(TensorPrimitives.CosineSimilarity(typed[0], typed[1]) < 0.9999f);
        Assert.True(result.Value.Usage.InputTokenCount > 0);
        Assert.Equal(result.Value.Usage.InputTokenCount, result.Value.Usage.TotalTokenCount);

        // The SDK's protocol call with encoding_format float: the same numbers as JSON arrays.
        foreach (string format in new[] { "float", "base64" })
        {
            var raw = await Client(_server).GenerateEmbeddingsAsync(BinaryContent.Create(BinaryData.FromObjectAsJson(new { model = LoopbackServer.ModelId, input = inputs, encoding_format = format })));
            using var json = JsonDocument.Parse(raw.GetRawResponse().Content);
            var root = json.RootElement;
            Assert.Equal("list", root.GetProperty("object").GetString());
            Assert.Equal(LoopbackServer.ModelId, root.GetProperty("model").GetString());
            Assert.Equal(result.Value.Usage.InputTokenCount, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
            var data = root.GetProperty("data").EnumerateArray().ToArray();
            for (int i = 0; i < data.Length; i++)
            {
                Assert.Equal("embedding", data[i].GetProperty("object").GetString());
                Assert.Equal(i, data[i].GetProperty("index").GetInt32());
                float[] v = format == "float" ? Floats(data[i]) : FromBase64(data[i].GetProperty("embedding").GetString()!);
                Assert.Equal(typed[i], v);
            }
        }
    }

    private static float[] FromBase64(string text)
    {
        byte[] bytes = Convert.FromBase64String(text);
        return [.. Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, i * 4))];
    }

    [Fact]
    public async Task Token_arrays_embed_as_their_text_does_and_count_their_tokens()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = new[] { new[] { 5, 6, 7 }, new[] { 8, 9 } } });
        Assert.Equal(200, status);
        Assert.Equal(5, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var pair = body.GetProperty("data").EnumerateArray().Select(Floats).ToArray();

        var (single, one) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = new[] { 5, 6, 7 } });
        Assert.Equal(200, single);
        // Alone or beside another input: the same vector up to the last bits of llama.cpp's batched sums.
        Assert.True(TensorPrimitives.CosineSimilarity(pair[0], Floats(Assert.Single(one.GetProperty("data").EnumerateArray()))) > 0.99999f);
        Assert.NotEqual(pair[0], pair[1]);

        // A string and its own tokens (as the server's tokenizer makes them) give one vector.
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        int[] tokens = model.Vocabulary.Tokenize("hello world", addSpecial: true);
        var (_, fromText) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = "hello world" });
        var (_, fromTokens) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = tokens });
        Assert.Equal(Floats(fromText.GetProperty("data")[0]), Floats(fromTokens.GetProperty("data")[0]));
        Assert.Equal(tokens.Length, fromText.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var metrics = await _server.ScrapeAsync();
        Assert.True(metrics.Value("uqengine_requests_total", "route=/v1/embeddings", "status=200") >= 4);
        Assert.True(metrics.Value("uqengine_embedding_tokens_total") >= 5 + 3 + 2 * tokens.Length);
    }

    public static TheoryData<string, string, string?> BadBodies => new()
    {
        { """{"model":"synthetic"}""", "input", null },
        { """{"model":"synthetic","input":""}""", "input", null },
        { """{"model":"synthetic","input":[]}""", "input", null },
        { """{"model":"synthetic","input":["a",""]}""", "input", null },
        { """{"model":"synthetic","input":["a",3]}""", "input", null },
        { """{"model":"synthetic","input":[1,"a"]}""", "input", null },
        { """{"model":"synthetic","input":[1.5]}""", "input", null },
        { """{"model":"synthetic","input":[[1],[]]}""", "input", null },
        { """{"model":"synthetic","input":{"text":"a"}}""", "input", null },
        { """{"model":"synthetic","input":7}""", "input", null },
        { """{"model":"synthetic","input":[999999]}""", "input", "invalid_token" },
        { """{"model":"synthetic","input":"a","encoding_format":"hex"}""", "encoding_format", null },
        { """{"model":"synthetic","input":"a","dimensions":8}""", "dimensions", "unsupported_dimensions" },
        { """{"model":"synthetic","input":"a","dimensions":"64"}""", "dimensions", null },
        { """{"input":"a"}""", "model", null },
        { """["a"]""", null!, null },
        { "{\"model\":\"synthetic\",\"input\":", null!, "invalid_json" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_is_an_openai_style_400_naming_the_parameter(string json, string? param, string? code)
    {
        using var response = await _server.PostAsync("/v1/embeddings", json);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal(400, (int)response.StatusCode);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Too_long_input_unknown_model_and_the_right_dimensions()
    {
        string longText = string.Join(' ', Enumerable.Repeat("word", 2000));
        var (status, body) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = new[] { "short", longText } });
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("input[1]", body.GetProperty("error").GetProperty("message").GetString());

        (status, body) = await _server.PostJsonAsync("/v1/embeddings", new { model = "text-embedding-3-small", input = "a" });
        Assert.Equal(404, status);
        Assert.Equal("model_not_found", body.GetProperty("error").GetProperty("code").GetString());

        int width = ModelWidth(TestModels.SyntheticPath);
        (status, body) = await _server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = "a", dimensions = width });
        Assert.Equal(200, status);
        Assert.Equal(width, Floats(body.GetProperty("data")[0]).Length);

        // The server still completes after all of that.
        Assert.Equal(200, (await _server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = "abc", max_tokens = 2 })).Status);
    }

    [Fact]
    public async Task An_embedding_model_file_serves_minilm_vectors_that_match_the_onnx_reference()
    {
        string dir = Path.Combine(Path.GetTempPath(), "uqengine-minilm-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = MiniLmGgufConverter.Ensure(f16: false, cacheDirectory: dir);
            await using var server = await LoopbackServer.StartAsync(o => o with { EmbeddingModelPath = path });
            string[] sentences = ["A man is playing a guitar.", "The stock market fell sharply today.", "A person plays an instrument."];
            string modelId = Path.GetFileNameWithoutExtension(path);
            var result = await Client(server, modelId).GenerateEmbeddingsAsync(sentences);
            var served = result.Value.OrderBy(e => e.Index).Select(e => e.ToFloats().ToArray()).ToArray();
            Assert.All(served, v => Assert.Equal(384, v.Length));

            using var onnx = new MiniLmEmbedder(threads: 1);
            var reference = onnx.Embed(sentences);
            for (int i = 0; i < sentences.Length; i++)
                Assert.True(TensorPrimitives.CosineSimilarity(served[i], reference[i]) >= 0.999f, $"sentence {i} differs from the ONNX MiniLM");
            // A real sentence model: the paraphrase is closer than the unrelated sentence.
            Assert.True(TensorPrimitives.CosineSimilarity(served[0], served[2]) > TensorPrimitives.CosineSimilarity(served[0], served[1]));

            // With a file, the served model's id embeds with the file too (clients often send the chat model's name).
            var (status, body) = await server.PostJsonAsync("/v1/embeddings", new { model = LoopbackServer.ModelId, input = "a" });
            Assert.Equal(200, status);
            Assert.Equal(384, Floats(body.GetProperty("data")[0]).Length);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
