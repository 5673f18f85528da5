using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>
/// The /v1/embeddings backend: llama.cpp's pooling over a context of its own, beside the batcher's. The batcher's
/// context is a generation context (per-token logits, KV slots reserved for sampling); llama.cpp fixes pooling when
/// a context is created, so embeddings cannot ride in its steps. This context is owned here and used by one request
/// at a time (a semaphore), as the batcher's is by its thread. The served model's weights are shared, not loaded twice.
/// </summary>
internal sealed class EmbeddingService : IDisposable
{
    /// <summary>Tokens per decode, hence the longest input (a pooled sequence must sit in one micro-batch).</summary>
    public const int MaxTokensPerInput = 512;

    /// <summary>OpenAI's limit on inputs per request.</summary>
    public const int MaxInputs = 2048;

    private readonly Lazy<GgufTextEmbedder> _embedder;
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <param name="servedModel">Mean-pooled last-layer states of the served model when no embedding model is given.</param>
    /// <param name="servedModelId">The id clients name the served model by.</param>
    /// <param name="options">Its EmbeddingModelPath, when set, is loaded at once (errors at start-up, not at the first request).</param>
    public EmbeddingService(LlamaModel servedModel, string servedModelId, ServerOptions options)
    {
        if (options.EmbeddingModelPath is { } path)
        {
            var own = new GgufTextEmbedder(path, SequencePooling.Model, batchSize: MaxTokensPerInput, modelOptions: options.Loading);
            _embedder = new Lazy<GgufTextEmbedder>(own);
            ModelIds = [servedModelId, Path.GetFileNameWithoutExtension(path)];
            Dimension = own.Dimension;
            Vocabulary = own.Vocabulary;
        }
        else
        {
            // The served model's context stays free of it until the first request asks.
            _embedder = new Lazy<GgufTextEmbedder>(() => new GgufTextEmbedder(servedModel, SequencePooling.Mean, batchSize: MaxTokensPerInput), LazyThreadSafetyMode.ExecutionAndPublication);
            ModelIds = [servedModelId];
            Dimension = servedModel.Facts.EmbeddingSize;
            Vocabulary = servedModel.Vocabulary;
        }
    }

    /// <summary>The "model" values a request may name (the served model's id, and the embedding model file's name).</summary>
    public IReadOnlyList<string> ModelIds { get; }

    /// <summary>Width of the vectors (the model's hidden size).</summary>
    public int Dimension { get; }

    /// <summary>The embedding model's tokenizer (request threads tokenize beside decoding, as for completions).</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>
    /// L2-normalised pooled vectors, one per input, in order. Repeated inputs are embedded once: llama.cpp's sums
    /// depend on where a sequence sits in the batch (last-bit differences), and the same text must get the same vector.
    /// </summary>
    public async Task<float[][]> EmbedAsync(IReadOnlyList<int[]> inputs, CancellationToken cancellation)
    {
        var distinct = new List<int[]>();
        var slot = new int[inputs.Count];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++)
        {
            string key = string.Join(',', inputs[i]);
            if (!seen.TryGetValue(key, out slot[i]))
            {
                seen[key] = slot[i] = distinct.Count;
                distinct.Add(inputs[i]);
            }
        }
        await _gate.WaitAsync(cancellation);
        IReadOnlyList<float[]> vectors;
        try
        {
            var embedder = _embedder.Value;
            vectors = await Task.Run(() => embedder.EmbedTokens(distinct, cancellation), cancellation);
        }
        finally { _gate.Release(); }
        foreach (var v in vectors) Normalize(v);
        return [.. slot.Select(s => vectors[s])];
    }

    private static void Normalize(float[] v)
    {
        float norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, v);
    }

    public void Dispose()
    {
        if (_embedder.IsValueCreated) _embedder.Value.Dispose();
        _gate.Dispose();
    }
}

/// <summary>POST /v1/embeddings in OpenAI's shape.</summary>
internal static class EmbeddingsEndpoint
{
    public static async Task HandleAsync(HttpContext http)
    {
        var host = http.RequestServices.GetRequiredService<ModelHost>();
        var options = http.RequestServices.GetRequiredService<ServerOptions>();
        var metrics = http.RequestServices.GetRequiredService<ServerMetrics>();
        var service = host.Embeddings;
        EmbeddingRequest request;
        using (var document = await RequestGuards.ReadJsonAsync(http, options))
        {
            RequestGuards.RequireDecodableText(document.RootElement);
            request = EmbeddingRequest.Parse(document.RootElement);
        }
        if (!service.ModelIds.Contains(request.Model))
            throw new ApiErrorException(404, $"The model '{(request.Model.Length <= 100 ? request.Model : request.Model[..100] + "…")}' does not exist; this server embeds with {string.Join(" or ", service.ModelIds.Select(m => $"'{m}'"))}.",
                "invalid_request_error", "model", "model_not_found");
        if (request.Dimensions is int dimensions && dimensions != service.Dimension)
            throw ApiErrorException.Invalid($"dimensions = {dimensions} is not supported: this model's embeddings have {service.Dimension} dimensions (leave dimensions out, or ask for {service.Dimension})", "dimensions", "unsupported_dimensions");
        ServerTracing.Describe(http, "embeddings", request.Model);

        // Strings are tokenized as the embedder reads them (with the model's special tokens); token arrays go as given.
        var inputs = request.Tokens ?? [.. request.Texts!.Select(t => service.Vocabulary.Tokenize(t, addSpecial: true, parseSpecial: false))];
        int total = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            string name = inputs.Count == 1 && request.Single ? "input" : $"input[{i}]";
            if (inputs[i].Length == 0) throw ApiErrorException.Invalid($"{name} is empty after tokenization", "input");
            if (inputs[i].Length > EmbeddingService.MaxTokensPerInput)
                throw ApiErrorException.Invalid($"{name} has {inputs[i].Length} tokens; this server embeds at most {EmbeddingService.MaxTokensPerInput} per input", "input", "context_length_exceeded");
            foreach (int token in inputs[i])
                if (!service.Vocabulary.IsValid(token))
                    throw ApiErrorException.Invalid($"{name} has token {token}, outside the vocabulary (0..{service.Vocabulary.Count - 1})", "input", "invalid_token");
            total += inputs[i].Length;
        }

