using System.Diagnostics;
using System.Text.Json;
using UQEngine.Tests.Cli;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Remote;

/// <summary>
/// `uqengine eval --endpoint` against real `uqengine serve` processes on loopback: the same numbers as the local
/// in-process run, the key kept out of the results, a replica killed mid-run, and nginx in front when installed.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RemoteEvalTests
{
    private const string Key = "sk-remote-test-4711";
    private const string Methods = "msp,mean_entropy,max_entropy,semantic_entropy,sar,verbal_numeric";
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(8);

    private static string[] Eval(string folder, int items, params string[] extra) =>
        ["eval", "-d", "demo:open:eval", "--limit", items.ToString(System.Globalization.CultureInfo.InvariantCulture), "--methods", Methods, "-o", folder, "--bootstrap", "100", .. extra];

    private static Dictionary<string, JsonElement> Items(string folder) =>
        File.ReadAllLines(Path.Combine(folder, "items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(e => e.GetProperty("id").GetString()!);

    private static double Value(JsonElement item, string method) => item.GetProperty("methods").GetProperty(method).GetProperty("uncertainty").GetDouble();

    private static double Auroc(string folder, string method) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json"))).RootElement
        .GetProperty("method_summaries").GetProperty(method).GetProperty("metrics").GetProperty("ranking").GetProperty("auroc_error_detection").GetProperty("estimate").GetDouble();

    [Fact]
    public async Task Eval_over_uqengine_serve_equals_the_local_run_and_keeps_the_key_out_of_the_results()
    {
        using var dir = new TempDirectory();
        using var server = await ServeProcess.StartAsync("--api-key", Key, "--max-sequences", "5");
        string local = dir.File("local"), remote = dir.File("remote");

        var l = UqengineProcess.Run(Limit, Eval(local, 10, "--similarity", "rouge-l"));
        Assert.True(l.ExitCode == 0, l.Stderr + l.Stdout);
        // The key comes from OPENAI_API_KEY (the fallback); the server refuses requests without it.
        var r = UqengineProcess.Run(Limit, new Dictionary<string, string?> { ["UQENGINE_API_KEY"] = null, ["OPENAI_API_KEY"] = Key }, Eval(remote, 10, "--endpoint", server.BaseAddress));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);

        var a = Items(local);
        var b = Items(remote);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (id, x) in a)
        {
            var y = b[id];
            Assert.Equal(x.GetProperty("response").GetString(), y.GetProperty("response").GetString());
            Assert.Equal(x.GetProperty("correct").GetBoolean(), y.GetProperty("correct").GetBoolean());
            // The server decodes in its batcher's context (5 sequence slots), the local run in a context of its own:
            // llama.cpp's float32 logits differ in the last bits with the KV layout (docs/ARCHITECTURE.md), so
            // log-probabilities and entropies agree to float precision, not bit for bit (1.2e-7 seen).
            foreach (string m in (string[])["msp", "mean_entropy", "max_entropy"])
                Assert.True(Math.Abs(Value(x, m) - Value(y, m)) <= 1e-6, $"{id} {m}: local {Value(x, m)}, remote {Value(y, m)}");
            // Same seeds give the same samples and the same verbal reply, so these are equal exactly.
            foreach (string m in (string[])["semantic_entropy", "sar", "verbal_numeric"])
                Assert.Equal(Value(x, m), Value(y, m));
        }
        foreach (string m in Methods.Split(','))
            Assert.Equal(Auroc(local, m), Auroc(remote, m), 1e-9);

        string runJson = File.ReadAllText(Path.Combine(remote, "run.json"));
        Assert.Contains($"\"endpoint\": \"{server.BaseAddress}\"", runJson);
        Assert.Contains("\"endpoint_model\": \"uqengine-demo-f16\"", runJson);
        foreach (string file in Directory.EnumerateFiles(remote))
            Assert.DoesNotContain(Key, File.ReadAllText(file));
        Assert.Contains("full-distribution values", File.ReadAllText(Path.Combine(remote, "report.md")));

        // Resuming over the endpoint: the same settings add nothing; another endpoint is refused by run.json.
        var again = UqengineProcess.Run(Limit, new Dictionary<string, string?> { ["UQENGINE_API_KEY"] = Key }, Eval(remote, 10, "--endpoint", server.BaseAddress));
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(10, File.ReadAllLines(Path.Combine(remote, "items.jsonl")).Length);
        var other = UqengineProcess.Run(Limit, new Dictionary<string, string?> { ["UQENGINE_API_KEY"] = Key }, Eval(remote, 10, "--endpoint", $"http://127.0.0.1:{server.Port}/other/v1", "--model", "uqengine-demo-f16"));
        Assert.Equal(1, other.ExitCode);
        Assert.Contains("endpoint was", other.Stderr);
    }

    [Fact]
    public async Task Sensitivity_over_the_endpoint_caches_the_same_samples_as_the_local_run()
    {
        using var dir = new TempDirectory();
        using var server = await ServeProcess.StartAsync("--max-sequences", "5");
        string[] Args(string folder) => ["sensitivity", "-d", "demo:open:eval", "--limit", "4", "--temperatures", "0.5,1", "--ks", "2,3", "--sample-count", "3", "-o", folder];
        var l = UqengineProcess.Run(Limit, [.. Args(dir.File("local")), "--similarity", "rouge-l"]);
        Assert.True(l.ExitCode == 0, l.Stderr + l.Stdout);
        var r = UqengineProcess.Run(Limit, [.. Args(dir.File("remote")), "--endpoint", server.BaseAddress]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        // Same seeds, same samples: the cached texts and likelihoods are equal line for line.
        Assert.Equal(File.ReadAllLines(Path.Combine(dir.File("local"), "samples.jsonl")), File.ReadAllLines(Path.Combine(dir.File("remote"), "samples.jsonl")));
        Assert.Contains("\"endpoint_model\": \"uqengine-demo-f16\"", File.ReadAllText(Path.Combine(dir.File("remote"), "sensitivity-run.json")));
    }

    [Fact]
    public async Task A_wrong_key_stops_the_run_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        using var server = await ServeProcess.StartAsync("--api-key", Key);
        var r = UqengineProcess.Run(Limit, new Dictionary<string, string?> { ["UQENGINE_API_KEY"] = null, ["OPENAI_API_KEY"] = null },
            Eval(dir.File("out"), 2, "--endpoint", server.BaseAddress, "--api-key", "wrong", "--model", "uqengine-demo-f16"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("401", r.Stderr);
        Assert.Contains("--api-key", r.Stderr);
    }

    [Fact]
    public async Task A_replica_killed_mid_run_is_retried_and_nothing_is_lost_or_duplicated()
    {
        using var dir = new TempDirectory();
        using var one = await ServeProcess.StartAsync("--max-sequences", "5");
        using var two = await ServeProcess.StartAsync("--max-sequences", "5");
        const int count = 24;
        string folder = dir.File("run");
        var run = Task.Run(() => UqengineProcess.Run(Limit, Eval(folder, count, "--endpoint", $"{one.BaseAddress},{two.BaseAddress}", "--concurrency", "2")));

        // Kill replica two once a few items are in: requests in flight there and every later attempt on it fail.
        string items = Path.Combine(folder, "items.jsonl");
        var clock = Stopwatch.StartNew();
        while (!run.IsCompleted && (!File.Exists(items) || File.ReadAllLines(items).Length < 3) && clock.Elapsed < Limit) await Task.Delay(100);
        Assert.False(run.IsCompleted, "the run finished before the replica could be killed");
        two.Kill();

        var r = await run;
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var ids = File.ReadAllLines(items).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).ToList();
        Assert.Equal(count, ids.Count);
        Assert.Equal(count, ids.Distinct().Count());
        Assert.DoesNotContain("\"error\"", File.ReadAllText(items));
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.Matches(@"request\(s\) to the endpoint, [1-9]\d* attempt\(s\) retried", report);
    }

    [Fact]
    public async Task Nginx_in_front_of_two_replicas_serves_the_run()
    {
        string? nginx = new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists);
        Assert.SkipUnless(nginx is not null, "nginx is not installed (Debian: apt-get install -y nginx-light); the replicas are still tested behind the client's own round-robin");
        using var dir = new TempDirectory();
        using var one = await ServeProcess.StartAsync("--max-sequences", "5");
        using var two = await ServeProcess.StartAsync("--max-sequences", "5");
        using var proxy = NginxProcess.Start(nginx!, dir.Path, one.Port, two.Port);
        string folder = dir.File("run");
        var r = UqengineProcess.Run(Limit, Eval(folder, 8, "--endpoint", proxy.BaseAddress, "--concurrency", "2"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Equal(8, File.ReadAllLines(Path.Combine(folder, "items.jsonl")).Length);
    }

    [Fact]
    public void Methods_an_endpoint_cannot_run_are_refused_before_any_request()
    {
        using var dir = new TempDirectory();
        // Nothing listens on port 9: the refusals come before any request.
        var probe = UqengineProcess.Run(Limit, "eval", "-d", "demo:open:eval", "--methods", "msp,inv_entropy", "-o", dir.File("a"), "--endpoint", "http://127.0.0.1:9/v1");
        Assert.Equal(1, probe.ExitCode);
        Assert.Contains("'inv_entropy'", probe.Stderr);
        Assert.Contains("chat template", probe.Stderr);
        var hidden = UqengineProcess.Run(Limit, "eval", "-d", "demo:open:eval", "--methods", "semantic_entropy", "--similarity", "hidden", "-o", dir.File("b"), "--endpoint", "http://127.0.0.1:9/v1");
        Assert.Equal(1, hidden.ExitCode);
        Assert.Contains("--similarity hidden reads a local model", hidden.Stderr);
        var bad = UqengineProcess.Run(Limit, "eval", "-d", "demo:open:eval", "-o", dir.File("c"), "--endpoint", "ftp://x");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("'ftp://x' is not an http(s) URL", bad.Stderr);
    }
}

/// <summary>Debian's nginx as a round-robin load balancer over two replicas, in a prefix of its own (no root, no system config).</summary>
internal sealed class NginxProcess : IDisposable
{
    private readonly Process _process;

    private NginxProcess(Process process, int port) { _process = process; BaseAddress = $"http://127.0.0.1:{port}/v1"; }

    public string BaseAddress { get; }

    public static NginxProcess Start(string nginx, string prefix, int a, int b)
    {
        int port = FreePort();
        Directory.CreateDirectory(Path.Combine(prefix, "logs"));
        string conf = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(conf, $$"""
            worker_processes 1;
            pid {{prefix}}/nginx.pid;
            error_log {{prefix}}/logs/error.log;
            events { worker_connections 64; }
            http {
              access_log off;
              client_body_temp_path {{prefix}}/body; proxy_temp_path {{prefix}}/proxy;
              fastcgi_temp_path {{prefix}}/fcgi; uwsgi_temp_path {{prefix}}/uwsgi; scgi_temp_path {{prefix}}/scgi;
              upstream uqengine { server 127.0.0.1:{{a}}; server 127.0.0.1:{{b}}; }
              server {
                listen 127.0.0.1:{{port}};
                location / { proxy_pass http://uqengine; proxy_read_timeout 300s; proxy_set_header Host 127.0.0.1; }
              }
            }
            """);
        var process = Process.Start(new ProcessStartInfo(nginx) { ArgumentList = { "-p", prefix, "-c", conf, "-g", "daemon off;" }, UseShellExecute = false, RedirectStandardError = true })!;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            try { using var c = new System.Net.Sockets.TcpClient("127.0.0.1", port); return new NginxProcess(process, port); }
            catch (System.Net.Sockets.SocketException) { Thread.Sleep(100); }
        }
        process.Kill(entireProcessTree: true);
        throw new InvalidOperationException("nginx did not start: " + process.StandardError.ReadToEnd());
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Dispose()
    {
        // The workers too: killed alone, the master leaves them running, holding the test runner's output pipe.
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        _process.Dispose();
    }
}
