using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using UQEngine.Inference;
using UQEngine.Uncertainty;

namespace UQEngine.Remote;

/// <summary>The endpoint failed past its retries, refused the key or does not serve the model: the run stops (finished items stay).</summary>
public sealed class RemoteEndpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What one request asks for.</summary>
/// <param name="Messages">Chat: the messages (null for a raw prompt).</param>
/// <param name="Prompt">Completions: the raw prompt (null for chat).</param>
/// <param name="Count">n: choices wanted.</param>
/// <param name="MaxTokens">Most tokens per choice.</param>
/// <param name="Temperature">0 = greedy.</param>
/// <param name="TopP">Nucleus mass (1 = off).</param>
/// <param name="TopK">Top-k (0 = off; sent as the "top_k" extension that vLLM and llama.cpp's server read).</param>
/// <param name="Seed">Choice i is seeded Seed + i; when the server ignores n, request i is sent with seed Seed + i.</param>
/// <param name="Stop">Stop strings.</param>
/// <param name="TopLogprobs">Alternatives per step (0: the chosen token's logprob only).</param>
public sealed record RemoteRequest(IReadOnlyList<ChatMessage>? Messages, string? Prompt, int Count, int MaxTokens, float Temperature, float TopP, int TopK, uint Seed, IReadOnlyList<string> Stop, int TopLogprobs);

