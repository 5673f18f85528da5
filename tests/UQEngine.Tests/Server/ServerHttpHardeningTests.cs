using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace UQEngine.Tests.Server;

/// <summary>
/// Malformed HTTP, wrong methods, unsupported OpenAI parameters and browser-driven requests (DNS rebinding,
/// cross-site POSTs, CORS) end as 4xx with OpenAI's error body, never a 500 and never a completion.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ServerHttpHardeningTests
{
    private static readonly string Model = LoopbackServer.ModelId;

    private static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? code = null, string? param = null)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        foreach (string field in new[] { "message", "type", "param", "code" }) Assert.True(error.TryGetProperty(field, out _), $"no '{field}' in {text}");
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
        return error;
    }

    private static Task<HttpResponseMessage> PostBytesAsync(LoopbackServer server, string path, byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return server.Client.PostAsync(path, content);
    }

    /// <summary>Sends raw request bytes on a fresh connection and returns the status code and body of the answer.</summary>
    private static async Task<(int Status, string Head, string Body)> RawAsync(LoopbackServer server, byte[] request)
    {
        var uri = new Uri(server.BaseAddress);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request);
        await stream.FlushAsync();
        using var reader = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await stream.CopyToAsync(reader, timeout.Token); }
        catch (IOException) { } // the server may reset after answering a broken request
        string text = Encoding.UTF8.GetString(reader.ToArray());
        int split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, $"no HTTP answer: '{text}'");
        string head = text[..split];
        return (int.Parse(head.Split(' ')[1]), head, text[(split + 4)..]);
    }

    private static string ChatJson(string extra = "") =>
        $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2{{extra}}}""";

    [Fact]
    public async Task Invalid_utf8_inside_a_json_string_is_400()
    {
        await using var server = await LoopbackServer.StartAsync();
        byte[] body = [.. Encoding.UTF8.GetBytes($$"""{"model":"{{Model}}","messages":[{"role":"user","content":"a"""), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("\"}]}")];
        using var response = await PostBytesAsync(server, "/v1/chat/completions", body);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json");
        // In a property name too, and on the completions endpoint.
        byte[] name = [.. Encoding.UTF8.GetBytes($$"""{"model":"{{Model}}","prompt":"x","""), (byte)'"', 0xC3, (byte)'"', .. Encoding.UTF8.GetBytes(":1}")];
        using var second = await PostBytesAsync(server, "/v1/completions", name);
        await AssertErrorAsync(second, HttpStatusCode.BadRequest, "invalid_json");
    }

    [Theory]
    [InlineData("\\ud800")]
    [InlineData("\\udc00x")]
    [InlineData("a\\ud800\\u0041")]
    public async Task A_lone_surrogate_escape_is_400(string escaped)
    {
        await using var server = await LoopbackServer.StartAsync();
        using var response = await server.PostAsync("/v1/chat/completions", $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{escaped}}"}]}""");
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json");
    }

    [Theory]
    [InlineData("FFFFFFFFFFFFFFFFFFFF")] // overflows the chunk-size counter
    [InlineData("zz")]                   // not hex
    [InlineData("5")]                    // says 5 bytes, sends 2 and a bad terminator
    public async Task A_broken_chunked_body_is_4xx(string chunkSize)
    {
        await using var server = await LoopbackServer.StartAsync();
        var uri = new Uri(server.BaseAddress);
        string request = $"POST /v1/chat/completions HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + $"{chunkSize}\r\n{{\"\r\nXX\r\n0\r\n\r\n";
        var (status, head, body) = await RawAsync(server, Encoding.ASCII.GetBytes(request));
        Assert.True(status is >= 400 and < 500, $"{head}\n{body}");
        if (body.Length > 0 && body.TrimStart().StartsWith('{')) Assert.True(JsonDocument.Parse(body).RootElement.TryGetProperty("error", out _), body);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/v1/chat/completions", "POST")]
    [InlineData("PUT", "/v1/completions", "POST")]
    [InlineData("DELETE", "/v1/models", "GET")]
    [InlineData("POST", "/v1/models/synthetic", "GET")]
    [InlineData("POST", "/health", "GET")]
    [InlineData("PATCH", "/metrics", "GET")]
    [InlineData("GET", "/v1/embeddings", "POST")]
    [InlineData("POST", "/", "GET")]
    public async Task A_wrong_method_on_a_known_path_is_405_with_Allow(string method, string path, string allowed)
    {
        await using var server = await LoopbackServer.StartAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        using var response = await server.Client.SendAsync(request);
        await AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Contains(allowed, response.Content.Headers.Allow);
        using var unknown = await server.Client.GetAsync("/v1/nothing");
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "unknown_url");
    }

    [Theory]
    [InlineData("tools", """[{"type":"function","function":{"name":"f"}}]""")]
    [InlineData("tool_choice", "\"auto\"")]
    [InlineData("functions", """[{"name":"f"}]""")]
    [InlineData("function_call", "\"auto\"")]
    [InlineData("logit_bias", """{"50256":-100}""")]
    [InlineData("frequency_penalty", "0.5")]
    [InlineData("presence_penalty", "-1")]
    [InlineData("repetition_penalty", "1.3")]
    [InlineData("frequency_penalty", "\"high\"")]
    public async Task An_unsupported_parameter_is_400_naming_it(string name, string value)
    {
        await using var server = await LoopbackServer.StartAsync();
        using var chat = await server.PostAsync("/v1/chat/completions", ChatJson($",\"{name}\":{value}"));
        await AssertErrorAsync(chat, HttpStatusCode.BadRequest, "unsupported_parameter", name);
        using var completion = await server.PostAsync("/v1/completions", $$"""{"model":"{{Model}}","prompt":"hi","max_tokens":2,"{{name}}":{{value}}}""");
        await AssertErrorAsync(completion, HttpStatusCode.BadRequest, "unsupported_parameter", name);
    }

    [Fact]
    public async Task Unsupported_parameters_at_their_neutral_values_are_tolerated()
    {
        await using var server = await LoopbackServer.StartAsync();
        string extra = ""","tools":[],"tool_choice":"none","response_format":{"type":"text"},"logit_bias":{},"frequency_penalty":0,"presence_penalty":0.0,"repetition_penalty":1,"functions":null""";
        using var response = await server.PostAsync("/v1/chat/completions", ChatJson(extra));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Every_integer_field_takes_an_integral_number_written_with_a_fraction_and_refuses_a_fractional_one()
    {
        await using var server = await LoopbackServer.StartAsync();
        using var ok = await server.PostAsync("/v1/chat/completions", ChatJson(""","n":2.0,"seed":7.0,"max_completion_tokens":2.0,"top_logprobs":1e0,"logprobs":true,"temperature":1"""));
        Assert.True(ok.StatusCode == HttpStatusCode.OK, await ok.Content.ReadAsStringAsync());
        using var completion = await server.PostAsync("/v1/completions", $$"""{"model":"{{Model}}","prompt":"hi","max_tokens":20E-1,"logprobs":1.0,"seed":1.0}""");
        Assert.True(completion.StatusCode == HttpStatusCode.OK, await completion.Content.ReadAsStringAsync());
        foreach (string field in new[] { "n", "seed", "max_tokens", "top_logprobs" })
        {
            using var refused = await server.PostAsync("/v1/chat/completions", $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"logprobs":true,"{{field}}":1.5}""");
            await AssertErrorAsync(refused, HttpStatusCode.BadRequest, "invalid_type", field);
        }
        using var huge = await server.PostAsync("/v1/chat/completions", ChatJson(",\"seed\":1e30"));
        await AssertErrorAsync(huge, HttpStatusCode.BadRequest, "out_of_range", "seed");
    }

    [Fact]
    public async Task A_foreign_Host_header_is_refused_and_loopback_names_pass()
    {
        await using var server = await LoopbackServer.StartAsync();
        var uri = new Uri(server.BaseAddress);
        foreach (string host in new[] { "evil.example", $"evil.example:{uri.Port}", "127.0.0.1.nip.io", "localhost.evil.example" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "application/json") };
            request.Headers.Host = host;
            using var response = await server.Client.SendAsync(request);
            await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_host");
        }
        foreach (string host in new[] { "localhost", $"localhost:{uri.Port}", $"127.0.0.1:{uri.Port}", "[::1]:1234" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/health");
            request.Headers.Host = host;
            using var response = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task An_allowed_host_passes()
    {
        await using var server = await LoopbackServer.StartAsync(o => o with { AllowedHosts = ["uq.lan"] });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health");
        request.Headers.Host = "uq.lan:8080";
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_rebinding_attack_of_the_review_is_refused()
    {
        // A web page's text/plain POST from a foreign origin through a rebound name: refused, no completion.
        await using var server = await LoopbackServer.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "text/plain") };
        request.Headers.Host = "evil.example";
        request.Headers.Add("Origin", "http://evil.example");
        using var response = await server.Client.SendAsync(request);
        Assert.True((int)response.StatusCode is >= 400 and < 500);
        Assert.DoesNotContain("choices", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, (await server.ScrapeAsync()).Value("uqengine_completion_tokens_total"));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/json; charset=latin1")]
    [InlineData(null)]
    public async Task A_post_body_that_is_not_declared_json_is_415(string? contentType)
    {
        await using var server = await LoopbackServer.StartAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(ChatJson()));
        if (contentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await server.Client.PostAsync("/v1/chat/completions", content);
        await AssertErrorAsync(response, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        using var ok = await PostBytesAsync(server, "/v1/chat/completions", Encoding.UTF8.GetBytes(ChatJson()), "Application/JSON; charset=UTF-8");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Cors_is_off_by_default_a_foreign_origin_gets_403_and_the_same_origin_passes()
    {
        await using var server = await LoopbackServer.StartAsync();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", "https://evil.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type");
        using (var response = await server.Client.SendAsync(preflight))
        {
            await AssertErrorAsync(response, HttpStatusCode.Forbidden, "origin_not_allowed");
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
        using var post = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "application/json") };
        post.Headers.Add("Origin", "https://evil.example");
        using (var response = await server.Client.SendAsync(post))
            await AssertErrorAsync(response, HttpStatusCode.Forbidden, "origin_not_allowed");

        // The playground: served at /, it posts to its own origin (browsers send Origin on POSTs).
        using (var page = await server.Client.GetAsync("/"))
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var own = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "application/json") };
        own.Headers.Add("Origin", server.BaseAddress.TrimEnd('/'));
        using (var response = await server.Client.SendAsync(own))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Fact]
    public async Task A_preflight_from_an_allowed_origin_passes_and_another_does_not()
    {
        const string allowed = "https://app.example";
        await using var server = await LoopbackServer.StartAsync(o => o with { CorsOrigins = [allowed], ApiKey = "k" });
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", allowed);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization, content-type");
        using (var response = await server.Client.SendAsync(preflight)) // no API key: a preflight never carries one
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Equal(allowed, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
            Assert.Contains("POST", response.Headers.GetValues("Access-Control-Allow-Methods").Single());
            Assert.Contains("Authorization", response.Headers.GetValues("Access-Control-Allow-Headers").Single());
        }
        using var other = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        other.Headers.Add("Origin", "https://app.example.evil");
        other.Headers.Add("Access-Control-Request-Method", "POST");
        using (var response = await server.Client.SendAsync(other))
        {
            await AssertErrorAsync(response, HttpStatusCode.Forbidden, "origin_not_allowed");
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
        // The actual request and its errors carry the grant, so the page can read them.
        using var post = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "application/json") };
        post.Headers.Add("Origin", allowed);
        post.Headers.Authorization = new("Bearer", "k");
        using (var response = await server.Client.SendAsync(post))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(allowed, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }
        using var unauthorized = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(ChatJson(), Encoding.UTF8, "application/json") };
        unauthorized.Headers.Add("Origin", allowed);
        using (var response = await server.Client.SendAsync(unauthorized))
        {
            await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key");
            Assert.Equal(allowed, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }
    }
}
