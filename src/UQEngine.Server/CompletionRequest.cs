using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Structured;

namespace UQEngine.Server;

/// <summary>A validated /v1/chat/completions or /v1/completions request, ready for the decoder.</summary>
internal sealed record CompletionRequest
{
    public required bool IsChat { get; init; }
    public required string Model { get; init; }
    /// <summary>Chat: the messages; completions: null.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    /// <summary>Completions: the raw prompt; chat: null.</summary>
    public string? Prompt { get; init; }
    public int Count { get; init; } = 1;
    /// <summary>Null = the server's default (capped by the room left in the context).</summary>
    public int? MaxTokens { get; init; }
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Logprobs { get; init; }
    public int TopLogprobs { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsageInStream { get; init; }
    /// <summary>
    /// "parse_special_tokens": true reads control-token text ("&lt;|im_end|&gt;") inside message contents (chat) or the
    /// prompt (completions) as control tokens; false (the default) reads it as text.
    /// </summary>
    public bool ParseSpecialTokens { get; init; }
    /// <summary>Methods named in the "uncertainty" field (see <see cref="UncertaintyMethods"/>); token probabilities are always on.</summary>
    public IReadOnlySet<string> Methods { get; init; } = new HashSet<string>();
    /// <summary>Chat's response_format json_object / json_schema as a grammar; null = free text.</summary>
    public GenerationGrammar? Grammar { get; init; }
}

/// <summary>
/// Reads OpenAI request bodies by hand from a JsonDocument, so every wrong type or range becomes a 400 that names
/// the parameter instead of a serializer exception.
/// </summary>
internal static class CompletionRequestParser
{
    private const int MaxStopSequences = 4;
    private const int MaxTopLogprobs = 20;

    public static CompletionRequest ParseChat(JsonElement root, int maxSequences, bool probeLoaded = false, bool loraQueryLoaded = false)
    {
        RequireObject(root);
        var messages = ParseMessages(root);
        bool logprobs = OptionalBool(root, "logprobs") ?? false;
        int top = OptionalInt(root, "top_logprobs", 0, MaxTopLogprobs) ?? 0;
        if (top > 0 && !logprobs) throw ApiErrorException.Invalid("top_logprobs requires logprobs to be true", "top_logprobs");
        return Common(root, maxSequences, probeLoaded, loraQueryLoaded) with
        {
            IsChat = true,
            Messages = messages,
            Logprobs = logprobs,
            TopLogprobs = top,
            MaxTokens = OptionalInt(root, "max_completion_tokens", 1, int.MaxValue) ?? OptionalInt(root, "max_tokens", 1, int.MaxValue),
            Grammar = ParseResponseFormat(root),
        };
    }

