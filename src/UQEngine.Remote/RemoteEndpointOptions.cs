namespace UQEngine.Remote;

/// <summary>Where and how to reach an OpenAI-compatible endpoint (<c>--endpoint</c>, <c>--api-key</c>, <c>--model</c>, <c>--concurrency</c>).</summary>
public sealed record RemoteEndpointOptions
{
    /// <summary>
    /// Base URLs ("http://host:8080/v1"; a URL without a path gets "/v1"). Several = replicas of one model: requests
    /// go round-robin and a retried request goes to the next one.
    /// </summary>
    public required IReadOnlyList<Uri> Endpoints { get; init; }

    /// <summary>Sent as "Authorization: Bearer KEY"; never written to a results folder.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The remote model name; null = the first one /v1/models lists.</summary>
    public string? Model { get; init; }

    /// <summary>Requests in flight at once (and items a run evaluates at once).</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>True: /v1/chat/completions with user messages (the server applies its template); false: /v1/completions with the raw prompt.</summary>
    public bool Chat { get; init; } = true;

    /// <summary>Alternatives asked per step of the greedy answer (the top-k entropy estimate reads them when the server sends no entropy).</summary>
    public int TopLogprobs { get; init; } = 20;

    /// <summary>Retries of one request on 408/429/5xx, a dropped connection or a timeout (Retry-After is honoured).</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>First backoff delay (exponential with jitter after it) when the server sends no Retry-After.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest a single attempt may take.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Throws ArgumentException naming the bad setting.</summary>
    public void Validate()
    {
        if (Endpoints is null || Endpoints.Count == 0) throw new ArgumentException("no endpoint given (--endpoint URL)");
        foreach (var e in Endpoints)
            if (!e.IsAbsoluteUri || (e.Scheme != Uri.UriSchemeHttp && e.Scheme != Uri.UriSchemeHttps))
                throw new ArgumentException($"--endpoint '{e}' is not an http(s) URL");
        if (Concurrency is < 1 or > 256) throw new ArgumentException($"--concurrency must be in 1..256, not {Concurrency}");
        if (TopLogprobs is < 0 or > 20) throw new ArgumentException($"top_logprobs must be in 0..20 (OpenAI's limit), not {TopLogprobs}");
        if (MaxRetries < 0) throw new ArgumentException("retries must be >= 0");
    }

    /// <summary>
    /// Parses a comma-separated list of base URLs; one without a path ("http://host:8080") gets "/v1", the
    /// OpenAI base path. Throws ArgumentException naming the entry that is not a URL.
    /// </summary>
    public static IReadOnlyList<Uri> ParseEndpoints(string list)
    {
        var endpoints = new List<Uri>();
        foreach (string part in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new ArgumentException($"--endpoint '{part}' is not an http(s) URL (e.g. http://127.0.0.1:8080/v1)");
            string path = uri.AbsolutePath.TrimEnd('/');
            endpoints.Add(new UriBuilder(uri) { Path = (path.Length == 0 ? "/v1" : path) + "/" }.Uri);
        }
        if (endpoints.Count == 0) throw new ArgumentException("--endpoint is empty");
        return endpoints;
    }

    /// <summary>The endpoints as run.json records them (no key, no user info).</summary>
    public string Describe() => string.Join(",", Endpoints.Select(e => new UriBuilder(e) { UserName = "", Password = "" }.Uri.ToString().TrimEnd('/')));
}
