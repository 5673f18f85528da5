using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using UQEngine.Benchmarks.Sampling;
using UQEngine.Evaluation.Metrics;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Server;
using UQEngine.Training;

namespace UQEngine.Benchmarks.Families;

/// <summary>
/// The 0.5B-shaped synthetic Qwen2 (<c>uqengine model synth --family qwen2 --size bench</c>: 896 wide, 24 layers,
/// 151,936-token vocabulary) as F16 and Q4_K_M, through the whole loop: decode tokens/s with token statistics on and
/// off, the server with and without <c>top_logprobs</c> 20, and SAR with K = 5 against the sampling alone. Each A/B
/// pair runs interleaved in one process (order swapped every round; median of per-round ratios), so a co-tenant's
/// load lands on both sides. Run: <c>-- family-bench [ROUNDS] [THREADS] [DIR]</c>; the models are written to DIR
/// once and reused.
/// </summary>
public static class FamilyBenchRun
{
    private const int Tokens = 32;
    private const string Prompt = "The history of the city of Paris begins";

    public static int Run(int rounds, int threads, string folder)
    {
        Directory.CreateDirectory(folder);
        string f16 = Path.Combine(folder, "qwen2-0.5b-bench-f16.gguf");
        string q4 = Path.Combine(folder, "qwen2-0.5b-bench-q4_k_m.gguf");
        Once(f16, tmp => ModelFamilies.Write(ModelFamilies.Qwen2, tmp, "bench", seed: 1), "synthesize (F16)");
        Once(q4, tmp => LlamaQuantizer.Quantize(f16, tmp, QuantizationType.Q4_K_M, threads), "quantize to Q4_K_M");
        Console.WriteLine($"{rounds} interleaved rounds per pair, {threads} decode thread(s), {Environment.ProcessorCount} logical CPUs, load average {LoadAverage()}");
        foreach (string path in new[] { f16, q4 })
        {
            var facts = GgufModelFacts.Read(path);
            Console.WriteLine();
            Console.WriteLine($"## {Path.GetFileName(path)}: {new FileInfo(path).Length / 1e6:F0} MB, {facts.Architecture}, {facts.LayerCount} layers, {facts.EmbeddingLength} wide, vocabulary {facts.VocabularySize}");
            Decode(path, rounds, threads);
            ServeAsync(path, rounds, threads).GetAwaiter().GetResult();
            Console.WriteLine();
            SarBenchmarks.RunRatios(rounds, threads, path);
        }

        return 0;
    }

    // Writes a file once (to a temporary name first, so an interrupted run leaves no half file behind).
    private static void Once(string path, Action<string> write, string what)
    {
        if (File.Exists(path)) return;
        string tmp = path + ".partial";
        long start = Stopwatch.GetTimestamp();
        write(tmp);
        File.Move(tmp, path, overwrite: true);
        Console.WriteLine($"{what}: {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s -> {path}");
    }

