using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Structured;

namespace UQEngine.Server;

/// <summary>
/// `uqengine serve`: an OpenAI-compatible HTTP API over one local model whose every choice carries uncertainty
/// scores. <see cref="Build"/> loads the model and returns an unstarted app (RunAsync / StartAsync).
/// </summary>
public static class UqEngineServer
{
    /// <summary>Loads the model (errors surface here, not at the first request) and maps the endpoints.</summary>
    public static WebApplication Build(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            if (options.Host is "localhost") kestrel.ListenLocalhost(options.Port);
            else if (IPAddress.TryParse(options.Host, out var address)) kestrel.Listen(address, options.Port);
            else throw new ArgumentException($"host must be an IP address or localhost, not '{options.Host}'", nameof(options));
        });
        builder.Services.AddUqEngine(options);
        ServerTelemetry.NameService(builder.Services);
        var app = builder.Build();
        app.Services.GetRequiredService<ModelHost>();
        app.UseUqEngine();
        app.MapUqEngine();
        return app;
    }

    /// <summary>
    /// Registers the served model (loaded when first resolved), its decoding worker and the metrics, for hosting the
    /// endpoints in another app: services.AddUqEngine(options); app.UseUqEngine(); app.MapUqEngine().
    /// </summary>
    public static IServiceCollection AddUqEngine(this IServiceCollection services, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddMetrics();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<ModelHost>();
        ServerTelemetry.Add(services, options);
        return services;
    }

    /// <summary>The address a started app listens on (useful with port 0).</summary>
    public static string BaseAddress(this WebApplication app) =>
        app.Urls.FirstOrDefault() ?? throw new InvalidOperationException("the server is not started");

    /// <summary>Error translation, metrics and the optional API key, in front of every endpoint.</summary>
    public static IApplicationBuilder UseUqEngine(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var metrics = http.RequestServices.GetRequiredService<ServerMetrics>();
        var options = http.RequestServices.GetRequiredService<ServerOptions>();
        var clock = Stopwatch.StartNew();
        string route = RouteLabel(http.Request.Path);
        var span = ServerTracing.StartRequest(http, route);
        try
        {
            RequestGuards.CheckHost(http.Request, options);
            RequestGuards.CheckOrigin(http, options);
            if (HttpMethods.IsOptions(http.Request.Method))
            {
                RequestGuards.AnswerOptions(http, RequestGuards.AllowedMethods(http.Request.Path) ?? throw UnknownUrl(http));
                return;
            }
            if (options.ApiKey is not null && http.Request.Path.StartsWithSegments("/v1") && !HasKey(http.Request, options.ApiKey))
                throw new ApiErrorException(401, "Incorrect or missing API key: send \"Authorization: Bearer <key>\".", "invalid_request_error", null, "invalid_api_key");
            await next(http);
        }
        catch (ApiErrorException e) { await WriteErrorAsync(http, e.Status, e.Envelope, e.Headers); }
        catch (BadHttpRequestException e) // Kestrel refused the request while the body was read: bad chunking, too large, cut off
        {
            await WriteErrorAsync(http, e.StatusCode is >= 400 and < 500 ? e.StatusCode : 400, new ErrorEnvelope(new ErrorBody(
                e.StatusCode == StatusCodes.Status413PayloadTooLarge ? $"the request body is larger than {options.MaxRequestBodyBytes} bytes" : e.Message,
                "invalid_request_error", null, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request_too_large" : null)));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            if (!http.Response.HasStarted) http.Response.StatusCode = 499; // nginx's "client closed request", for the metrics: nobody reads it
        }
        catch (Exception e)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("UQEngine.Server").LogError(e, "request failed");
            await WriteErrorAsync(http, 500, new ErrorEnvelope(new ErrorBody($"internal error: {e.Message}", "server_error", null, null)));
        }
        finally
        {
            metrics.RecordRequest(route, http.Response.StatusCode, clock.Elapsed);
            ServerTracing.EndRequest(span, http.Response.StatusCode);
        }
    });

    public static IEndpointRouteBuilder MapUqEngine(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health", (ModelHost host) => Results.Json(new { status = "ok", model = host.ModelId, queue_depth = host.Worker.QueueDepth }));
        // OpenTelemetry's exporter over ServerMetrics' instruments; it maps every method, so other methods are told 405.
        endpoints.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(new HttpMethodMetadata([HttpMethods.Get]));
        endpoints.MapGet("/v1/models", (ModelHost host) => Results.Json(new ModelList("list", [new ModelCard(host.ModelId, "model", host.Created, "uqengine")]), Wire.Json));
        endpoints.MapGet("/v1/models/{id}", (string id, ModelHost host) => id == host.ModelId
            ? Results.Json(new ModelCard(host.ModelId, "model", host.Created, "uqengine"), Wire.Json)
            : throw UnknownModel(id, host));
        endpoints.MapPost("/v1/chat/completions", (HttpContext http) => CompleteAsync(http, chat: true));
        endpoints.MapPost("/v1/completions", (HttpContext http) => CompleteAsync(http, chat: false));
        endpoints.MapPost("/v1/embeddings", EmbeddingsEndpoint.HandleAsync);
        endpoints.MapPlayground();
        endpoints.MapFallback((HttpContext http) =>
        {
            if (RequestGuards.AllowedMethods(http.Request.Path) is not { } allowed) throw UnknownUrl(http);
            throw new ApiErrorException(405, $"{Truncate(http.Request.Method, 20)} is not allowed on {http.Request.Path.Value}; it takes {allowed}", "invalid_request_error", null, "method_not_allowed")
            {
                Headers = new Dictionary<string, string> { ["Allow"] = allowed + ", OPTIONS" },
            };
        });
        return endpoints;
    }

    private static ApiErrorException UnknownUrl(HttpContext http) =>
        new(404, $"no endpoint {Truncate(http.Request.Method, 20)} {Truncate(http.Request.Path.Value ?? "", 100)}; see /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings, /health, /metrics", "invalid_request_error", null, "unknown_url");

    private static async Task CompleteAsync(HttpContext http, bool chat)
    {
        var host = http.RequestServices.GetRequiredService<ModelHost>();
        var options = http.RequestServices.GetRequiredService<ServerOptions>();
        var metrics = http.RequestServices.GetRequiredService<ServerMetrics>();
        var document = await RequestGuards.ReadJsonAsync(http, options);
        CompletionRequest request;
        using (document)
        {
            RequestGuards.RequireDecodableText(document.RootElement);
            request = chat
                ? CompletionRequestParser.ParseChat(document.RootElement, host.MaxSequences, host.Probe is not null, host.LoraQuery is not null)
                : CompletionRequestParser.ParseCompletion(document.RootElement, host.MaxSequences, host.Probe is not null, host.LoraQuery is not null);
        }
        if (request.Model != host.ModelId) throw UnknownModel(request.Model, host);
        ServerTracing.Describe(http, chat ? "chat" : "text_completion", host.ModelId);

        // Message contents and raw prompts are text: control-token text in them stays text unless parse_special_tokens.
        int[] promptTokens = chat ? host.TokenizeChat(request.Messages!, request.ParseSpecialTokens) : host.Tokenize(request.Prompt!, request.ParseSpecialTokens);
        if (promptTokens.Length == 0) throw ApiErrorException.Invalid("the prompt is empty after tokenization", chat ? "messages" : "prompt");
        int room = host.ContextSize - promptTokens.Length;
        if (room < 1)
            throw ApiErrorException.Invalid($"the prompt has {promptTokens.Length} tokens but the context holds {host.ContextSize}", chat ? "messages" : "prompt", "context_length_exceeded");
        // The KV cache is shared: the prompt is stored once and each of the n samples adds its own tokens.
        int roomPerSample = room / request.Count;
        if (request.MaxTokens > roomPerSample)
            throw ApiErrorException.Invalid(
                $"max_tokens = {request.MaxTokens} does not fit: the context holds {host.ContextSize} tokens, the prompt uses {promptTokens.Length}, leaving {roomPerSample} per sample for n = {request.Count}",
                chat ? "max_completion_tokens" : "max_tokens", "context_length_exceeded");
        if (roomPerSample < 1) throw ApiErrorException.Invalid($"no room left in the context for n = {request.Count} samples", "n", "context_length_exceeded");

        var cancellation = http.RequestAborted;
        var stepHook = options.OnDecodeStep;
        // One probe scorer per sample: the batcher calls OnStep for each of the request's sequences with its index.
        var probes = request.Methods.Contains(UncertaintyMethods.Probe) ? new ProbeScorerSet(host.Probe!, request.Count) : null;
        var generation = new GenerationOptions
        {
            MaxTokens = request.MaxTokens ?? Math.Min(options.DefaultMaxTokens, roomPerSample),
            Sampling = request.Sampling,
            Stop = request.Stop,
            TopAlternatives = request.Logprobs ? request.TopLogprobs : 0,
            Grammar = request.Grammar,
            OnStep = stepHook is null && probes is null ? null : (in DecodeStep step) =>
            {
                probes?.Observe(step);
                stepHook?.Invoke(cancellation);
            },
        };

        var meta = new ResponseMeta((chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), host.ModelId);
        if (request.Stream) await StreamAsync(http, host, metrics, request, promptTokens, generation, probes, meta);
        else
        {
            var job = new DecodeJob(promptTokens, request.Count, generation, null, cancellation);
            Enqueue(host, options, job);
            var results = await Finish(job);
            var queries = await AskLoraQueryAsync(host, request, promptTokens, results, cancellation);
            int completionTokens = results.Sum(r => r.Tokens.Count);
            metrics.RecordTokens(promptTokens.Length, completionTokens);
            var usage = new Usage(promptTokens.Length, completionTokens, promptTokens.Length + completionTokens);
            var set = UncertaintyMethods.ComputeSet(request.Methods, results, host.ChoiceSimilarity);
            var readings = results.Select(r => probes?.Result(r.Sequence)).ToArray();
            var fields = request.Grammar is null ? null : JsonFields.Analyze(results);
            object body = chat
                ? new ChatCompletion(meta.Id, "chat.completion", meta.Created, meta.Model, [.. results.Select((r, i) => new ChatChoice(
                    r.Sequence, new AssistantMessage("assistant", r.Text),
                    request.Logprobs ? new ChatLogprobs([.. r.Tokens.Select(t => Wire.ChatEntry(t, readings[i]?.TokenConfidences[t.Index]))]) : null,
                    Wire.FinishReasonName(r.FinishReason), Wire.WithLoraQuery(Wire.Structured(Wire.Uncertainty(r.Uncertainty, readings[i]?.Confidence), r, fields?[i]), queries?[r.Sequence])))], usage, set)
                : new TextCompletion(meta.Id, "text_completion", meta.Created, meta.Model, [.. results.Select((r, i) => new TextChoice(
                    r.Sequence, r.Text, request.Logprobs ? Wire.TextEntries(r.Tokens, readings[i] is { } p ? [.. r.Tokens.Select(t => p.TokenConfidences[t.Index])] : null) : null,
                    Wire.FinishReasonName(r.FinishReason), Wire.WithLoraQuery(Wire.Uncertainty(r.Uncertainty, readings[i]?.Confidence), queries?[r.Sequence])))], usage, set);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonSerializer.Serialize(body, body.GetType(), Wire.Json), cancellation);
        }
    }

    private sealed record ResponseMeta(string Id, long Created, string Model);

    /// <summary>Server-sent events: one chunk per token (per choice), then each choice's finish chunk, then [DONE].</summary>
    private static async Task StreamAsync(HttpContext http, ModelHost host, ServerMetrics metrics, CompletionRequest request, int[] promptTokens, GenerationOptions generation, ProbeScorerSet? probes, ResponseMeta meta)
    {
        var tokens = Channel.CreateUnbounded<(GeneratedToken Token, double? Probe)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        // On the decoding thread, right after the probe observed this token's step: its reading so far is the token's value.
        var job = new DecodeJob(promptTokens, request.Count, generation,
            t => tokens.Writer.TryWrite((t, probes?.Result(t.Sequence).TokenConfidences[t.Index])), http.RequestAborted);
        Enqueue(host, http.RequestServices.GetRequiredService<ServerOptions>(), job); // before any byte is sent, so a full queue is still a plain 429
        _ = job.Completion.Task.ContinueWith(_ => tokens.Writer.TryComplete(), TaskScheduler.Default);

        var cancellation = http.RequestAborted;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var gates = Enumerable.Range(0, request.Count).Select(_ => new StopSequenceFilter(request.Stop)).ToArray();
        bool chat = request.IsChat;

        if (chat)
            for (int i = 0; i < request.Count; i++)
                await SendAsync(http, ChatChunk(meta, new ChatChunkChoice(i, new ChatDelta("assistant", ""), null, null, null)), cancellation);

        await foreach (var (token, probe) in tokens.Reader.ReadAllAsync(cancellation))
        {
            string text = gates[token.Sequence].Push(token.Text);
            object chunk = chat
                ? ChatChunk(meta, new ChatChunkChoice(token.Sequence, new ChatDelta(null, text), request.Logprobs ? new ChatLogprobs([Wire.ChatEntry(token, probe)]) : null, null, null))
                : TextChunk(meta, new TextChoice(token.Sequence, text, request.Logprobs ? Wire.TextEntries([token], probe is { } p ? [p] : null) : null, null, null));
            await SendAsync(http, chunk, cancellation);
        }

        IReadOnlyList<GenerationResult> results;
        try { results = await Finish(job); }
        catch (ApiErrorException e)
        {
            await SendAsync(http, e.Envelope, cancellation); // headers are gone: the error travels as an event
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await SendAsync(http, new ErrorEnvelope(new ErrorBody($"generation failed: {e.Message}", "server_error", null, null)), cancellation);
            return;
        }
        int completionTokens = results.Sum(r => r.Tokens.Count);
        metrics.RecordTokens(promptTokens.Length, completionTokens);
        var fields = request.Grammar is null ? null : JsonFields.Analyze(results);
        var queries = await AskLoraQueryAsync(host, request, promptTokens, results, cancellation);
        foreach (var r in results)
        {
            string rest = gates[r.Sequence].Finish(r.Text);
            string finish = Wire.FinishReasonName(r.FinishReason);
            var uncertainty = Wire.WithLoraQuery(Wire.Structured(Wire.Uncertainty(r.Uncertainty, probes?.Result(r.Sequence).Confidence), r, fields?[r.Sequence]), queries?[r.Sequence]);
            object chunk = chat
                ? ChatChunk(meta, new ChatChunkChoice(r.Sequence, new ChatDelta(null, rest.Length > 0 ? rest : null), null, finish, uncertainty))
                : TextChunk(meta, new TextChoice(r.Sequence, rest, null, finish, uncertainty));
            await SendAsync(http, chunk, cancellation);
        }
        // The consistency of the choices exists only once all are done: it rides on the last chunk (with the usage, when asked).
        var set = UncertaintyMethods.ComputeSet(request.Methods, results, host.ChoiceSimilarity);
        if (request.IncludeUsageInStream || set is not null)
        {
            Usage? usage = request.IncludeUsageInStream ? new Usage(promptTokens.Length, completionTokens, promptTokens.Length + completionTokens) : null;
            object chunk = chat
                ? new ChatCompletionChunk(meta.Id, "chat.completion.chunk", meta.Created, meta.Model, [], usage, set)
                : new TextCompletion(meta.Id, "text_completion", meta.Created, meta.Model, [], usage, set);
            await SendAsync(http, chunk, cancellation);
        }
        await http.Response.WriteAsync("data: [DONE]\n\n", cancellation);
        await http.Response.Body.FlushAsync(cancellation);
    }

    private static ChatCompletionChunk ChatChunk(ResponseMeta meta, ChatChunkChoice choice) => new(meta.Id, "chat.completion.chunk", meta.Created, meta.Model, [choice], null);
    private static TextCompletion TextChunk(ResponseMeta meta, TextChoice choice) => new(meta.Id, "text_completion", meta.Created, meta.Model, [choice], null);

    private static async Task SendAsync(HttpContext http, object payload, CancellationToken cancellation)
    {
        await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(payload, payload.GetType(), Wire.Json) + "\n\n", cancellation);
        await http.Response.Body.FlushAsync(cancellation);
    }

    private static void Enqueue(ModelHost host, ServerOptions options, DecodeJob job)
    {
        if (!host.Worker.TryEnqueue(job))
            throw new ApiErrorException(429, $"the server is busy: {host.Worker.Capacity} request(s) are already waiting; retry later", "rate_limit_error", null, "queue_full")
            {
                Headers = new Dictionary<string, string> { ["Retry-After"] = options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            };
    }

    /// <summary>Awaits the decoder, turning the library's argument errors into 400s.</summary>
    /// <summary>The LoRA query's reading of each choice (indexed as the choices), when the request asked for it.</summary>
    private static async Task<LoraQueryReading[]?> AskLoraQueryAsync(ModelHost host, CompletionRequest request, int[] promptTokens, IReadOnlyList<GenerationResult> results, CancellationToken cancellation)
    {
        if (!request.Methods.Contains(UncertaintyMethods.LoraQuery) || host.LoraQuery is not { } query) return null;
        var readings = await query.AskAsync(promptTokens, results, cancellation);
        var bySequence = new LoraQueryReading[results.Count];
        for (int i = 0; i < results.Count; i++) bySequence[results[i].Sequence] = readings[i];
        return bySequence;
    }

    private static async Task<IReadOnlyList<GenerationResult>> Finish(DecodeJob job)
    {
        try { return await job.Completion.Task; }
        catch (ArgumentException e) { throw ApiErrorException.Invalid(e.Message); }
    }

    private static ApiErrorException UnknownModel(string id, ModelHost host) =>
        new(404, $"The model '{Truncate(id, 100)}' does not exist; this server serves '{host.ModelId}'.", "invalid_request_error", "model", "model_not_found");

    private static string Truncate(string s, int length) => s.Length <= length ? s : s[..length] + "…";

    private static bool HasKey(HttpRequest request, string key)
    {
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), Encoding.UTF8.GetBytes(key));
    }

    /// <summary>Known routes by name, everything else as "other", so junk paths cannot grow the metrics without bound.</summary>
    private static string RouteLabel(PathString path) => path.Value switch
    {
        "/v1/chat/completions" or "/v1/completions" or "/v1/embeddings" or "/v1/models" or "/health" or "/metrics" => path.Value,
        var p when p?.StartsWith("/v1/models/", StringComparison.Ordinal) == true => "/v1/models/{id}",
        _ => "other",
    };

    private static async Task WriteErrorAsync(HttpContext http, int status, ErrorEnvelope error, IReadOnlyDictionary<string, string>? headers = null)
    {
        if (http.Response.HasStarted) return;
        http.Response.Clear();
        http.Response.StatusCode = status;
        RequestGuards.ApplyCors(http);
        if (headers is not null)
            foreach (var (name, value) in headers) http.Response.Headers[name] = value;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(error, Wire.Json));
    }
}