    /// <summary>
    /// response_format: {"type":"text"} (free text), {"type":"json_object"} (any JSON object), or
    /// {"type":"json_schema","json_schema":{"name","schema","strict","description"}} (JSON valid against the schema).
    /// A schema keyword the grammar converter cannot honour is a 400 naming it; strict is accepted either way (the
    /// output always follows the schema).
    /// </summary>
    private static GenerationGrammar? ParseResponseFormat(JsonElement root)
    {
        const string param = "response_format";
        if (!root.TryGetProperty(param, out var format) || format.ValueKind == JsonValueKind.Null) return null;
        if (format.ValueKind != JsonValueKind.Object || !format.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw ApiErrorException.Invalid("'response_format' must be an object with a string 'type' (text, json_object or json_schema)", param, "invalid_type");
        switch (type.GetString())
        {
            case "text": return null;
            case "json_object": return JsonSchemaGrammar.AnyJsonObject;
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object)
                    throw ApiErrorException.Invalid("response_format.json_schema is required for type json_schema and must be an object", $"{param}.json_schema", "missing_required_parameter");
                if (spec.TryGetProperty("name", out var name) && name.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    throw ApiErrorException.Invalid("response_format.json_schema.name must be a string", $"{param}.json_schema.name", "invalid_type");
                OptionalBool(spec, "strict", $"{param}.json_schema.strict");
                if (!spec.TryGetProperty("schema", out var schema) || schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
                    throw ApiErrorException.Invalid("response_format.json_schema.schema is required and must be a JSON Schema object", $"{param}.json_schema.schema", "missing_required_parameter");
                try { return JsonSchemaGrammar.FromSchema(schema); }
                catch (UnsupportedSchemaException e) { throw ApiErrorException.Invalid(e.Message, $"{param}.json_schema.schema", "unsupported_schema"); }
            case var other:
                throw ApiErrorException.Invalid($"response_format type '{Truncate(other ?? "")}' is not one of text, json_object, json_schema", $"{param}.type");
        }
    }

    public static CompletionRequest ParseCompletion(JsonElement root, int maxSequences, bool probeLoaded = false, bool loraQueryLoaded = false)
    {
        RequireObject(root);
        if (!root.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
            throw ApiErrorException.Invalid("'prompt' is required", "prompt", "missing_required_parameter");
        string text = prompt.ValueKind switch
        {
            JsonValueKind.String => prompt.GetString()!,
            JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String => prompt[0].GetString()!,
            JsonValueKind.Array => throw ApiErrorException.Invalid("this server takes one prompt per request: a string or an array of one string", "prompt"),
            _ => throw ApiErrorException.Invalid("'prompt' must be a string", "prompt", "invalid_type"),
        };
        if (text.Length == 0) throw ApiErrorException.Invalid("'prompt' is empty", "prompt");
        // Completions' logprobs is a count of alternatives (0 still returns the chosen token's logprob).
        int? logprobs = OptionalInt(root, "logprobs", 0, MaxTopLogprobs);
        if (OptionalBool(root, "echo") == true) throw ApiErrorException.Invalid("echo is not supported", "echo", "unsupported_parameter");
        if (root.TryGetProperty("response_format", out var format) && format.ValueKind != JsonValueKind.Null)
            throw ApiErrorException.Invalid("'response_format' is supported on /v1/chat/completions, not on /v1/completions", "response_format", "unsupported_parameter");
        return Common(root, maxSequences, probeLoaded, loraQueryLoaded) with
        {
            IsChat = false,
            Prompt = text,
            Logprobs = logprobs is not null,
            TopLogprobs = logprobs ?? 0,
            MaxTokens = OptionalInt(root, "max_tokens", 1, int.MaxValue),
        };
    }

    /// <summary>
    /// OpenAI parameters this server does not implement: refused (400, code unsupported_parameter) rather than
    /// silently ignored, unless absent, null or the value that means "off" (given as the tolerated value).
    /// </summary>
    private static readonly (string Name, string Why)[] Unsupported =
    [
        ("tools", "this server does not call tools"),
        ("tool_choice", "this server does not call tools"),
        ("functions", "this server does not call functions"),
        ("function_call", "this server does not call functions"),
        ("parallel_tool_calls", "this server does not call tools"),
        ("logit_bias", "logit_bias is not supported"),
        ("frequency_penalty", "penalties are not supported"),
        ("presence_penalty", "penalties are not supported"),
        ("repetition_penalty", "penalties are not supported"),
        ("best_of", "best_of is not supported; use n"),
        ("suffix", "suffix is not supported"),
    ];

    private static void RefuseUnsupported(JsonElement root)
    {
        foreach (var (name, why) in Unsupported)
        {
            if (!root.TryGetProperty(name, out var value) || IsOff(name, value)) continue;
            throw ApiErrorException.Invalid($"'{name}' is not supported: {why}", name, "unsupported_parameter");
        }
    }

    /// <summary>The values that ask for nothing: null, no tools, "none", an empty bias, a neutral penalty, best_of 1.</summary>
    private static bool IsOff(string name, JsonElement value) => value.ValueKind == JsonValueKind.Null || name switch
    {
        "tools" or "functions" => value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 0,
        "tool_choice" or "function_call" => value.ValueKind == JsonValueKind.String && value.ValueEquals("none"),
        "parallel_tool_calls" => value.ValueKind is JsonValueKind.False or JsonValueKind.True,
        "logit_bias" => value.ValueKind == JsonValueKind.Object && !value.EnumerateObject().Any(),
        "frequency_penalty" or "presence_penalty" => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && d == 0,
        "repetition_penalty" or "best_of" => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double r) && r == 1,
        "suffix" => value.ValueKind == JsonValueKind.String && value.GetString()!.Length == 0,
        _ => false,
    };

    private static CompletionRequest Common(JsonElement root, int maxSequences, bool probeLoaded, bool loraQueryLoaded)
    {
        RefuseUnsupported(root);
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelId)
            throw ApiErrorException.Invalid("'model' is required and must be a string", "model", "missing_required_parameter");
        int n = OptionalInt(root, "n", 1, int.MaxValue) ?? 1;
        if (n > maxSequences)
            throw ApiErrorException.Invalid($"n = {n} is more than this server decodes at once ({maxSequences}; see --max-sequences)", "n");
        double temperature = OptionalNumber(root, "temperature", 0, 2) ?? 1.0;
        double topP = OptionalNumber(root, "top_p", double.Epsilon, 1) ?? 1.0;
        long? seed = OptionalLong(root, "seed");
        bool stream = OptionalBool(root, "stream") ?? false;
        bool includeUsage = false;
        if (root.TryGetProperty("stream_options", out var streamOptions) && streamOptions.ValueKind != JsonValueKind.Null)
        {
            if (streamOptions.ValueKind != JsonValueKind.Object) throw ApiErrorException.Invalid("'stream_options' must be an object", "stream_options", "invalid_type");
            includeUsage = OptionalBool(streamOptions, "include_usage", "stream_options.include_usage") ?? false;
        }
        return new CompletionRequest
        {
            IsChat = true,
            Model = modelId,
            Count = n,
            Sampling = new SamplingOptions
            {
                Temperature = (float)temperature,
                TopP = Math.Max((float)topP, float.Epsilon), // a positive double may round to 0f, which the sampler refuses
                // OpenAI's seed is a 64-bit integer; llama.cpp's is 32 bits: fold the halves so every seed is accepted.
                Seed = seed is { } s ? unchecked((uint)s ^ (uint)(s >> 32)) : (uint)Random.Shared.Next(),
            },
            Stop = ParseStop(root),
            Stream = stream,
            IncludeUsageInStream = includeUsage,
            ParseSpecialTokens = OptionalBool(root, "parse_special_tokens") ?? false,
            Methods = UncertaintyMethods.Parse(root, n, probeLoaded, loraQueryLoaded),
        };
    }

    private static List<ChatMessage> ParseMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            throw ApiErrorException.Invalid("'messages' is required and must be an array", "messages", "missing_required_parameter");
        if (messages.GetArrayLength() == 0) throw ApiErrorException.Invalid("'messages' is empty", "messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string where = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object) throw ApiErrorException.Invalid($"{where} must be an object", where, "invalid_type");
            if (!message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                throw ApiErrorException.Invalid($"{where}.role is required and must be a string", $"{where}.role");
            string roleName = role.GetString()! switch
            {
                "system" or "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                var other => throw ApiErrorException.Invalid($"{where}.role '{Truncate(other)}' is not one of system, developer, user, assistant", $"{where}.role"),
            };
            list.Add(new ChatMessage(roleName, MessageText(message, where)));
        }
        return list;
    }

    /// <summary>Content is a string or an array of {"type":"text","text":...} parts.</summary>
    private static string MessageText(JsonElement message, string where)
    {
        if (!message.TryGetProperty("content", out var content)) throw ApiErrorException.Invalid($"{where}.content is required", $"{where}.content");
        switch (content.ValueKind)
        {
            case JsonValueKind.String: return content.GetString()!;
            case JsonValueKind.Array:
                var text = new System.Text.StringBuilder();
                foreach (var part in content.EnumerateArray())
                {
                    if (part.ValueKind != JsonValueKind.Object
                        || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "text"
                        || !part.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
                        throw ApiErrorException.Invalid($"{where}.content parts must be {{\"type\":\"text\",\"text\":\"...\"}} (this server reads text only)", $"{where}.content");
                    text.Append(partText.GetString());
                }
                return text.ToString();
            default:
                throw ApiErrorException.Invalid($"{where}.content must be a string or an array of text parts", $"{where}.content", "invalid_type");
        }
    }

    private static List<string> ParseStop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null) return [];
        if (stop.ValueKind == JsonValueKind.String) return stop.GetString() is { Length: > 0 } s ? [s] : [];
        if (stop.ValueKind != JsonValueKind.Array) throw ApiErrorException.Invalid("'stop' must be a string or an array of strings", "stop", "invalid_type");
        if (stop.GetArrayLength() > MaxStopSequences) throw ApiErrorException.Invalid($"'stop' takes at most {MaxStopSequences} sequences", "stop");
        var list = new List<string>();
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw ApiErrorException.Invalid("'stop' must be a string or an array of strings", "stop", "invalid_type");
            if (item.GetString() is { Length: > 0 } s) list.Add(s);
        }
        return list;
    }

