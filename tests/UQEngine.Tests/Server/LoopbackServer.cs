using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using UQEngine.Server;

namespace UQEngine.Tests.Server;

/// <summary>A real server on an ephemeral loopback port over the synthetic model, and a client for it.</summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    public const string ModelId = "synthetic";

    private readonly WebApplication _app;

    private LoopbackServer(WebApplication app, string baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = new Uri(baseAddress), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string BaseAddress { get; }
    public HttpClient Client { get; }

    /// <summary>The app's services (its IMeterFactory tells this server's instruments from another's).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>GET /metrics, parsed.</summary>
    public async Task<PrometheusScrape> ScrapeAsync() => PrometheusScrape.Parse(await Client.GetStringAsync("/metrics"));

    public static async Task<LoopbackServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions { ModelPath = TestModels.SyntheticPath, ModelId = ModelId, Port = 0, ContextSize = 512, MaxSequences = 4, Threads = 1, DefaultMaxTokens = 16 };
        var app = UqEngineServer.Build(configure?.Invoke(options) ?? options);
        await app.StartAsync();
        return new LoopbackServer(app, app.BaseAddress());
    }

    public Task<HttpResponseMessage> PostAsync(string path, string json, string? apiKey = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return Client.SendAsync(request, cancellationToken);
    }

    public async Task<(int Status, JsonElement Body)> PostJsonAsync(string path, object body)
    {
        using var response = await PostAsync(path, JsonSerializer.Serialize(body));
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>The JSON payloads of an SSE body ("data: {...}" events), and whether it ended with [DONE].</summary>
    public static (List<JsonElement> Events, bool Done) ParseEvents(string body)
    {
        var events = new List<JsonElement>();
        bool done = false;
        foreach (string block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block);
            string data = block["data: ".Length..];
            if (data == "[DONE]") { done = true; continue; }
            Assert.False(done, "an event came after [DONE]");
            events.Add(JsonDocument.Parse(data).RootElement.Clone());
        }
        return (events, done);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
