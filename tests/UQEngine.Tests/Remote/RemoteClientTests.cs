using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Remote;

namespace UQEngine.Tests.Remote;

/// <summary>The endpoint client against a small HttpListener stub: 429 + Retry-After, a server that ignores n, extra fields, the top-k entropy estimate.</summary>
public sealed class RemoteClientTests
{
    /// <summary>One HTTP server on a free loopback port answering every request with <paramref name="answer"/>(body, call number).</summary>
    private sealed class Stub : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        public List<JsonElement> Requests { get; } = [];

        public Stub(Func<JsonElement, int, (int Status, string? RetryAfter, string Body)> answer)
        {
            for (int attempt = 0; ; attempt++)
            {
                Port = Random.Shared.Next(20000, 60000);
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
                try { _listener.Start(); break; }
                catch (HttpListenerException) when (attempt < 20) { }
            }
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext http;
                    try { http = await _listener.GetContextAsync(); }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                    using var reader = new StreamReader(http.Request.InputStream);
                    var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
                    int call;
                    lock (Requests) { Requests.Add(body); call = Requests.Count; }
                    var (status, retryAfter, text) = answer(body, call);
                    http.Response.StatusCode = status;
                    if (retryAfter is not null) http.Response.Headers["Retry-After"] = retryAfter;
                    http.Response.ContentType = "application/json";
                    byte[] bytes = Encoding.UTF8.GetBytes(text);
                    await http.Response.OutputStream.WriteAsync(bytes);
                    http.Response.Close();
                }
            });
        }

        public int Port { get; private set; }
        public Uri Endpoint => new($"http://127.0.0.1:{Port}/v1/");

        public void Dispose() { _listener.Stop(); _listener.Close(); }
    }

    /// <summary>An OpenAI chat answer of one choice "Paris" (two tokens), with fields this client does not know.</summary>
    private static string ChatAnswer(int index = 0) => """
        {"id":"x","object":"chat.completion","created":1,"model":"m","system_fingerprint":"fp","service_tier":"default",
         "choices":[{"index":INDEX,"message":{"role":"assistant","content":"Paris","refusal":null,"annotations":[]},"finish_reason":"stop",
           "logprobs":{"content":[
             {"token":"Par","logprob":-0.1,"bytes":[80,97,114],"top_logprobs":[{"token":"Par","logprob":-0.1,"bytes":null},{"token":"Lon","logprob":-2.5,"bytes":null}],"vendor_extra":1},
             {"token":"is","logprob":-0.01,"bytes":[105,115],"top_logprobs":[{"token":"is","logprob":-0.01,"bytes":null}]}],"refusal":null}}],
         "usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"completion_tokens_details":{"reasoning_tokens":0}}}
        """.Replace("INDEX", index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static RemoteRequest Greedy(int n = 1, uint seed = 42) => new([ChatMessage.User("Capital of France?")], null, n, 8, n > 1 ? 1f : 0f, 1f, 0, seed, ["\n"], 2);

    [Fact]
    public async Task A_429_with_Retry_After_is_waited_for_then_the_answer_is_read_with_a_top_k_entropy()
    {
        using var stub = new Stub((_, call) => call == 1
            ? (429, "1", """{"error":{"message":"slow down","type":"rate_limit_error"}}""")
            : (200, null, ChatAnswer()));
        using var client = new OpenAiEndpointClient(new RemoteEndpointOptions { Endpoints = [stub.Endpoint], Model = "m", RetryDelay = TimeSpan.FromMilliseconds(10), TopLogprobs = 2 });
        var clock = Stopwatch.StartNew();
        var result = Assert.Single(await client.CompleteAsync(Greedy()));
        // The backoff alone would retry after ~10 ms; the wait is the server's Retry-After.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(2, stub.Requests.Count);
        Assert.Equal(1, client.Retries);

        Assert.Equal("Paris", result.Text);
        Assert.Equal(["Par", "is"], result.Tokens.Select(t => t.Text));
        Assert.Equal(-0.11, result.Uncertainty.SequenceLogProbability, 1e-6);
        double h0 = OpenAiEndpointClient.TopKEntropy(-0.1, [-0.1, -2.5]);
        Assert.Equal(h0, result.Tokens[0].Entropy, 1e-6);
        Assert.Equal(1, result.Tokens[1].Rank + 1); // rank 0: nothing above the chosen token
        Assert.Contains(client.Notes(), n => n.Contains("top-k estimate for 2 of 2 steps"));

        // What was sent: logprobs with top_logprobs, greedy, the model, the stop string.
        var sent = stub.Requests[0];
        Assert.True(sent.GetProperty("logprobs").GetBoolean());
        Assert.Equal(2, sent.GetProperty("top_logprobs").GetInt32());
        Assert.Equal(0, sent.GetProperty("temperature").GetDouble());
        Assert.Equal("m", sent.GetProperty("model").GetString());
    }

    [Fact]
    public async Task A_server_that_ignores_n_gets_one_request_per_sample_seeded_Seed_plus_i()
    {
        using var stub = new Stub((_, _) => (200, null, ChatAnswer()));
        using var client = new OpenAiEndpointClient(new RemoteEndpointOptions { Endpoints = [stub.Endpoint], Model = "m", Concurrency = 2 });
        var results = await client.CompleteAsync(Greedy(n: 3, seed: 42));
        Assert.Equal([0, 1, 2], results.Select(r => r.Sequence));
        Assert.Equal(3, stub.Requests.Count);
        Assert.Equal(3, stub.Requests[0].GetProperty("n").GetInt32());
        Assert.Equal([43L, 44L], stub.Requests.Skip(1).Select(r => r.GetProperty("seed").GetInt64()).Order());
        Assert.All(stub.Requests.Skip(1), r => Assert.Equal(1, r.GetProperty("n").GetInt32()));

        // From then on, n > 1 goes straight to one request per sample.
        await client.CompleteAsync(Greedy(n: 2, seed: 7));
        Assert.Equal([7L, 8L], stub.Requests.Skip(3).Select(r => r.GetProperty("seed").GetInt64()).Order());
    }

    [Fact]
    public async Task A_bad_request_is_the_items_error_and_an_unreachable_endpoint_stops_the_run()
    {
        using var stub = new Stub((_, _) => (400, null, """{"error":{"message":"the prompt has 9000 tokens but the context holds 4096","code":"context_length_exceeded"}}"""));
        using var client = new OpenAiEndpointClient(new RemoteEndpointOptions { Endpoints = [stub.Endpoint], Model = "m" });
        var e = await Assert.ThrowsAsync<InferenceException>(() => client.CompleteAsync(Greedy()));
        Assert.Contains("400", e.Message);
        Assert.Contains("context holds 4096", e.Message);

        using var nowhere = new OpenAiEndpointClient(new RemoteEndpointOptions { Endpoints = [new Uri("http://127.0.0.1:9/v1/")], Model = "m", MaxRetries = 1, RetryDelay = TimeSpan.FromMilliseconds(1) });
        var gone = await Assert.ThrowsAsync<RemoteEndpointException>(() => nowhere.CompleteAsync(Greedy()));
        Assert.Contains("could not be reached after 1 retries", gone.Message);
    }

    [Fact]
    public async Task Completions_read_the_parallel_arrays_and_the_servers_entropies()
    {
        const string answer = """
            {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" Paris","finish_reason":"length",
              "logprobs":{"tokens":[" Par","is"],"token_logprobs":[-0.2,-0.05],"top_logprobs":[{" Par":-0.2," Lon":-1.9},{"is":-0.05}],"text_offset":[0,4],
                          "token_entropies":[0.7,0.1],"token_ranks":[0,0]}}]}
            """;
        using var stub = new Stub((_, _) => (200, null, answer));
        using var client = new OpenAiEndpointClient(new RemoteEndpointOptions { Endpoints = [stub.Endpoint], Model = "m", Chat = false });
        var r = Assert.Single(await client.CompleteAsync(new RemoteRequest(null, "Q: capital of France?\nA:", 1, 4, 0, 1, 0, 1, [], 2)));
        Assert.Equal(" Paris", r.Text);
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Equal(0.4, r.Uncertainty.MeanEntropy, 1e-6);
        Assert.Equal(0.7, r.Uncertainty.MaxEntropy, 1e-6);
        Assert.Equal(2, stub.Requests[0].GetProperty("logprobs").GetInt32()); // completions: logprobs is the count of alternatives
        Assert.Contains(client.Notes(), n => n.Contains("full-distribution values"));
    }

    [Fact]
    public void The_top_k_entropy_is_exact_when_the_alternatives_hold_all_the_mass_and_a_lower_bound_otherwise()
    {
        double[] p = [0.5, 0.25, 0.125, 0.125];
        double exact = -p.Sum(x => x * Math.Log(x));
        double[] lp = [.. p.Select(x => Math.Log(x))];
        Assert.Equal(exact, OpenAiEndpointClient.TopKEntropy(lp[0], lp), 12);
        double two = OpenAiEndpointClient.TopKEntropy(lp[0], lp[..2]);
        Assert.True(two < exact, $"{two} >= {exact}");
        Assert.Equal(-(0.5 * Math.Log(0.5) + 0.25 * Math.Log(0.25) + 0.25 * Math.Log(0.25)), two, 12); // the rest as one outcome
    }

    [Fact]
    public void Every_method_says_whether_and_how_it_runs_remotely()
    {
        foreach (var m in MethodCatalog.Default.Methods.Select(m => m.Descriptor))
        {
            Assert.False(string.IsNullOrWhiteSpace(m.Remote.How), m.Name);
            bool expected = m.Family switch
            {
                MethodFamily.TokenProbability or MethodFamily.Verbal => true,
                MethodFamily.SampleConsistency => m.Name != "inv_entropy",
                _ => false, // option logits, probes
            };
            Assert.True(expected == m.Remote.Runs, $"{m.Name}: {m.Remote}");
        }
        Assert.Contains("hidden states", MethodCatalog.Default.Get("probe").Descriptor.Remote.How);
        Assert.Contains("logits", MethodCatalog.Default.Get("option_prob").Descriptor.Remote.How);
        Assert.Contains("full-distribution", MethodCatalog.Default.Get("mean_entropy").Descriptor.Remote.How);
    }

    [Theory]
    [InlineData("http://h:8080", "http://h:8080/v1")]
    [InlineData("http://h:8080/v1/", "http://h:8080/v1")]
    [InlineData("https://u:p@h/api/v1,http://b:1", "https://h/api/v1,http://b:1/v1")]
    public void Endpoints_get_the_v1_base_path_and_are_recorded_without_credentials(string given, string described)
    {
        var options = new RemoteEndpointOptions { Endpoints = RemoteEndpointOptions.ParseEndpoints(given) };
        Assert.Equal(described, options.Describe());
    }
}