    private static void RequireObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiErrorException.Invalid("the request body must be a JSON object", null, "invalid_type");
    }

    private static bool? OptionalBool(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiErrorException.Invalid($"'{param ?? name}' must be a boolean", param ?? name, "invalid_type"),
        };
    }

    // Integer fields, one rule for all: JSON has one number type, so an integral number is an integer however it is
    // written (1, 1.0, 1e0, 10E-1 are all 1); a number with a fraction (1.5) is refused (invalid_type), and so is
    // one outside the field's range (out_of_range) or outside a 64-bit integer.

    private static int? OptionalInt(JsonElement obj, string name, int min, int max)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        long l = Integral(value, name);
        if (l < min || l > max) throw ApiErrorException.Invalid($"'{name}' must be in {min}..{max}, not {value.GetRawText()}", name, "out_of_range");
        return (int)l;
    }

    private static long? OptionalLong(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return Integral(value, name);
    }

    /// <summary>An integral JSON number in the 64-bit range, however it is written.</summary>
    internal static long Integral(JsonElement value, string name)
    {
        if (value.ValueKind != JsonValueKind.Number) throw ApiErrorException.Invalid($"'{name}' must be an integer", name, "invalid_type");
        if (value.TryGetInt64(out long l)) return l;
        if (value.TryGetDecimal(out decimal m))
        {
            if (m != decimal.Truncate(m)) throw ApiErrorException.Invalid($"'{name}' must be an integer, not {Truncate(value.GetRawText())}", name, "invalid_type");
            if (m >= long.MinValue && m <= long.MaxValue) return (long)m;
        }
        else if (value.TryGetDouble(out double d) && double.IsFinite(d) && d != Math.Floor(d))
            throw ApiErrorException.Invalid($"'{name}' must be an integer, not {Truncate(value.GetRawText())}", name, "invalid_type");
        throw ApiErrorException.Invalid($"'{name}' must be an integer within 64 bits, not {Truncate(value.GetRawText())}", name, "out_of_range");
    }

    private static double? OptionalNumber(JsonElement obj, string name, double min, double max)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double d) || !double.IsFinite(d))
            throw ApiErrorException.Invalid($"'{name}' must be a number", name, "invalid_type");
        if (d < min || d > max) throw ApiErrorException.Invalid($"'{name}' must be in [{(min == double.Epsilon ? 0 : min)}, {max}], not {value.GetRawText()}", name, "out_of_range");
        return d;
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
