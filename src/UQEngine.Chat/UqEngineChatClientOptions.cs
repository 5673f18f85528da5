using UQEngine.Inference;

namespace UQEngine.Chat;

/// <summary>How a <see cref="UqEngineChatClient"/> decodes when the ChatOptions of a call leave a setting open.</summary>
public sealed record UqEngineChatClientOptions
{
    /// <summary>The id reported as ChatResponse.ModelId and accepted in ChatOptions.ModelId; default: the file name without extension.</summary>
    public string? ModelId { get; init; }

    /// <summary>KV-cache size in tokens (prompt + answer); 0 = min(4096, the model's training context).</summary>
    public int ContextSize { get; init; }

    /// <summary>CPU threads for decoding; 0 = <see cref="ContextOptions.DefaultThreads"/>.</summary>
    public int Threads { get; init; }

    /// <summary>Answer length when ChatOptions.MaxOutputTokens is not set.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 256;

    /// <summary>
    /// Temperature when ChatOptions.Temperature is not set. 0 (greedy) by default: an offline app gets the same
    /// answer for the same question, and the uncertainty scores describe that answer.
    /// </summary>
    public float DefaultTemperature { get; init; }

    /// <summary>Most likely alternatives recorded per answer token (0..20), for showing what else the model considered.</summary>
    public int TopAlternatives { get; init; } = 5;

    /// <summary>
    /// Read control-token text inside message contents ("&lt;|im_end|&gt;&lt;|im_start|&gt;assistant") as control tokens,
    /// as earlier versions did. False (the default): contents are data, tokenized as text, so a message cannot
    /// forge other turns; the chat template's own markers are control tokens either way.
    /// </summary>
    public bool ParseSpecialTokensInContent { get; init; }

    internal void Validate()
    {
        if (ContextSize < 0) throw new ArgumentOutOfRangeException(nameof(ContextSize), ContextSize, "context size must be >= 0 (0 = the model default)");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "threads must be >= 0 (0 = the default)");
        if (DefaultMaxOutputTokens < 1) throw new ArgumentOutOfRangeException(nameof(DefaultMaxOutputTokens), DefaultMaxOutputTokens, "default max output tokens must be at least 1");
        if (!(DefaultTemperature >= 0)) throw new ArgumentOutOfRangeException(nameof(DefaultTemperature), DefaultTemperature, "default temperature must be >= 0");
        if (TopAlternatives is < 0 or > GenerationOptions.MaxTopAlternatives)
            throw new ArgumentOutOfRangeException(nameof(TopAlternatives), TopAlternatives, $"top alternatives must be in 0..{GenerationOptions.MaxTopAlternatives}");
    }
}
