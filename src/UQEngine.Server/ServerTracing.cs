using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>
/// The server's spans on the ActivitySource <see cref="SourceName"/>: one per /v1 request, and under a completion
/// request one child per phase the batcher went through (queue, prompt, generation). Attribute names follow
/// OpenTelemetry's gen_ai conventions.
/// </summary>
internal static class ServerTracing
{
    public const string SourceName = "UQEngine.Server";
    public const string QueueSpan = "uqengine.queue";
    public const string PromptSpan = "uqengine.prompt";
    public const string GenerationSpan = "uqengine.generation";

    public static readonly ActivitySource Source = new(SourceName);

    private static readonly object SpanKey = new();

    /// <summary>
    /// The request's span (null when nobody listens or the path is not the API): a child of the host's recorded HTTP
    /// span when there is one (OpenTelemetry's ASP.NET Core instrumentation), else of the caller's W3C traceparent.
    /// ASP.NET Core also makes unrecorded activities just for diagnostics; parenting on one would have a parent-based
    /// sampler drop the span, so those are skipped.
    /// </summary>
    public static Activity? StartRequest(HttpContext http, string route)
    {
        if (!http.Request.Path.StartsWithSegments("/v1") || !Source.HasListeners()) return null;
        ActivityContext parent = default;
        bool local = Activity.Current is { Recorded: true };
        if (!local)
        {
            Activity.Current = null; // this async flow only: the host still stops its own activity
            ActivityContext.TryParse(http.Request.Headers.TraceParent, http.Request.Headers.TraceState, isRemote: true, out parent);
        }
        var span = Source.StartActivity($"{http.Request.Method} {route}", local ? ActivityKind.Internal : ActivityKind.Server, parent);
        if (span is null) return null;
        span.SetTag("http.request.method", http.Request.Method);
        span.SetTag("http.route", route);
        http.Items[SpanKey] = span;
        return span;
    }

    public static void EndRequest(Activity? span, int status)
    {
        if (span is null) return;
        span.SetTag("http.response.status_code", status);
        if (status >= 500) span.SetStatus(ActivityStatusCode.Error);
        span.Stop();
    }

    /// <summary>The span <see cref="StartRequest"/> made for this request, if any.</summary>
    public static Activity? RequestSpan(HttpContext http) => http.Items.TryGetValue(SpanKey, out var span) ? span as Activity : null;

    /// <summary>What the request asked of which model: on the request span, for any /v1 operation.</summary>
    public static void Describe(HttpContext http, string operation, string model)
    {
        if (RequestSpan(http) is not { } span) return;
        span.SetTag("gen_ai.operation.name", operation);
        span.SetTag("gen_ai.request.model", model);
    }

    /// <summary>The current activity when it is a request span of this source (captured when a job is queued).</summary>
    public static Activity? CurrentRequestSpan() => Activity.Current is { } current && current.Source == Source ? current : null;

    /// <summary>
    /// The job's phases as children of the span it was queued under, with the times the batcher stamped: queued →
    /// admitted (queue), admitted → prompt read (prompt), prompt read → answered (generation). Phases a cancelled or
    /// failed job never reached are left out.
    /// </summary>
    public static void RecordPhases(DecodeJob job, IReadOnlyList<GenerationResult>? results)
    {
        if (job.Span is not { } parent || job.EnqueuedAt is not { } queued) return;
        var end = job.CompletedAt ?? DateTime.UtcNow;
        var admitted = job.Request?.AdmittedAt;
        var promptRead = job.Request?.PromptReadAt;
        string? model = parent.GetTagItem("gen_ai.request.model") as string;
        int? completionTokens = results?.Sum(r => r.Tokens.Count);
        parent.SetTag("gen_ai.usage.input_tokens", job.PromptTokens.Length);
        if (completionTokens is not null) parent.SetTag("gen_ai.usage.output_tokens", completionTokens);
        Phase(parent, QueueSpan, queued, admitted ?? end, model, s => s.SetTag("uqengine.admitted", admitted is not null));
        if (admitted is not { } a) return;
        Phase(parent, PromptSpan, a, promptRead ?? end, model, s => s.SetTag("gen_ai.usage.input_tokens", job.PromptTokens.Length));
        if (promptRead is not { } p) return;
        Phase(parent, GenerationSpan, p, end, model, s =>
        {
            if (completionTokens is not null) s.SetTag("gen_ai.usage.output_tokens", completionTokens);
            s.SetTag("gen_ai.request.choice.count", job.Count);
        });
    }

    private static void Phase(Activity parent, string name, DateTime start, DateTime end, string? model, Action<Activity> describe)
    {
        using var span = Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
        if (span is null) return;
        span.SetTag("gen_ai.request.model", model);
        describe(span);
        span.SetEndTime(end < start ? start : end);
    }
}
