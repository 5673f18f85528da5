using System.Diagnostics;
using System.Text.Json;

namespace UQEngine.Tests.Server;

/// <summary>`uqengine serve` as a real process: it announces its address, answers, and refuses bad options in one line.</summary>
[Trait("Category", "Integration")]
public sealed class ServeCommandTests
{
    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "UQEngine.Cli.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_THREADS"] = "1";
        return Process.Start(start)!;
    }

    [Fact]
    public async Task Serve_on_a_free_port_answers_health_and_chat()
    {
        using var serve = await ServeProcess.StartAsync("-m", TestModels.SyntheticPath, "--ctx", "256", "--max-sequences", "2");
        using var client = new HttpClient { BaseAddress = new Uri(serve.Root) };
        Assert.Contains("\"ok\"", await client.GetStringAsync("/health"));
        string model = Path.GetFileNameWithoutExtension(TestModels.SyntheticPath);
        using var response = await client.PostAsync("/v1/chat/completions", new StringContent(JsonSerializer.Serialize(new
        {
            model, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 3, n = 2,
        }), System.Text.Encoding.UTF8, "application/json"));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal(2, JsonDocument.Parse(body).RootElement.GetProperty("choices").GetArrayLength());
    }

    [Fact]
    public async Task Serve_bench_counts_every_streamed_token_per_level_and_reports_the_soak()
    {
        // Greedy "The cat" on the test model runs without an end-of-text token, so every request streams max_tokens.
        using var process = Start("serve", "bench", "-m", TestModels.SyntheticPath, "--streams", "1,2", "--requests", "2", "--max-tokens", "4",
            "--rounds", "1", "--soak-minutes", "0.05", "--soak-streams", "2", "--threads", "1");
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        string stderr = await process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)), "the benchmark did not finish");
        string stdout = await stdoutTask;
        Assert.True(process.ExitCode == 0, stderr + stdout);
        Assert.Matches(@"\n\| 1 \| 2 \| 8 \| [0-9.]+ \| [0-9., ]+ \| 1\.00x \| \d+ \| \d+ \|", stdout);   // 1 stream x 2 requests x 4 tokens
        Assert.Matches(@"\n\| 2 \| 4 \| 16 \| [0-9.]+ \| [0-9., ]+ \| [0-9.]+x \| \d+ \| \d+ \|", stdout); // 2 streams x 2 requests x 4 tokens
        Assert.Contains("soak: 2 streams", stdout);
        Assert.Matches(@"\| GC heap after full collection \(MiB\) \| [0-9.]+ \| [0-9.]+ \| [-+][0-9.]+ \|", stdout);
    }

    [Fact]
    public async Task Serve_bench_refuses_a_bad_level_in_one_line()
    {
        using var process = Start("serve", "bench", "-m", TestModels.SyntheticPath, "--streams", "1,x");
        string stderr = await process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(1, process.ExitCode);
        Assert.Equal("uqengine: error: --streams: 'x' is not a number of streams in 1..256", stderr.Trim());
    }

    [Theory]
    [InlineData("--port", "70000", "port")]
    [InlineData("--api-key", " ", "API key")]
    [InlineData("--max-sequences", "0", "max sequences")]
    [InlineData("--probe", "/nonexistent/serve.probe.json", "probe file '/nonexistent/serve.probe.json' does not exist")]
    [InlineData("--lora-query", "/nonexistent/query.gguf", "LoRA query adapter '/nonexistent/query.gguf' does not exist")]
    [InlineData("--otlp-endpoint", "collector:4317", "OTLP endpoint 'collector:4317' must be an absolute http:// or https:// URL")]
    [InlineData("--otlp-protocol", "udp", "OTLP protocol must be grpc or http/protobuf")]
    [InlineData("--embedding-model", "/nonexistent/embed.gguf", "/nonexistent/embed.gguf")]
    public async Task Bad_options_are_a_one_line_error(string option, string value, string mentioned)
    {
        using var process = Start("serve", "-m", TestModels.SyntheticPath, option, value);
        string stderr = await process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(1, process.ExitCode);
        Assert.StartsWith("uqengine: error: ", stderr);
        Assert.Contains(mentioned, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
