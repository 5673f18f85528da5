using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>How `uqengine serve` runs: which model, where it listens, and how much work it accepts.</summary>
public sealed record ServerOptions
{
    /// <summary>The GGUF file to serve.</summary>
    public required string ModelPath { get; init; }

    /// <summary>How the model is loaded (device, GPU layers).</summary>
    public UQEngine.Inference.ModelOptions Loading { get; init; } = new();

    /// <summary>The id clients pass as "model"; default: the file name without extension.</summary>
    public string? ModelId { get; init; }

    /// <summary>Loopback by default: the endpoint has no TLS and at most a shared key.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port (tests); read the bound address from the started app.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>When set, every /v1 request needs "Authorization: Bearer &lt;key&gt;".</summary>
    public string? ApiKey { get; init; }

    /// <summary>Sequence slots decoded together, shared by concurrent requests (one per sample); also the largest "n".</summary>
    public int MaxSequences { get; init; } = 4;

    /// <summary>Requests that may wait for free slots or KV room; one more is answered 429.</summary>
    public int QueueCapacity { get; init; } = 16;

    /// <summary>KV-cache size in tokens; 0 = the model default (at most 4096).</summary>
    public int ContextSize { get; init; }

    /// <summary>CPU threads for decoding; 0 = ContextOptions.DefaultThreads.</summary>
    public int Threads { get; init; }

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;

    /// <summary>max_tokens when the request gives none (capped by the room left in the context).</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>A probe file (uqengine probe train) for the "probe" uncertainty method; it must fit the served model.</summary>
    public string? ProbePath { get; init; }

    /// <summary>
    /// A LoRA query adapter (uqengine lora-query-train) for the "lora_query" uncertainty method: each choice's answer
    /// is read by it on a query context of its own. It must be trained on the served model.
    /// </summary>
    public string? LoraQueryPath { get; init; }

    /// <summary>
    /// Host header names accepted besides the loopback names (localhost, 127.0.0.1, [::1]) and the listen address,
    /// with any port; anything else gets 400, so a web page cannot reach the server through DNS rebinding. "*" accepts any.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Origins ("https://app.example", scheme://host[:port]) whose browser pages may call the API (CORS); "*" allows
    /// any. Empty (the default): only the server's own pages (the playground); other origins get 403.
    /// </summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];

    /// <summary>Seconds a client is told to wait (Retry-After) when the queue is full.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>
    /// Sentence embedder the consistency methods compare a request's choices with (cosine, as the harness's embedding
    /// backends); null: ROUGE-L F1. `uqengine serve --similarity minilm` passes all-MiniLM-L6-v2. The caller owns it;
    /// the server calls it one request at a time.
    /// </summary>
    public ITextEmbedder? ChoiceEmbedder { get; init; }

    /// <summary>The name the response gives <see cref="ChoiceEmbedder"/> (uncertainty_set.backend).</summary>
    public string ChoiceEmbedderName { get; init; } = "embedding";

    /// <summary>
    /// GGUF model whose pooled vectors /v1/embeddings returns (e.g. the MiniLM file of `uqengine model convert-minilm`);
    /// null: the served model's last-layer states, mean-pooled.
    /// </summary>
    public string? EmbeddingModelPath { get; init; }

    /// <summary>
    /// Where to push metrics and traces over OTLP (e.g. http://localhost:4317 for a collector's gRPC port); null: the
    /// standard OTEL_EXPORTER_OTLP_ENDPOINT variable decides, and without it nothing is pushed (/metrics still answers).
    /// </summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>"grpc" or "http/protobuf" (then /v1/metrics and /v1/traces are appended to <see cref="OtlpEndpoint"/>); null: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.</summary>
    public string? OtlpProtocol { get; init; }

    /// <summary>Test hook run on the decoding thread at each step of each of a request's sequences, with the request's cancellation token.</summary>
    internal Action<CancellationToken>? OnDecodeStep { get; init; }

    /// <summary>Throws ArgumentException with a one-line message naming the bad setting (the CLI prints it as is).</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new ArgumentException("a model path is required");
        if (ApiKey is not null && string.IsNullOrWhiteSpace(ApiKey)) throw new ArgumentException("the API key is empty; leave it unset to serve without one");
        if (Port is < 0 or > 65535) throw new ArgumentException("port must be in 0..65535");
        if (MaxSequences < 1) throw new ArgumentException("max sequences must be at least 1");
        if (QueueCapacity < 1) throw new ArgumentException("queue capacity must be at least 1");
        if (ContextSize < 0) throw new ArgumentException("context size must be >= 0");
        if (MaxRequestBodyBytes < 1024) throw new ArgumentException("body limit must be at least 1024 bytes");
        if (ProbePath is not null && string.IsNullOrWhiteSpace(ProbePath)) throw new ArgumentException("the probe path is empty; leave it unset to serve without a probe");
        if (LoraQueryPath is not null && string.IsNullOrWhiteSpace(LoraQueryPath)) throw new ArgumentException("the LoRA query adapter path is empty; leave it unset to serve without one");
        foreach (string h in AllowedHosts)
            if (string.IsNullOrWhiteSpace(h) || h.Contains('/') || h.Any(char.IsWhiteSpace)) throw new ArgumentException($"allowed host '{h}' is not a host name");
        foreach (string o in CorsOrigins)
            if (o != "*" && o != "null" && !(Uri.TryCreate(o, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && string.Equals(uri.GetLeftPart(UriPartial.Authority), o.TrimEnd('/'), StringComparison.OrdinalIgnoreCase)))
                throw new ArgumentException($"CORS origin '{o}' must be scheme://host[:port] (e.g. https://app.example), \"null\" or \"*\"");
        if (RetryAfterSeconds < 1) throw new ArgumentException("retry-after must be at least 1 second");
        if (DefaultMaxTokens < 1) throw new ArgumentException("default max tokens must be at least 1");
        if (EmbeddingModelPath is not null && string.IsNullOrWhiteSpace(EmbeddingModelPath)) throw new ArgumentException("the embedding model path is empty; leave it unset to embed with the served model");
        if (OtlpEndpoint is not null && !(OtlpEndpoint.IsAbsoluteUri && OtlpEndpoint.Scheme is "http" or "https"))
            throw new ArgumentException($"the OTLP endpoint '{OtlpEndpoint}' must be an absolute http:// or https:// URL");
        if (OtlpProtocol is not null and not ("grpc" or "http/protobuf"))
            throw new ArgumentException($"the OTLP protocol must be grpc or http/protobuf, not '{OtlpProtocol}'");
    }
}
