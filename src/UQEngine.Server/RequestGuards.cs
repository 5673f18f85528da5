using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace UQEngine.Server;

/// <summary>
/// What a request must look like before it reaches an endpoint: a Host this server answers to (DNS rebinding), an
/// Origin it trusts (cross-site pages), JSON bodies (no CORS-simple POSTs), the method its path takes, and JSON text
/// that decodes (UTF-8, paired surrogates).
/// </summary>
internal static class RequestGuards
{
    private const string CorsItem = "uqengine.cors-origin";
    private static readonly string[] LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>The methods a known path takes (besides OPTIONS, answered by the middleware); null for unknown paths.</summary>
    public static string? AllowedMethods(PathString path) => path.Value switch
    {
        "/v1/chat/completions" or "/v1/completions" or "/v1/embeddings" => "POST",
        "/" or "/health" or "/metrics" or "/v1/models" => "GET",
        var p when p?.StartsWith("/v1/models/", StringComparison.Ordinal) == true && p.Length > "/v1/models/".Length && p.IndexOf('/', "/v1/models/".Length) < 0 => "GET",
        _ => null,
    };

    /// <summary>400 unless the Host header names this server: loopback, the listen address or an --allowed-host (any port).</summary>
    public static void CheckHost(HttpRequest request, ServerOptions options)
    {
        string host = request.Host.HasValue ? request.Host.Host : "";
        if (host.Length > 0 && (options.AllowedHosts.Contains("*") || HostNames(options).Any(h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase))))
            return;
        throw new ApiErrorException(400, $"the Host header '{Shorten(host)}' is not one this server answers to (loopback names, the listen address, or --allowed-host NAME)", "invalid_request_error", null, "invalid_host");
    }

    private static IEnumerable<string> HostNames(ServerOptions options) =>
        LoopbackHosts.Append(options.Host).Concat(options.AllowedHosts).Select(Bracket);

    /// <summary>IPv6 literals as the Host header writes them: [::1].</summary>
    private static string Bracket(string host) =>
        IPAddress.TryParse(host, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 && !host.StartsWith('[') ? $"[{host}]" : host;

    /// <summary>
    /// A request with an Origin header comes from a browser page: allowed when the page is this server's own (same
    /// scheme-less authority as Host) or its origin is a --cors-origin; allowed cross-origin requests get CORS headers
    /// (on errors too). Others get 403 and no CORS headers.
    /// </summary>
    public static void CheckOrigin(HttpContext http, ServerOptions options)
    {
        string? origin = http.Request.Headers.Origin.FirstOrDefault();
        if (string.IsNullOrEmpty(origin)) return;
        if (options.CorsOrigins.Any(o => o == "*" || string.Equals(o.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase)))
        {
            http.Items[CorsItem] = origin;
            ApplyCors(http);
            return;
        }
        if (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            && string.Equals(uri.Authority, http.Request.Host.Value, StringComparison.OrdinalIgnoreCase))
            return; // same origin: the playground
        throw new ApiErrorException(403, $"requests from the web origin '{Shorten(origin)}' are not allowed (serve with --cors-origin ORIGIN to allow one)", "invalid_request_error", null, "origin_not_allowed");
    }

    /// <summary>Puts the CORS headers of an allowed cross-origin request on the response (again after an error cleared it).</summary>
    public static void ApplyCors(HttpContext http)
    {
        if (http.Items[CorsItem] is not string origin) return;
        http.Response.Headers.AccessControlAllowOrigin = origin;
        http.Response.Headers.Append(HeaderNames.Vary, "Origin");
    }

    /// <summary>OPTIONS on a known path: 204 with Allow, and for a preflight from an allowed origin the CORS grants.</summary>
    public static void AnswerOptions(HttpContext http, string allowed)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status204NoContent;
        response.Headers.Allow = allowed + ", OPTIONS";
        if (http.Items.ContainsKey(CorsItem) && !string.IsNullOrEmpty(http.Request.Headers.AccessControlRequestMethod))
        {
            response.Headers.AccessControlAllowMethods = allowed + ", OPTIONS";
            response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type";
            response.Headers.AccessControlMaxAge = "600";
        }
    }

    /// <summary>415 unless the body is declared as JSON (application/json, UTF-8 if a charset is given).</summary>
    public static void RequireJson(HttpRequest request)
    {
        string? contentType = request.ContentType;
        if (MediaTypeHeaderValue.TryParse(contentType, out var media)
            && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            && (!media.Charset.HasValue || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)))
            return;
        throw new ApiErrorException(415, $"the request body must be JSON sent as Content-Type: application/json, not '{Shorten(contentType ?? "(none)")}'", "invalid_request_error", null, "unsupported_media_type");
    }

    /// <summary>
    /// 400 unless every string and property name in the document decodes: System.Text.Json parses invalid UTF-8
    /// bytes and unpaired \ud800 escapes, and throws only when a string is read.
    /// </summary>
    public static void RequireDecodableText(JsonElement element)
    {
        try { Walk(element); }
        catch (InvalidOperationException e) { throw ApiErrorException.Invalid($"the request body holds text that is not valid UTF-8 or an unpaired surrogate escape: {e.Message}", null, "invalid_json"); }
        catch (ArgumentException e) { throw ApiErrorException.Invalid($"the request body holds text that is not valid UTF-8 or an unpaired surrogate escape: {e.Message}", null, "invalid_json"); }

        static void Walk(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in e.EnumerateObject()) { _ = property.Name; Walk(property.Value); }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray()) Walk(item);
                    break;
                case JsonValueKind.String:
                    _ = e.GetString();
                    break;
            }
        }
    }

    private static string Shorten(string s) => s.Length <= 100 ? s : s[..100] + "…";

    /// <summary>
    /// A POST's JSON body: application/json (else 415), within the size limit (else 413), and parseable (else 400
    /// invalid_json); the caller disposes the document.
    /// </summary>
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext http, ServerOptions options)
    {
        RequireJson(http.Request);
        if (http.Request.ContentLength > options.MaxRequestBodyBytes)
            throw new ApiErrorException(413, $"the request body is larger than {options.MaxRequestBodyBytes} bytes", "invalid_request_error", null, "request_too_large");
        try { return await JsonDocument.ParseAsync(http.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, http.RequestAborted); }
        catch (JsonException e) { throw ApiErrorException.Invalid($"the request body is not valid JSON: {e.Message}", null, "invalid_json"); }
        catch (BadHttpRequestException) { throw; } // Kestrel's own refusals (413, bad framing) keep their status
        catch (IOException e) when (!http.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports some framing errors as plain IOExceptions (a chunk size that overflows: "Bad chunk size data").
            throw ApiErrorException.Invalid($"the request body could not be read: {e.Message}", null, "invalid_body");
        }
    }
}