    /// <summary>Greedy decoding with token statistics off and on; where a step's time goes (inside llama_decode or not).</summary>
    private static void Decode(string path, int rounds, int threads)
    {
        using var model = LlamaModel.Load(path);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 512, Threads = threads });
        using var generator = new Generator(context);
        Pass Generate(bool statistics)
        {
            context.Counters.Reset();
            long start = Stopwatch.GetTimestamp();
            var result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = Tokens, TokenStatistics = statistics });
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var c = context.Counters.Snapshot();
            return new Pass(seconds, result.Tokens.Count, c.GenerationSeconds, c.PromptSeconds);
        }

        Generate(false);
        Generate(true);
        var off = new List<double>();
        var on = new List<double>();
        var ratios = new List<double>();
        var outsideOn = new List<double>();
        var outsideOff = new List<double>();
        var stepOn = new List<double>();
        int tokens = 0;
        for (int r = 0; r < rounds; r++)
        {
            Pass a, b;
            if (r % 2 == 0) { a = Generate(false); b = Generate(true); }
            else { b = Generate(true); a = Generate(false); }
            tokens = a.Tokens;
            // Decode-phase rate: the prompt's own pass is the same in both modes and not part of the per-token loop.
            double rateOff = a.Tokens / (a.Seconds - a.PromptSeconds), rateOn = b.Tokens / (b.Seconds - b.PromptSeconds);
            off.Add(rateOff);
            on.Add(rateOn);
            ratios.Add(rateOn / rateOff);
            stepOn.Add((b.Seconds - b.PromptSeconds) / b.Tokens * 1000);
            outsideOn.Add((b.Seconds - b.PromptSeconds - b.DecodeSeconds) / b.Tokens * 1000);
            outsideOff.Add((a.Seconds - a.PromptSeconds - a.DecodeSeconds) / a.Tokens * 1000);
        }

        LmHeadShare(model, rounds, threads);
        Console.WriteLine($"decode, {tokens} greedy tokens after \"{Prompt}\": tokens/s off {Bootstrap.Median(off):F2}, on {Bootstrap.Median(on):F2}; on/off (median of rounds) {Bootstrap.Median(ratios):F3} (min {ratios.Min():F3}, max {ratios.Max():F3}; target >= 0.97)");
        Console.WriteLine($"  per step with statistics on: {Bootstrap.Median(stepOn):F1} ms, of which outside llama_decode {Bootstrap.Median(outsideOn):F2} ms (statistics off: {Bootstrap.Median(outsideOff):F2} ms): logits read, statistics kernel, pick, detokenize");
    }

    /// <summary>
    /// What the vocabulary costs inside llama_decode: one decode step with the LM head (the 151,936 x 896 product and
    /// the logits copy) against the same step stopped after the output norm (<see cref="LlamaContext.DecodeSkippingLogits"/>),
    /// interleaved at the same position.
    /// </summary>
    private static void LmHeadShare(LlamaModel model, int rounds, int threads)
    {
        using var context = model.CreateContext(new ContextOptions { ContextSize = 512, Threads = threads, FinalHiddenState = true, EarlyExit = true });
        int[] prompt = model.Vocabulary.Tokenize(Prompt, addSpecial: true);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(prompt.Length);
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, 0, wantOutput: i == prompt.Length - 1);
        context.Decode(batch);
        using var step = new UQEngine.Native.LlamaBatchBuffer(1);
        step.Add(prompt[^1], prompt.Length, 0, wantOutput: true);
        double Time(bool head)
        {
            long start = Stopwatch.GetTimestamp();
            if (head) context.Decode(step);
            else if (!context.DecodeSkippingLogits(step)) throw new InvalidOperationException("the graph did not stop before the LM head");
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            context.RemoveTokens(0, prompt.Length);
            return ms;
        }

        Time(true);
        Time(false);
        var with = new List<double>();
        var without = new List<double>();
        for (int r = 0; r < rounds * 16; r++)
        {
            if (r % 2 == 0) { with.Add(Time(true)); without.Add(Time(false)); }
            else { without.Add(Time(false)); with.Add(Time(true)); }
        }

        double w = Bootstrap.Median(with), wo = Bootstrap.Median(without);
        Console.WriteLine($"  one decode step (median of {with.Count}): {w:F2} ms with the LM head, {wo:F2} ms stopped before it: the {model.Vocabulary.Count:N0}-token LM head is {w - wo:F2} ms, {(w - wo) / w:P0} of the step");
    }

    private readonly record struct Pass(double Seconds, int Tokens, double DecodeSeconds, double PromptSeconds);

    /// <summary>The server on loopback: the same greedy request with and without logprobs and top_logprobs 20.</summary>
    private static async Task ServeAsync(string path, int rounds, int threads)
    {
        var app = UqEngineServer.Build(new ServerOptions { ModelPath = path, ModelId = "bench", Port = 0, ContextSize = 512, MaxSequences = 1, Threads = threads });
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.BaseAddress()), Timeout = TimeSpan.FromMinutes(10) };
            object Body(bool top) => top
                ? new { model = "bench", messages = new[] { new { role = "user", content = Prompt } }, max_tokens = Tokens, temperature = 0, logprobs = true, top_logprobs = 20 }
                : new { model = "bench", messages = new[] { new { role = "user", content = Prompt } }, max_tokens = Tokens, temperature = 0 };
            async Task<(double Seconds, int Tokens)> Request(bool top)
            {
                long start = Stopwatch.GetTimestamp();
                using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(top));
                string text = await response.Content.ReadAsStringAsync();
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"the server answered {(int)response.StatusCode}: {text}");
                using var json = JsonDocument.Parse(text);
                int n = json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
                if (top)
                {
                    var content = json.RootElement.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
                    if (content.GetArrayLength() != n || content.EnumerateArray().Any(t => t.GetProperty("top_logprobs").GetArrayLength() != 20))
                        throw new InvalidOperationException("the response does not carry 20 top_logprobs per token");
                }

                return (seconds, n);
            }

            await Request(false);
            await Request(true);
            var plain = new List<double>();
            var top = new List<double>();
            var ratios = new List<double>();
            int tokens = 0;
            for (int r = 0; r < rounds; r++)
            {
                (double Seconds, int Tokens) a, b;
                if (r % 2 == 0) { a = await Request(false); b = await Request(true); }
                else { b = await Request(true); a = await Request(false); }
                tokens = a.Tokens;
                plain.Add(a.Tokens / a.Seconds);
                top.Add(b.Tokens / b.Seconds);
                ratios.Add(b.Tokens / b.Seconds / (a.Tokens / a.Seconds));
            }

            Console.WriteLine($"serve, /v1/chat/completions, {tokens} tokens per request (prompt included in the time): tokens/s plain {Bootstrap.Median(plain):F2}, with logprobs + top_logprobs 20 {Bootstrap.Median(top):F2}; ratio {Bootstrap.Median(ratios):F3} (min {ratios.Min():F3}, max {ratios.Max():F3})");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }


    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

    internal static int Parse(string[] args, int index, int fallback) =>
        args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;
}
