using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Spectre.Console;
using UQEngine.Models;
using UQEngine.Server;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine serve bench`: concurrent streaming clients against the server (started in-process, or at --url):
/// aggregate tokens/s per level of concurrency, its speed-up over one stream, time to first token, and a bounded soak
/// that compares the process's memory at its start and end.
/// </summary>
internal static class ServeBenchCommand
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var url = new Option<string?>("--url") { Description = "Benchmark a server that is already running, by its base address (e.g. http://127.0.0.1:8080); its memory is then not measured" };
        var synthetic = new Option<bool>("--synthetic") { Description = "Serve a synthetic llama written for the run (256 wide, 4 layers, 32000-token vocabulary) instead of --model" };
        var streams = new Option<string>("--streams") { Description = "Levels of concurrency, comma-separated", DefaultValueFactory = _ => "1,2,4,8" };
        var requests = new Option<int>("--requests") { Description = "Requests each stream sends per level, one after another", DefaultValueFactory = _ => 3 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of every request", DefaultValueFactory = _ => 64 };
        var prompt = new Option<string>("--prompt") { Description = "The prompt every request sends (/v1/completions)", DefaultValueFactory = _ => "The cat" };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (stream i, request j use seed 1000 i + j)", DefaultValueFactory = _ => 0 };
        var soakMinutes = new Option<double>("--soak-minutes") { Description = "Length of the soak after the levels (0 skips it)", DefaultValueFactory = _ => 10 };
        var soakStreams = new Option<int>("--soak-streams") { Description = "Concurrent streams during the soak", DefaultValueFactory = _ => 4 };
        var rounds = new Option<int>("--rounds") { Description = "Times the levels are run in turn; the table takes each level's median (steadier on a busy machine)", DefaultValueFactory = _ => 3 };

        var command = new Command("bench", "Measure `serve` under 1, 2, 4 and 8 concurrent streaming clients, then soak it and compare memory")
        {
            url, synthetic, streams, requests, maxTokens, prompt, temperature, rounds, soakMinutes, soakStreams,
        };
        model.AddTo(command);
        command.SetAction(async (result, cancellation) =>
        {
            int[] levels;
            BenchSettings settings;
            try
            {
                levels = [.. result.GetValue(streams)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
                    int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 256 ? n : throw new CliException($"--streams: '{s}' is not a number of streams in 1..256"))];
                if (levels.Length == 0) throw new CliException("--streams names no level");
                settings = new BenchSettings(result.GetValue(prompt)!, result.GetValue(maxTokens), result.GetValue(requests), result.GetValue(temperature), result.GetValue(rounds));
                if (settings.Rounds < 1) throw new CliException("--rounds must be at least 1");
                if (settings.MaxTokens < 1) throw new CliException("--max-tokens must be at least 1");
                if (settings.RequestsPerStream < 1) throw new CliException("--requests must be at least 1");
                if (result.GetValue(soakMinutes) < 0) throw new CliException("--soak-minutes must be >= 0");
                if (result.GetValue(soakStreams) < 1) throw new CliException("--soak-streams must be at least 1");
            }
            catch (CliException e)
            {
                Console.Error.WriteLine($"uqengine: error: {e.Message}");
                return 1;
            }

            string? baseUrl = result.GetValue(url);
            WebApplication? app = null;
            string? syntheticFolder = null;
            try
            {
                if (baseUrl is null)
                {
                    int code = CommandRunner.Run(() =>
                    {
                        string path;
                        if (result.GetValue(synthetic))
                        {
                            syntheticFolder = Directory.CreateTempSubdirectory("uqengine-bench-").FullName;
                            path = Path.Combine(syntheticFolder, "synthetic-bench.gguf");
                            // The benchmark llama, with room for many concurrent streams' KV cells.
                            SyntheticLlamaModel.Write(SyntheticLlamaOptions.Benchmark(path) with { ContextLength = 4096 });
                        }
                        else path = model.ResolveModelPath(result, AnsiConsole.Console);
                        int maxStreams = Math.Max(levels.Max(), result.GetValue(soakStreams));
                        int context = result.GetValue(model.ContextSize);
                        app = UqEngineServer.Build(new ServerOptions
                        {
                            ModelPath = path,
                            Loading = model.LoadOptions(result),
                            Port = 0,
                            MaxSequences = maxStreams,
                            QueueCapacity = 4 * maxStreams,
                            // Room for every stream's prompt and answer at once, so admission never waits on KV cells.
                            ContextSize = context > 0 ? context : maxStreams * (settings.MaxTokens + 128),
                            Threads = result.GetValue(model.Threads),
                            DefaultMaxTokens = settings.MaxTokens,
                        });
                        return 0;
                    });
                    if (code != 0 || app is null) return code;
                    await app.StartAsync(cancellation);
                    baseUrl = app.BaseAddress();
                }
                using var client = new HttpClient { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
                string? key = Environment.GetEnvironmentVariable("UQENGINE_API_KEY");
                if (!string.IsNullOrEmpty(key)) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
                return await RunAsync(client, app is not null, levels, settings, result.GetValue(soakMinutes), result.GetValue(soakStreams), cancellation);
            }
            catch (HttpRequestException e)
            {
                Console.Error.WriteLine($"uqengine: error: the server at {baseUrl} failed: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException) { return 130; }
            finally
            {
                if (app is not null) { await app.StopAsync(CancellationToken.None); await app.DisposeAsync(); }
                if (syntheticFolder is not null) Directory.Delete(syntheticFolder, recursive: true);
            }
        });
        return command;
    }

    private sealed record BenchSettings(string Prompt, int MaxTokens, int RequestsPerStream, double Temperature, int Rounds);

    private sealed record LevelResult(int Streams, int Requests, long Tokens, double Seconds, double[] FirstTokenSeconds)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }

    private static async Task<int> RunAsync(HttpClient client, bool inProcess, int[] levels, BenchSettings settings, double soakMinutes, int soakStreams, CancellationToken cancellation)
    {
        using (var models = JsonDocument.Parse(await client.GetStringAsync("v1/models", cancellation)))
        {
            string modelId = models.RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
            var load = new StreamingLoad(client, modelId, settings);
            Console.WriteLine($"uqengine serve bench: model '{modelId}' at {client.BaseAddress}, prompt \"{settings.Prompt}\", max_tokens {settings.MaxTokens}, " +
                              $"temperature {settings.Temperature.ToString(CultureInfo.InvariantCulture)}, {settings.RequestsPerStream} request(s) per stream per level, {settings.Rounds} round(s), UQENGINE_THREADS={Environment.GetEnvironmentVariable("UQENGINE_THREADS") ?? "(unset)"}");
            await load.StreamOneAsync(0, cancellation); // warm-up: first-call costs stay out of the table

            // Levels take turns round by round, so a change in the machine's load hits every level alike.
            var results = levels.Distinct().ToDictionary(l => l, _ => new List<LevelResult>());
            for (int round = 1; round <= settings.Rounds; round++)
                foreach (int streams in results.Keys)
                {
                    var level = await load.RunLevelAsync(streams, cancellation);
                    results[streams].Add(level);
                    Console.Error.WriteLine($"  round {round}, {streams} stream(s): {level.TokensPerSecond:F1} tokens/s");
                }
            PrintTable(results);
            if (soakMinutes > 0) await SoakAsync(load, inProcess, soakMinutes, soakStreams, cancellation);
        }
        return 0;
    }

    /// <summary>Per level: the median of its rounds' aggregate tokens/s, and time to first token over all its requests.</summary>
    private static void PrintTable(Dictionary<int, List<LevelResult>> results)
    {
        var inv = CultureInfo.InvariantCulture;
        double Median(List<LevelResult> rounds) => Percentile([.. rounds.Select(r => r.TokensPerSecond)], 0.5);
        double? single = results.TryGetValue(1, out var one) ? Median(one) : null;
        Console.WriteLine();
        Console.WriteLine("| streams | requests | tokens | aggregate tokens/s (median of rounds) | each round | speed-up vs 1 stream | TTFT p50 (ms) | TTFT p99 (ms) |");
        Console.WriteLine("|---:|---:|---:|---:|---|---:|---:|---:|");
        foreach (var (streams, rounds) in results)
        {
            double median = Median(rounds);
            string speedup = single is { } s ? (median / s).ToString("F2", inv) + "x" : "n/a";
            double[] firstTokens = [.. rounds.SelectMany(r => r.FirstTokenSeconds)];
            string each = string.Join(", ", rounds.Select(r => r.TokensPerSecond.ToString("F1", inv)));
            Console.WriteLine(string.Create(inv,
                $"| {streams} | {rounds.Sum(r => r.Requests)} | {rounds.Sum(r => r.Tokens)} | {median:F1} | {each} | {speedup} | {1000 * Percentile(firstTokens, 0.5):F0} | {1000 * Percentile(firstTokens, 0.99):F0} |"));
        }
    }

    /// <summary>Steady load for a fixed time; memory after a full collection at the start and at the end.</summary>
    private static async Task SoakAsync(StreamingLoad load, bool inProcess, double minutes, int streams, CancellationToken cancellation)
    {
        var inv = CultureInfo.InvariantCulture;
        var start = MemorySnapshot.Take();
        Console.WriteLine();
        Console.WriteLine(string.Create(inv, $"soak: {streams} streams for {minutes:F1} min"));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(TimeSpan.FromMinutes(minutes));
        var clock = Stopwatch.StartNew();
        long tokens = 0, requests = 0;
        var progress = Task.Run(async () =>
        {
            while (!deadline.IsCancellationRequested)
            {
                try { await Task.Delay(TimeSpan.FromMinutes(1), deadline.Token); } catch (OperationCanceledException) { break; }
                var now = MemorySnapshot.Take(collect: false);
                Console.Error.WriteLine(string.Create(inv, $"  {clock.Elapsed.TotalMinutes:F1} min: {Interlocked.Read(ref requests)} requests, {Interlocked.Read(ref tokens) / clock.Elapsed.TotalSeconds:F1} tokens/s, working set {now.WorkingSetMiB:F1} MiB"));
            }
        }, CancellationToken.None);
        await Task.WhenAll(Enumerable.Range(0, streams).Select(async stream =>
        {
            for (int i = 0; !deadline.IsCancellationRequested; i++)
            {
                try
                {
                    var (n, _) = await load.StreamOneAsync((uint)(1_000_000 + 1000 * stream + i), deadline.Token);
                    Interlocked.Add(ref tokens, n);
                    Interlocked.Increment(ref requests);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested) { break; } // the request cut off at the deadline
            }
        }));
        await progress;
        double seconds = clock.Elapsed.TotalSeconds;
        cancellation.ThrowIfCancellationRequested();
        var end = MemorySnapshot.Take();
        Console.WriteLine(string.Create(inv, $"soak: {requests} requests, {tokens} tokens in {seconds:F0} s ({tokens / seconds:F1} tokens/s)"));
        string scope = inProcess ? "process (server and clients)" : "client process only (the server runs elsewhere)";
        Console.WriteLine($"| memory ({scope}) | start | end | change |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine(string.Create(inv, $"| working set (MiB) | {start.WorkingSetMiB:F1} | {end.WorkingSetMiB:F1} | {end.WorkingSetMiB - start.WorkingSetMiB:+0.0;-0.0} |"));
        Console.WriteLine(string.Create(inv, $"| GC heap after full collection (MiB) | {start.GcHeapMiB:F2} | {end.GcHeapMiB:F2} | {end.GcHeapMiB - start.GcHeapMiB:+0.00;-0.00} |"));
    }

    private readonly record struct MemorySnapshot(double WorkingSetMiB, double GcHeapMiB)
    {
        public static MemorySnapshot Take(bool collect = true)
        {
            if (collect)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }
            using var process = Process.GetCurrentProcess();
            return new MemorySnapshot(process.WorkingSet64 / 1048576.0, GC.GetTotalMemory(forceFullCollection: false) / 1048576.0);
        }
    }

    /// <summary>Nearest-rank percentile.</summary>
    private static double Percentile(double[] values, double q)
    {
        if (values.Length == 0) return double.NaN;
        double[] sorted = [.. values.Order()];
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Streaming /v1/completions clients: each token arrives as one SSE chunk without a finish_reason.</summary>
    private sealed class StreamingLoad(HttpClient client, string modelId, BenchSettings settings)
    {
        public async Task<LevelResult> RunLevelAsync(int streams, CancellationToken cancellation)
        {
            var firstTokens = new ConcurrentBag<double>();
            long tokens = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, streams).Select(async stream =>
            {
                for (int i = 0; i < settings.RequestsPerStream; i++)
                {
                    var (n, firstToken) = await StreamOneAsync((uint)(1000 * stream + i), cancellation);
                    Interlocked.Add(ref tokens, n);
                    if (!double.IsNaN(firstToken)) firstTokens.Add(firstToken);
                }
            }));
            return new LevelResult(streams, streams * settings.RequestsPerStream, tokens, clock.Elapsed.TotalSeconds, [.. firstTokens]);
        }

        /// <summary>One streamed request: the tokens received and the seconds until the first (NaN if none came).</summary>
        public async Task<(int Tokens, double FirstTokenSeconds)> StreamOneAsync(uint seed, CancellationToken cancellation)
        {
            string body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = modelId, ["prompt"] = settings.Prompt, ["max_tokens"] = settings.MaxTokens, ["stream"] = true,
                ["temperature"] = settings.Temperature, ["seed"] = seed,
            });
            var clock = Stopwatch.StartNew();
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellation)}");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
            int tokens = 0;
            double firstToken = double.NaN;
            while (await reader.ReadLineAsync(cancellation) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                string data = line["data: ".Length..];
                if (data == "[DONE]") break;
                using var chunk = JsonDocument.Parse(data);
                if (chunk.RootElement.TryGetProperty("error", out var error)) throw new HttpRequestException($"error event: {error}");
                if (!chunk.RootElement.TryGetProperty("choices", out var choices)) continue;
                foreach (var choice in choices.EnumerateArray())
                {
                    if (choice.TryGetProperty("finish_reason", out var finish) && finish.ValueKind != JsonValueKind.Null) continue;
                    if (tokens++ == 0) firstToken = clock.Elapsed.TotalSeconds;
                }
            }
            return (tokens, firstToken);
        }
    }
}