/// <summary>
/// An OpenAI-compatible endpoint as a source of <see cref="GenerationResult"/>s: /v1/chat/completions or
/// /v1/completions with logprobs, parsed by hand from the JSON so servers' extra fields are read where known
/// (uqengine serve's per-step "entropy" and "rank") and ignored otherwise. Thread-safe; at most
/// <see cref="RemoteEndpointOptions.Concurrency"/> requests are in flight. Retries (Microsoft.Extensions.Http.Resilience):
/// 408, 429 and 5xx, dropped connections and attempt timeouts, with exponential backoff and jitter, honouring
/// Retry-After; with several endpoints each attempt goes to the next one.
/// </summary>
public sealed class OpenAiEndpointClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;
    private readonly RemoteEndpointOptions _options;
    private readonly Lazy<Task<string>> _model;
    private long _fullEntropySteps, _estimatedEntropySteps, _requests;
    private volatile bool _serverIgnoresN;

    public OpenAiEndpointClient(RemoteEndpointOptions options, HttpMessageHandler? transport = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _slots = new SemaphoreSlim(options.Concurrency);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                MaxDelay = TimeSpan.FromSeconds(30),
                ShouldRetryAfterHeader = true,
                OnRetry = _ => { Interlocked.Increment(ref _retries); return ValueTask.CompletedTask; },
            })
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = options.AttemptTimeout })
            .Build();
        var rotation = new EndpointRotationHandler(options.Endpoints) { InnerHandler = transport ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) } };
        _http = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = rotation }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        if (options.ApiKey is { Length: > 0 } key) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        _model = new Lazy<Task<string>>(() => options.Model is { Length: > 0 } m ? Task.FromResult(m) : DiscoverModelAsync());
    }

    private long _retries;

    /// <summary>Attempts that were retried (429, 5xx, a dropped connection, a timeout).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Requests sent (not counting retries).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Answer steps whose entropy the server sent (over the full vocabulary).</summary>
    public long FullEntropySteps => Interlocked.Read(ref _fullEntropySteps);

    /// <summary>Answer steps whose entropy is the top-k estimate (<see cref="TopKEntropy"/>).</summary>
    public long EstimatedEntropySteps => Interlocked.Read(ref _estimatedEntropySteps);

    public RemoteEndpointOptions Options => _options;

    /// <summary>The remote model name (given, or the first of /v1/models).</summary>
    public string Model => _model.Value.GetAwaiter().GetResult();

    /// <summary>How the entropies of this run were obtained, for the report; empty when no entropy was read.</summary>
    public IReadOnlyList<string> Notes()
    {
        var notes = new List<string>();
        long full = FullEntropySteps, estimated = EstimatedEntropySteps;
        if (estimated > 0)
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"token entropies are a top-k estimate for {estimated} of {full + estimated} steps read: the endpoint sent no full-distribution entropy, so −Σ p log p is taken over the top_logprobs = {_options.TopLogprobs} alternatives plus the remaining mass as one outcome (a lower bound); mean_entropy and max_entropy are estimates"));
        else if (full > 0) notes.Add("token entropies are the endpoint's full-distribution values (uqengine serve's \"entropy\" field)");
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"{Requests} request(s) to the endpoint, {Retries} attempt(s) retried (429, 5xx, dropped connections, timeouts)"));
        return notes;
    }

    /// <summary>
    /// The request's <see cref="RemoteRequest.Count"/> choices, ordered by index. A server that answers n with fewer
    /// choices (it ignores n) gets the rest as requests of n = 1 with seeds Seed + i, and from then on every
    /// request of n > 1 is sent that way.
    /// </summary>
    public async Task<IReadOnlyList<GenerationResult>> CompleteAsync(RemoteRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if ((request.Messages is null) == (request.Prompt is null)) throw new ArgumentException("a request has either messages (chat) or a prompt (completions)");
        if (request.Count < 1) throw new ArgumentException("n must be at least 1");
        if (request.Count == 1 || _serverIgnoresN) return await Separately(request, 0, cancellationToken);

        var first = await SendAsync(request, request.Count, request.Seed, cancellationToken);
        if (first.Count >= request.Count) return [.. first.Take(request.Count)];
        _serverIgnoresN = true;
        var rest = await Separately(request, first.Count, cancellationToken);
        return [.. first, .. rest.Select(r => r with { Sequence = r.Sequence })];
    }

    private async Task<IReadOnlyList<GenerationResult>> Separately(RemoteRequest request, int from, CancellationToken cancellationToken)
    {
        var tasks = Enumerable.Range(from, request.Count - from).Select(async i =>
        {
            var one = await SendAsync(request, 1, unchecked(request.Seed + (uint)i), cancellationToken);
            if (one.Count == 0) throw new RemoteEndpointException($"{_options.Describe()} answered with no choice");
            return one[0] with { Sequence = i };
        });
        return await Task.WhenAll(tasks);
    }

    private async Task<IReadOnlyList<GenerationResult>> SendAsync(RemoteRequest request, int n, uint seed, CancellationToken cancellationToken)
    {
        bool chat = request.Messages is not null;
        var body = new JsonObject
        {
            ["model"] = await _model.Value,
            ["n"] = n,
            ["max_tokens"] = request.MaxTokens,
            ["temperature"] = request.Temperature,
            ["top_p"] = request.TopP,
            ["seed"] = seed,
            ["stream"] = false,
        };
        if (request.TopK > 0) body["top_k"] = request.TopK;
        if (request.Stop.Count > 0) body["stop"] = new JsonArray([.. request.Stop.Select(s => (JsonNode)JsonValue.Create(s))]);
        if (chat)
        {
            body["messages"] = new JsonArray([.. request.Messages!.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content })]);
            body["logprobs"] = true;
            if (request.TopLogprobs > 0) body["top_logprobs"] = request.TopLogprobs;
        }
        else
        {
            body["prompt"] = request.Prompt;
            body["logprobs"] = request.TopLogprobs; // completions: a count of alternatives (0 = the chosen token's only)
        }

        string path = chat ? "chat/completions" : "completions";
        string text = await PostAsync(path, body.ToJsonString(), cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(text);
            return chat ? ParseChat(doc.RootElement) : ParseText(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new RemoteEndpointException($"{_options.Describe()}/{path} answered JSON this client cannot read ({e.Message}): {Truncate(text)}", e);
        }
    }

    private async Task<string> PostAsync(string path, string json, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            Interlocked.Increment(ref _requests);
            using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(_options.Endpoints[0], path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            HttpResponseMessage response;
            try { response = await _http.SendAsync(message, cancellationToken); }
            catch (Exception e) when (e is HttpRequestException or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
            {
                throw new RemoteEndpointException($"{_options.Describe()}/{path} could not be reached after {_options.MaxRetries} retries: {e.Message}", e);
            }
            using (response)
            {
                string text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.IsSuccessStatusCode) return text;
                string error = ErrorMessage(text);
                string what = $"{_options.Describe()}/{path} answered {(int)response.StatusCode} {response.StatusCode}: {error}";
                // A request this item alone gets wrong (its prompt does not fit, say) is the item's error; the rest stop the run.
                if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity) throw new InferenceException(what);
                if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || (int)response.StatusCode >= 500)
                    throw new RemoteEndpointException($"{what} (after {_options.MaxRetries} retries)");
                throw new RemoteEndpointException(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                    ? $"{what}; give the key with --api-key or UQENGINE_API_KEY (else OPENAI_API_KEY)" : what);
            }
        }
        finally { _slots.Release(); }
    }

    private async Task<string> DiscoverModelAsync() => (await ListModelsAsync())[0];

    /// <summary>The model ids the first endpoint's /v1/models lists, in its order (at least one, else RemoteEndpointException).</summary>
    public async Task<IReadOnlyList<string>> ListModelsAsync()
    {
        await _slots.WaitAsync();
        try
        {
            using var response = await _http.GetAsync(new Uri(_options.Endpoints[0], "models"));
            string text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
                throw new RemoteEndpointException($"{_options.Describe()}/models answered {(int)response.StatusCode}: {ErrorMessage(text)}; name the model with --model");
            using var doc = JsonDocument.Parse(text);
            var names = new List<string>();
            if (doc.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array)
                foreach (var card in data.EnumerateArray())
                    if (card.ValueKind == JsonValueKind.Object && card.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } name)
                        names.Add(name);
            return names.Count > 0 ? names : throw new RemoteEndpointException($"{_options.Describe()}/models lists no model; name it with --model");
        }
        catch (HttpRequestException e) { throw new RemoteEndpointException($"{_options.Describe()} could not be reached: {e.Message}", e); }
        catch (JsonException e) { throw new RemoteEndpointException($"{_options.Describe()}/models is not JSON ({e.Message}); name the model with --model", e); }
        finally { _slots.Release(); }
    }

    private static string ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var error))
                return error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? m.GetString() ?? "" : error.ToString();
        }
        catch (JsonException) { }
        return Truncate(body);
    }

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "…";

    private IReadOnlyList<GenerationResult> ParseChat(JsonElement root)
    {
        var results = new List<GenerationResult>();
        int promptTokens = PromptTokens(root);
        foreach (var choice in root.GetProperty("choices").EnumerateArray())
        {
            int index = choice.TryGetProperty("index", out var ix) && ix.ValueKind == JsonValueKind.Number ? ix.GetInt32() : results.Count;
            string text = choice.GetProperty("message").TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
            var tokens = new List<GeneratedToken>();
            int full = 0;
            if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object && lp.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                foreach (var entry in content.EnumerateArray())
                {
                    var alternatives = new List<TokenAlternative>();
                    if (entry.TryGetProperty("top_logprobs", out var top) && top.ValueKind == JsonValueKind.Array)
                        foreach (var a in top.EnumerateArray()) alternatives.Add(new TokenAlternative(-1, a.GetProperty("token").GetString() ?? "", (float)a.GetProperty("logprob").GetDouble()));
                    double? entropy = OptionalDouble(entry, "entropy");
                    if (entropy is not null) full++;
                    tokens.Add(Token(index, tokens.Count, entry.GetProperty("token").GetString() ?? "", entry.GetProperty("logprob").GetDouble(),
                        entropy, OptionalInt(entry, "rank"), alternatives));
                }
            results.Add(Result(index, text, tokens, choice, promptTokens, full));
        }
        return [.. results.OrderBy(r => r.Sequence)];
    }

    private IReadOnlyList<GenerationResult> ParseText(JsonElement root)
    {
        var results = new List<GenerationResult>();
        int promptTokens = PromptTokens(root);
        foreach (var choice in root.GetProperty("choices").EnumerateArray())
        {
            int index = choice.TryGetProperty("index", out var ix) && ix.ValueKind == JsonValueKind.Number ? ix.GetInt32() : results.Count;
            string text = choice.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            var tokens = new List<GeneratedToken>();
            int full = 0;
            if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object && lp.TryGetProperty("tokens", out var names) && names.ValueKind == JsonValueKind.Array)
            {
                var logps = lp.GetProperty("token_logprobs");
                lp.TryGetProperty("top_logprobs", out var tops);
                lp.TryGetProperty("token_entropies", out var entropies);
                lp.TryGetProperty("token_ranks", out var ranks);
                for (int j = 0; j < names.GetArrayLength(); j++)
                {
                    var alternatives = new List<TokenAlternative>();
                    if (tops.ValueKind == JsonValueKind.Array && j < tops.GetArrayLength() && tops[j].ValueKind == JsonValueKind.Object)
                        foreach (var a in tops[j].EnumerateObject()) alternatives.Add(new TokenAlternative(-1, a.Name, (float)a.Value.GetDouble()));
                    double? entropy = entropies.ValueKind == JsonValueKind.Array && j < entropies.GetArrayLength() && entropies[j].ValueKind == JsonValueKind.Number ? entropies[j].GetDouble() : null;
                    int? rank = ranks.ValueKind == JsonValueKind.Array && j < ranks.GetArrayLength() && ranks[j].ValueKind == JsonValueKind.Number ? ranks[j].GetInt32() : null;
                    if (entropy is not null) full++;
                    double logp = logps[j].ValueKind == JsonValueKind.Number ? logps[j].GetDouble() : double.NegativeInfinity;
                    tokens.Add(Token(index, j, names[j].GetString() ?? "", logp, entropy, rank, alternatives));
                }
            }
            results.Add(Result(index, text, tokens, choice, promptTokens, full));
        }
        return [.. results.OrderBy(r => r.Sequence)];
    }

    private static GeneratedToken Token(int sequence, int index, string text, double logprob, double? entropy, int? rank, List<TokenAlternative> alternatives)
    {
        // OpenAI's -9999 stands for a probability too small to represent.
        float lp = logprob <= -9999 ? float.NegativeInfinity : (float)logprob;
        float h = entropy is { } e ? (float)e : (float)TopKEntropy(lp, alternatives.Select(a => (double)a.LogProbability));
        int r = rank ?? alternatives.Count(a => a.LogProbability > lp); // ties count as not above, as the kernel's rank does
        // An endpoint sends no token ids: -1 (the text methods read pieces; the hidden-state backend is refused remotely).
        return new GeneratedToken(sequence, index, -1, text, lp, h, r, alternatives);
    }

    /// <summary>
    /// The entropy estimate from a step's top-k log-probabilities: −Σ p log p over the alternatives (the chosen token
    /// added when it is not among them), plus the remaining mass r as one outcome, −r log r. It is a lower bound on
    /// the full-vocabulary entropy (splitting r over more tokens only adds).
    /// </summary>
    public static double TopKEntropy(double chosenLogprob, IEnumerable<double> alternativeLogprobs)
    {
        var ps = alternativeLogprobs.Where(double.IsFinite).Select(Math.Exp).ToList();
        if (double.IsFinite(chosenLogprob) && !alternativeLogprobs.Any(a => Math.Abs(a - chosenLogprob) < 1e-12)) ps.Add(Math.Exp(chosenLogprob));
        double h = 0, mass = 0;
        foreach (double p in ps) { if (p > 0) h -= p * Math.Log(p); mass += p; }
        double rest = 1 - mass;
        if (rest > 1e-12) h -= rest * Math.Log(rest);
        return Math.Max(0, h);
    }

    private GenerationResult Result(int index, string text, List<GeneratedToken> tokens, JsonElement choice, int promptTokens, int fullEntropySteps)
    {
        var finish = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == "length" ? FinishReason.Length : FinishReason.Stop;
        return new GenerationResult(index, text, tokens, finish, Scores(choice, tokens, fullEntropySteps), promptTokens, null);
    }

    /// <summary>
    /// The answer's token-probability scores: uqengine serve's "uncertainty" object when the choice has one (it
    /// covers every decoded step, the stop string's token too, which logprobs leaves out, as a local run's scores
    /// do), else accumulated from the logprobs entries. Entropy steps are counted for the report's note here.
    /// </summary>
    private TokenProbabilityScores Scores(JsonElement choice, List<GeneratedToken> tokens, int fullEntropySteps)
    {
        if (choice.TryGetProperty("uncertainty", out var u) && u.ValueKind == JsonValueKind.Object && OptionalInt(u, "token_count") is int count)
        {
            Interlocked.Add(ref _fullEntropySteps, count);
            if (count == 0) return new TokenProbabilityAccumulator().Result;
            // The server writes null for a value that is not finite (a step of probability 0).
            return new TokenProbabilityScores(count,
                OptionalDouble(u, "sequence_logprob") ?? double.NegativeInfinity,
                OptionalDouble(u, "mean_logprob") ?? double.NegativeInfinity,
                OptionalDouble(u, "mean_entropy") ?? double.PositiveInfinity,
                OptionalDouble(u, "max_entropy") ?? double.PositiveInfinity,
                OptionalDouble(u, "min_token_probability") ?? 0);
        }
        var accumulator = new TokenProbabilityAccumulator();
        foreach (var t in tokens) accumulator.Add(t.LogProbability, t.Entropy);
        Interlocked.Add(ref _fullEntropySteps, fullEntropySteps);
        Interlocked.Add(ref _estimatedEntropySteps, tokens.Count - fullEntropySteps);
        return accumulator.Result;
    }

    private static int PromptTokens(JsonElement root) =>
        root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object && u.TryGetProperty("prompt_tokens", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : 0;

    private static double? OptionalDouble(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    private static int? OptionalInt(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
    }

    /// <summary>Sends each attempt to the next endpoint (round-robin), so a retry after a dead replica goes elsewhere.</summary>
    private sealed class EndpointRotationHandler(IReadOnlyList<Uri> endpoints) : DelegatingHandler
    {
        private int _next = -1;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // A retry resends the same message, whose URI the previous attempt pointed at its endpoint.
            if (endpoints.Count > 1 && request.RequestUri is { } uri && endpoints.FirstOrDefault(e => e.IsBaseOf(uri)) is { } current)
            {
                string relative = current.MakeRelativeUri(uri).ToString();
                int i = (int)((uint)Interlocked.Increment(ref _next) % (uint)endpoints.Count);
                request.RequestUri = new Uri(endpoints[i], relative);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