        var vectors = await service.EmbedAsync(inputs, http.RequestAborted);
        metrics.RecordEmbeddingTokens(total);
        ServerTracing.RequestSpan(http)?.SetTag("gen_ai.usage.input_tokens", total);
        var body = new EmbeddingList("list",
            [.. vectors.Select((v, i) => new EmbeddingItem("embedding", i, request.Base64 ? Base64(v) : v))],
            request.Model, new EmbeddingUsage(total, total));
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(body, Wire.Json), http.RequestAborted);
    }

    /// <summary>OpenAI's base64 format: the float32 values' little-endian bytes.</summary>
    private static string Base64(float[] vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (int i = 0; i < vector.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        return Convert.ToBase64String(bytes);
    }
}

/// <summary>A parsed /v1/embeddings body: texts or token arrays (one of them), the format and the asked width.</summary>
internal sealed record EmbeddingRequest(string Model, IReadOnlyList<string>? Texts, IReadOnlyList<int[]>? Tokens, bool Single, bool Base64, int? Dimensions)
{
    private const string Shapes = "input must be a string, an array of strings, an array of token ids, or an array of token-id arrays";

    public static EmbeddingRequest Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiErrorException.Invalid("the request body must be a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelId)
            throw ApiErrorException.Invalid("model is required and must be a non-empty string", "model");

        bool base64 = false;
        if (root.TryGetProperty("encoding_format", out var format) && format.ValueKind != JsonValueKind.Null)
            base64 = format.ValueKind == JsonValueKind.String ? format.GetString() switch
            {
                "float" => false,
                "base64" => true,
                var other => throw ApiErrorException.Invalid($"encoding_format must be \"float\" or \"base64\", not \"{Clip(other!)}\"", "encoding_format"),
            } : throw ApiErrorException.Invalid("encoding_format must be the string \"float\" or \"base64\"", "encoding_format");

        int? dimensions = null;
        if (root.TryGetProperty("dimensions", out var dims) && dims.ValueKind != JsonValueKind.Null)
            dimensions = dims.ValueKind == JsonValueKind.Number && dims.TryGetInt32(out int d) && d >= 1 ? d
                : throw ApiErrorException.Invalid("dimensions must be a positive integer", "dimensions");

        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null) throw ApiErrorException.Invalid("input is required", "input");
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                string text = input.GetString()!;
                if (text.Length == 0) throw ApiErrorException.Invalid("input is an empty string", "input");
                return new(modelId, [text], null, true, base64, dimensions);
            case JsonValueKind.Array:
                int count = input.GetArrayLength();
                if (count == 0) throw ApiErrorException.Invalid("input is an empty array", "input");
                if (count > EmbeddingService.MaxInputs) throw ApiErrorException.Invalid($"input has {count} items; at most {EmbeddingService.MaxInputs} per request", "input");
                var first = input[0].ValueKind;
                if (first == JsonValueKind.String)
                {
                    var texts = new List<string>(count);
                    foreach (var item in input.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.String) throw ApiErrorException.Invalid($"input[{texts.Count}] is {Kind(item)}; {Shapes}", "input");
                        if (item.GetString() is not { Length: > 0 } s) throw ApiErrorException.Invalid($"input[{texts.Count}] is an empty string", "input");
                        texts.Add(s);
                    }
                    return new(modelId, texts, null, false, base64, dimensions);
                }
                if (first == JsonValueKind.Number) return new(modelId, null, [TokenIds(input, "input")], true, base64, dimensions);
                if (first == JsonValueKind.Array)
                {
                    var arrays = new List<int[]>(count);
                    foreach (var item in input.EnumerateArray())
                    {
                        string name = $"input[{arrays.Count}]";
                        if (item.ValueKind != JsonValueKind.Array) throw ApiErrorException.Invalid($"{name} is {Kind(item)}; {Shapes}", "input");
                        if (item.GetArrayLength() == 0) throw ApiErrorException.Invalid($"{name} is an empty array", "input");
                        arrays.Add(TokenIds(item, name));
                    }
                    return new(modelId, null, arrays, false, base64, dimensions);
                }
                throw ApiErrorException.Invalid($"input[0] is {Kind(input[0])}; {Shapes}", "input");
            default:
                throw ApiErrorException.Invalid($"input is {Kind(input)}; {Shapes}", "input");
        }
    }

    private static int[] TokenIds(JsonElement array, string name)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]))
                throw ApiErrorException.Invalid($"{name}[{i}] is {Kind(item)}; token ids are integers", "input");
            i++;
        }
        return ids;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => e.TryGetInt32(out _) ? "a number" : "a number that is not an integer",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";
}

internal sealed record EmbeddingList(string Object, IReadOnlyList<EmbeddingItem> Data, string Model, EmbeddingUsage Usage);

/// <summary>Embedding is a float array, or a base64 string of little-endian float32s.</summary>
internal sealed record EmbeddingItem(string Object, int Index, object Embedding);

internal sealed record EmbeddingUsage(int PromptTokens, int TotalTokens);
