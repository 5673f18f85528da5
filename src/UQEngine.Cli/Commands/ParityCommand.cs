using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Native;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine parity` (hidden): the device diagnostics that bench/gpu/gpu-check.sh runs. A device is chosen once per
/// process (NativeLibraryLoader), so a CPU-vs-CUDA check is two `parity run` processes whose JSON files
/// `parity compare` reads. `decode-bench` times decoding with the token statistics on and off, and `bench-model`
/// writes the synthetic benchmark llama (the shape of bench/UQEngine.Benchmarks/BenchModel.cs) for a machine
/// that has no SDK to run the benchmark project.
/// </summary>
internal static class ParityCommand
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions Indented = new(Json) { WriteIndented = true };

    public static Command Create()
    {
        var command = new Command("parity", "Device parity diagnostics for bench/gpu (run, compare, decode-bench, bench-model)") { Hidden = true };
        command.Add(CreateRun());
        command.Add(CreateCompare());
        command.Add(CreateDecodeBench());
        command.Add(CreateBenchModel());
        command.Add(GrammarBench.Create());
        return command;
    }

    // ---------------------------------------------------------------- run

    private static Command CreateRun()
    {
        var model = new ModelOptionsBinder();
        var prompts = new Option<int>("--prompts") { Description = "Prompts to run (the dataset's first N questions)", DefaultValueFactory = _ => 20 };
        var dataset = new Option<string>("--dataset", "-d") { Description = "Dataset file or built-in name the prompts come from", DefaultValueFactory = _ => "demo:open:eval" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Greedy tokens per prompt", DefaultValueFactory = _ => 16 };
        var samples = new Option<int>("--samples") { Description = "K samples decoded together per prompt", DefaultValueFactory = _ => 5 };
        var temperature = new Option<float>("--temperature") { DefaultValueFactory = _ => 0.8f };
        var seed = new Option<uint>("--seed") { DefaultValueFactory = _ => 42u };
        var layer = new Option<int?>("--layer") { Description = "Layer whose input state is read (default: n_layer / 2)" };
        var output = new Option<string>("--out", "-o") { Description = "JSON file to write", Required = true };
        var command = new Command("run", "Run prompts on one device; write tokens, p, entropy, samples, hidden states and the early-exit self-check as JSON")
        {
            prompts, dataset, maxTokens, samples, temperature, seed, layer, output,
        };
        model.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            int n = result.GetValue(prompts), k = result.GetValue(samples);
            if (n < 1) throw new CliException("--prompts must be at least 1");
            if (k < 1) throw new CliException("--samples must be at least 1");
            var load = model.LoadOptions(result);
            string path = model.ResolveModelPath(result, null);
            var items = EvalCommand.OpenDataset(result.GetValue(dataset)!).Take(n).Items;
            if (items.Count < n) throw new CliException($"--dataset has {items.Count} items, fewer than --prompts {n}");
            // llama.cpp says at Info level how many layers it offloaded ("offloaded 5/5 layers to GPU"): kept in the
            // file, so "all layers on the GPU" is a fact read from the run, not an assumption about --gpu-layers -1.
            var offload = new List<string>();
            var previousSink = NativeLogging.Sink;
            if (NativeLogging.MinimumLevel > GgmlLogLevel.Info) NativeLogging.MinimumLevel = GgmlLogLevel.Info;
            NativeLogging.Sink = (level, line) =>
            {
                if (line.Contains("offload", StringComparison.OrdinalIgnoreCase) || line.Contains("CUDA", StringComparison.Ordinal)) lock (offload) offload.Add(line.Trim());
                // Otherwise as before: --verbose shows everything; warnings go where they went (nowhere by default).
                if (result.GetValue(model.Verbose)) Console.Error.WriteLine(line);
                else if (level >= GgmlLogLevel.Warn) previousSink?.Invoke(level, line);
            };
            var clock = Stopwatch.StartNew();
            using var llm = LlamaModel.Load(path, load);
            double loadSeconds = clock.Elapsed.TotalSeconds;
            var info = NativeSystemInfo.Read();
            int mid = result.GetValue(layer) ?? llm.Facts.LayerCount / 2;
            bool layers = LlamaContext.ExposesLayerInputs(llm.Facts.Architecture);
            var contextOptions = model.ContextOptions(result, sequences: k, hidden: true) with { HiddenLayers = layers ? [mid] : [] };
            using var context = llm.CreateContext(contextOptions);
            using var generator = new Generator(context);
            var runs = new List<PromptRun>();
            foreach (var item in items)
            {
                cancellation.ThrowIfCancellationRequested();
                string text = PromptBuilder.Build(llm, item.Question, null, raw: false);
                runs.Add(RunPrompt(generator, item.Id, text, mid, layers, result.GetValue(maxTokens), k, result.GetValue(temperature), result.GetValue(seed), cancellation));
            }
            var earlyExit = layers && mid > 0 ? EarlyExitCheck(llm, model.ContextOptions(result), mid, [.. runs.Take(3).Select(r => r.PromptTokens)], cancellation) : null;
            var file = new ParityFile
            {
                Device = load.Device == NativeBackend.Cuda ? "cuda" : "cpu",
                GpuLayers = load.Device == NativeBackend.Cuda ? load.GpuLayers : 0,
                Model = Path.GetFileName(path),
                ModelSha256 = ModelFiles.Sha256(path),
                Layers = llm.Facts.LayerCount,
                HiddenSize = llm.Facts.EmbeddingSize,
                Layer = layers ? mid : null,
                NativeDirectory = info.Directory,
                Devices = [.. info.Devices.Select(d => $"{d.Name} ({d.Description}), {d.Type}, {d.TotalMemoryBytes / (1 << 20)} MiB")],
                LoadSeconds = loadSeconds,
                RunSeconds = clock.Elapsed.TotalSeconds - loadSeconds,
                Prompts = runs,
                EarlyExit = earlyExit,
                OffloadLog = [.. offload],
            };
            string outPath = result.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            File.WriteAllText(outPath, JsonSerializer.Serialize(file, Json));
            Console.WriteLine($"parity run: {file.Device} ({file.GpuLayers} GPU layers), {runs.Count} prompts on {file.Model} in {file.RunSeconds:F1} s; early exit: {(earlyExit is null ? "n/a" : earlyExit.Stopped && earlyExit.MatchesFullDecode ? "stops and matches" : $"stopped={earlyExit.Stopped}, max diff {earlyExit.MaxAbsDifference:G3}")} -> {outPath}");
            return 0;
        })));
        return command;
    }

    private static PromptRun RunPrompt(Generator generator, string id, string text, int layer, bool layers, int maxTokens, int k, float temperature, uint seed, CancellationToken cancellation)
    {
        var steps = new List<StepRecord>();
        var greedyOptions = new GenerationOptions
        {
            MaxTokens = maxTokens,
            TopAlternatives = 2, // the runner-up's probability says whether a divergence is a near-tie
            OnStep = (in DecodeStep s) =>
            {
                if (s.Sequence != 0) return;
                steps.Add(new StepRecord
                {
                    Mid = layers ? s.LayerHiddenState(layer).ToArray() : null,
                    Final = s.FinalHiddenState.ToArray(),
                });
            },
        };
        int[] promptTokens = generator.TokenizePrompt(text, greedyOptions);
        var greedy = generator.Generate(promptTokens, 1, greedyOptions, onToken: null, cancellation)[0];
        var tokens = greedy.Tokens.Select((t, i) => new TokenRecord
        {
            Id = t.TokenId, Text = t.Text, Logprob = t.LogProbability, Entropy = t.Entropy, Rank = t.Rank,
            RunnerUp = t.Alternatives.FirstOrDefault(a => a.TokenId != t.TokenId) is { } r ? new AlternativeRecord(r.TokenId, r.LogProbability) : null,
            Mid = i < steps.Count ? steps[i].Mid : null,
            Final = i < steps.Count ? steps[i].Final : null,
        }).ToList();
        var sampleOptions = new GenerationOptions { MaxTokens = maxTokens, Sampling = new SamplingOptions { Temperature = temperature, Seed = seed } };
        var sampled = generator.Generate(promptTokens, k, sampleOptions, onToken: null, cancellation);
        return new PromptRun
        {
            Id = id, PromptTokens = promptTokens, Greedy = tokens,
            Samples = [.. sampled.Select(s => s.Tokens.Select(t => new TokenRecord { Id = t.TokenId, Text = t.Text, Logprob = t.LogProbability, Entropy = t.Entropy, Rank = t.Rank }).ToList())],
        };
    }

    /// <summary>
    /// The self-check AnswerEncoder relies on, done openly: the states entering <paramref name="layer"/> from a full
    /// decode against those from a decode stopped there by the graph callback. On CUDA the scheduler computes a
    /// graph in splits, so whether the stop happens, and whether the states still match, is what this reports.
    /// </summary>
    private static EarlyExitRecord EarlyExitCheck(LlamaModel llm, ContextOptions baseOptions, int layer, IReadOnlyList<int[]> prompts, CancellationToken cancellation)
    {
        using var context = llm.CreateContext(baseOptions with { MaxSequences = 1, HiddenLayers = [layer], EarlyExit = true, FinalHiddenState = false });
        int d = context.HiddenSize;
        bool stopped = true;
        double maxAbs = 0;
        var lastEarly = new List<float[]>();
        using var batch = new LlamaBatchBuffer(context.BatchSize);
        foreach (var prompt in prompts)
        {
            int m = Math.Min(prompt.Length, context.BatchSize);
            batch.Clear();
            for (int i = 0; i < m; i++) batch.Add(prompt[i], i, 0, wantOutput: false);
            context.RemoveTokens(0);
            context.Decode(batch, cancellation);
            var full = new float[m * d];
            for (int i = 0; i < m; i++) context.GetLayerHiddenState(layer, i).CopyTo(full.AsSpan(i * d, d));
            context.RemoveTokens(0);
            stopped &= context.DecodeThroughLayer(batch, layer, cancellation);
            for (int i = 0; i < m; i++)
            {
                var early = context.GetLayerHiddenState(layer, i);
                for (int j = 0; j < d; j++) maxAbs = Math.Max(maxAbs, Math.Abs(early[j] - full[i * d + j]) / (1 + Math.Abs(full[i * d + j])));
            }
            lastEarly.Add(context.GetLayerHiddenState(layer, m - 1).ToArray());
            context.RemoveTokens(0);
        }
        // The tolerance AnswerEncoder uses before it trusts early exit.
        return new EarlyExitRecord { Layer = layer, Prompts = prompts.Count, Stopped = stopped, MaxAbsDifference = maxAbs, MatchesFullDecode = maxAbs <= 1e-5, LastTokenStates = lastEarly };
    }

    // ---------------------------------------------------------------- compare

    private static Command CreateCompare()
    {
        var reference = new Argument<string>("reference") { Description = "parity run JSON of the reference device (cpu)" };
        var candidate = new Argument<string>("candidate") { Description = "parity run JSON of the device under test" };
        var exact = new Option<bool>("--exact") { Description = "Require bitwise-identical results (CPU against CPU)" };
        var tolP = new Option<double>("--tol-prob") { Description = "Largest |Δp| of a chosen token", DefaultValueFactory = _ => ParityTolerances.Default.Probability };
        var tolH = new Option<double>("--tol-entropy") { Description = "Largest |ΔH| (nats)", DefaultValueFactory = _ => ParityTolerances.Default.Entropy };
        var tolHidden = new Option<double>("--tol-hidden") { Description = "Largest relative L2 difference of a hidden state", DefaultValueFactory = _ => ParityTolerances.Default.Hidden };
        var tie = new Option<double>("--tie-margin") { Description = "A greedy divergence is accepted when the reference's top-2 probabilities differ by at most this", DefaultValueFactory = _ => ParityTolerances.Default.TieMargin };
        var output = new Option<string?>("--out", "-o") { Description = "Write the comparison as JSON here" };
        var command = new Command("compare", "Compare two parity run files: max differences, first divergences; exit 1 when outside tolerance")
        {
            reference, candidate, exact, tolP, tolH, tolHidden, tie, output,
        };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var a = ReadFile(result.GetValue(reference)!);
            var b = ReadFile(result.GetValue(candidate)!);
            var tolerances = result.GetValue(exact) ? ParityTolerances.Exact : new ParityTolerances(result.GetValue(tolP), result.GetValue(tolH), result.GetValue(tolHidden), result.GetValue(tie));
            var report = ParityComparison.Compare(a, b, tolerances);
            if (result.GetValue(output) is { Length: > 0 } o)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(o))!);
                File.WriteAllText(o, JsonSerializer.Serialize(report, Indented));
            }
            foreach (string line in report.Lines) Console.WriteLine(line);
            if (!report.Pass)
            {
                Console.Error.WriteLine($"uqengine: parity: FAILED ({report.Failures.Count}): {string.Join("; ", report.Failures.Take(5))}");
                return 1;
            }
            return 0;
        }));
        return command;
    }

    private static ParityFile ReadFile(string path)
    {
        if (!File.Exists(path)) throw new CliException($"'{path}' does not exist");
        try { return JsonSerializer.Deserialize<ParityFile>(File.ReadAllText(path), Json) ?? throw new CliException($"'{path}' is empty"); }
        catch (JsonException e) { throw new CliException($"'{path}' is not a parity run file: {e.Message}"); }
    }

    // ---------------------------------------------------------------- decode-bench

    private static Command CreateDecodeBench()
    {
        var model = new ModelOptionsBinder();
        var tokens = new Option<int>("--tokens") { Description = "Greedy tokens per timed decode", DefaultValueFactory = _ => 64 };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds (each: statistics off and on, order swapped every round)", DefaultValueFactory = _ => 20 };
        var prompt = new Option<string>("--prompt") { DefaultValueFactory = _ => "Hello world" };
        var output = new Option<string?>("--out", "-o") { Description = "Write the timings as JSON here" };
        var command = new Command("decode-bench", "Greedy decoding tokens/s with token statistics off and on, interleaved (as bench/ DecodeBenchmarks, without BenchmarkDotNet)")
        {
            tokens, rounds, prompt, output,
        };
        model.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            int n = result.GetValue(tokens), r = result.GetValue(rounds);
            if (n < 1 || r < 1) throw new CliException("--tokens and --rounds must be at least 1");
            var load = model.LoadOptions(result);
            string path = model.ResolveModelPath(result, null);
            using var llm = LlamaModel.Load(path, load);
            var contextOptions = model.ContextOptions(result) with { ContextSize = Math.Max(512, n + 64) };
            using var context = llm.CreateContext(contextOptions);
            using var generator = new Generator(context);
            // EOS would end a round early and make the two modes decode different lengths: the bench model's random
            // weights rarely pick it, and a short round is reported as an error rather than timed.
            GenerationResult Decode(bool statistics) => generator.Generate(result.GetValue(prompt)!, new GenerationOptions { MaxTokens = n, TokenStatistics = statistics }, cancellation);
            var off0 = Decode(false); var on0 = Decode(true);
            if (!off0.Tokens.Select(t => t.TokenId).SequenceEqual(on0.Tokens.Select(t => t.TokenId)))
                throw new CliException("greedy decoding picked different tokens with statistics on and off");
            if (off0.Tokens.Count != n) throw new CliException($"decoding stopped after {off0.Tokens.Count} of {n} tokens ({off0.FinishReason}); use another --prompt or fewer --tokens");
            var off = new List<double>(); var on = new List<double>(); var ratios = new List<double>();
            for (int i = 0; i < r; i++)
            {
                double a, b;
                if (i % 2 == 0) { a = Time(() => Decode(false)); b = Time(() => Decode(true)); }
                else { b = Time(() => Decode(true)); a = Time(() => Decode(false)); }
                off.Add(n / a); on.Add(n / b); ratios.Add(a / b);
            }
            var report = new
            {
                device = load.Device == NativeBackend.Cuda ? "cuda" : "cpu",
                gpu_layers = load.Device == NativeBackend.Cuda ? load.GpuLayers : 0,
                model = Path.GetFileName(path), vocabulary = llm.Facts.VocabularySize, layers = llm.Facts.LayerCount, hidden_size = llm.Facts.EmbeddingSize,
                threads = context.Options.Threads > 0 ? context.Options.Threads : ContextOptions.DefaultThreads,
                tokens = n, rounds = r,
                tokens_per_second_off_median = Bootstrap.Median(off), tokens_per_second_on_median = Bootstrap.Median(on),
                ratio_on_over_off_median = Bootstrap.Median(ratios), ratio_min = ratios.Min(), ratio_max = ratios.Max(),
                tokens_per_second_off = off, tokens_per_second_on = on,
            };
            if (result.GetValue(output) is { Length: > 0 } o) File.WriteAllText(o, JsonSerializer.Serialize(report, Indented));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode-bench: {report.device}, {Path.GetFileName(path)}, {n} tokens x {r} rounds: tokens/s off {report.tokens_per_second_off_median:F1}, on {report.tokens_per_second_on_median:F1}, on/off {report.ratio_on_over_off_median:F4} (min {report.ratio_min:F4}, max {report.ratio_max:F4})"));
            return 0;
        })));
        return command;
    }

    private static double Time(Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }


    // ---------------------------------------------------------------- bench-model

    private static Command CreateBenchModel()
    {
        var output = new Option<string>("--out", "-o") { Description = "GGUF file to write", Required = true };
        var vocabulary = new Option<int>("--vocabulary") { DefaultValueFactory = _ => 32000 };
        var command = new Command("bench-model", "Write the synthetic benchmark llama (256 wide, 4 layers, 32000-token vocabulary, F32, seed 11)") { output, vocabulary };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            string path = result.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            SyntheticLlamaModel.Write(SyntheticLlamaOptions.Benchmark(path, result.GetValue(vocabulary)));
            Console.WriteLine($"bench model written to {path}");
            return 0;
        }));
        return command;
    }

}

// ---------------------------------------------------------------- file format

internal sealed class ParityFile
{
    public string Device { get; set; } = "";
    public int GpuLayers { get; set; }
    public string Model { get; set; } = "";
    public string ModelSha256 { get; set; } = "";
    public int Layers { get; set; }
    public int HiddenSize { get; set; }
    public int? Layer { get; set; }
    public string NativeDirectory { get; set; } = "";
    public List<string> Devices { get; set; } = [];
    public double LoadSeconds { get; set; }
    public double RunSeconds { get; set; }
    public List<PromptRun> Prompts { get; set; } = [];
    public EarlyExitRecord? EarlyExit { get; set; }
    /// <summary>llama.cpp's log lines about offloading and CUDA while the model loaded.</summary>
    public List<string> OffloadLog { get; set; } = [];
}

internal sealed class PromptRun
{
    public string Id { get; set; } = "";
    public int[] PromptTokens { get; set; } = [];
    public List<TokenRecord> Greedy { get; set; } = [];
    public List<List<TokenRecord>> Samples { get; set; } = [];
}

internal sealed class TokenRecord
{
    public int Id { get; set; }
    public string Text { get; set; } = "";
    public float Logprob { get; set; }
    public float Entropy { get; set; }
    public int Rank { get; set; }
    public AlternativeRecord? RunnerUp { get; set; }
    /// <summary>The state entering the middle layer at the position whose logits chose this token.</summary>
    public float[]? Mid { get; set; }
    /// <summary>The final hidden state (after the output norm) at that position.</summary>
    public float[]? Final { get; set; }
}

internal sealed record AlternativeRecord(int Id, float Logprob);

internal sealed class StepRecord
{
    public float[]? Mid { get; set; }
    public float[]? Final { get; set; }
}

internal sealed class EarlyExitRecord
{
    public int Layer { get; set; }
    public int Prompts { get; set; }
    public bool Stopped { get; set; }
    public double MaxAbsDifference { get; set; }
    public bool MatchesFullDecode { get; set; }
    public List<float[]> LastTokenStates { get; set; } = [];
}

// ---------------------------------------------------------------- comparison

/// <summary>
/// Tolerances of a device comparison. The defaults were chosen before any GPU run (none has happened yet): they
/// allow the rounding of different matmul kernels (cuBLAS against ggml's CPU dot products) and no more; the report
/// prints the measured maxima either way, so a threshold can be judged against the data.
/// </summary>
internal sealed record ParityTolerances(double Probability, double Entropy, double Hidden, double TieMargin)
{
    public static ParityTolerances Default { get; } = new(1e-2, 2e-2, 1e-2, 2e-2);
    public static ParityTolerances Exact { get; } = new(0, 0, 0, 0);
    public bool IsExact => Probability == 0 && Entropy == 0 && Hidden == 0 && TieMargin == 0;
}

internal sealed class ParityReport
{
    public bool Pass { get; set; }
    public string Reference { get; set; } = "";
    public string Candidate { get; set; } = "";
    public string Model { get; set; } = "";
    public ParityTolerances Tolerances { get; set; } = ParityTolerances.Default;
    public int Prompts { get; set; }
    public int GreedyIdentical { get; set; }
    public int GreedyDivergedAtNearTie { get; set; }
    public int GreedyDivergedOther { get; set; }
    public int SamplesIdentical { get; set; }
    public int SamplesTotal { get; set; }
    public double MaxProbabilityDifference { get; set; }
    public double MaxEntropyDifference { get; set; }
    public double MaxSampleProbabilityDifference { get; set; }
    public double MaxMidRelativeL2 { get; set; }
    public double MaxFinalRelativeL2 { get; set; }
    public double MaxEarlyExitRelativeL2 { get; set; }
    public bool ReferenceEarlyExitOk { get; set; }
    public bool CandidateEarlyExitOk { get; set; }
    public List<string> Divergences { get; set; } = [];
    public List<string> Failures { get; set; } = [];
    [JsonIgnore] public List<string> Lines { get; } = [];
}

internal static class ParityComparison
{
    public static ParityReport Compare(ParityFile a, ParityFile b, ParityTolerances tol)
    {
        var report = new ParityReport { Reference = $"{a.Device} ({a.GpuLayers} GPU layers)", Candidate = $"{b.Device} ({b.GpuLayers} GPU layers)", Model = a.Model, Tolerances = tol };
        if (a.ModelSha256 != b.ModelSha256) report.Failures.Add($"different models: {a.Model} ({a.ModelSha256[..Math.Min(12, a.ModelSha256.Length)]}) and {b.Model} ({b.ModelSha256[..Math.Min(12, b.ModelSha256.Length)]})");
        if (a.Prompts.Count != b.Prompts.Count) report.Failures.Add($"different prompt counts: {a.Prompts.Count} and {b.Prompts.Count}");
        int n = Math.Min(a.Prompts.Count, b.Prompts.Count);
        report.Prompts = n;
        for (int i = 0; i < n; i++)
        {
            var pa = a.Prompts[i]; var pb = b.Prompts[i];
            if (!pa.PromptTokens.AsSpan().SequenceEqual(pb.PromptTokens)) { report.Failures.Add($"prompt {pa.Id}: the prompts tokenize differently"); continue; }
            ComparePath(report, tol, pa.Id, "greedy", pa.Greedy, pb.Greedy, greedy: true);
            for (int s = 0; s < Math.Min(pa.Samples.Count, pb.Samples.Count); s++)
                ComparePath(report, tol, pa.Id, $"sample {s}", pa.Samples[s], pb.Samples[s], greedy: false);
            report.SamplesTotal += Math.Max(pa.Samples.Count, pb.Samples.Count);
        }
        report.ReferenceEarlyExitOk = a.EarlyExit is null || (a.EarlyExit.Stopped && a.EarlyExit.MatchesFullDecode);
        report.CandidateEarlyExitOk = b.EarlyExit is null || (b.EarlyExit.Stopped && b.EarlyExit.MatchesFullDecode);
        if ((a.EarlyExit is null) != (b.EarlyExit is null)) report.Failures.Add("only one file has an early-exit self-check");
        if (!report.ReferenceEarlyExitOk) report.Failures.Add($"early exit on {a.Device}: stopped={a.EarlyExit!.Stopped}, max difference to a full decode {a.EarlyExit.MaxAbsDifference:G3}");
        if (!report.CandidateEarlyExitOk) report.Failures.Add($"early exit on {b.Device}: stopped={b.EarlyExit!.Stopped}, max difference to a full decode {b.EarlyExit.MaxAbsDifference:G3}");
        if (a.EarlyExit is { } ea && b.EarlyExit is { } eb)
            for (int i = 0; i < Math.Min(ea.LastTokenStates.Count, eb.LastTokenStates.Count); i++)
                report.MaxEarlyExitRelativeL2 = Math.Max(report.MaxEarlyExitRelativeL2, RelativeL2(ea.LastTokenStates[i], eb.LastTokenStates[i]));
        if (report.MaxEarlyExitRelativeL2 > tol.Hidden) report.Failures.Add($"early-exit states differ by relative L2 {report.MaxEarlyExitRelativeL2:G3} > {tol.Hidden:G3}");
        if (report.MaxProbabilityDifference > tol.Probability) report.Failures.Add($"chosen-token probability differs by up to {report.MaxProbabilityDifference:G3} > {tol.Probability:G3}");
        if (report.MaxEntropyDifference > tol.Entropy) report.Failures.Add($"entropy differs by up to {report.MaxEntropyDifference:G3} nats > {tol.Entropy:G3}");
        if (report.MaxSampleProbabilityDifference > tol.Probability) report.Failures.Add($"sampled-token probability differs by up to {report.MaxSampleProbabilityDifference:G3} > {tol.Probability:G3}");
        if (report.MaxMidRelativeL2 > tol.Hidden) report.Failures.Add($"middle-layer states differ by relative L2 up to {report.MaxMidRelativeL2:G3} > {tol.Hidden:G3}");
        if (report.MaxFinalRelativeL2 > tol.Hidden) report.Failures.Add($"final states differ by relative L2 up to {report.MaxFinalRelativeL2:G3} > {tol.Hidden:G3}");
        if (report.GreedyDivergedOther > 0) report.Failures.Add($"{report.GreedyDivergedOther} greedy continuation(s) diverged where the reference had no near-tie");
        if (tol.IsExact && report.SamplesIdentical != report.SamplesTotal) report.Failures.Add($"{report.SamplesTotal - report.SamplesIdentical} of {report.SamplesTotal} samples differ (exact comparison)");
        report.Pass = report.Failures.Count == 0;

        var c = CultureInfo.InvariantCulture;
        report.Lines.Add($"parity {report.Candidate} against {report.Reference} on {a.Model}: {(report.Pass ? "PASS" : "FAIL")}{(tol.IsExact ? " (exact)" : "")}");
        report.Lines.Add(string.Create(c, $"  greedy: {report.GreedyIdentical}/{n} identical, {report.GreedyDivergedAtNearTie} diverged at a near-tie, {report.GreedyDivergedOther} diverged otherwise"));
        report.Lines.Add(string.Create(c, $"  samples: {report.SamplesIdentical}/{report.SamplesTotal} identical"));
        report.Lines.Add(string.Create(c, $"  max |dp| {report.MaxProbabilityDifference:G3} (tol {tol.Probability:G3}), max |dH| {report.MaxEntropyDifference:G3} nats (tol {tol.Entropy:G3}), samples max |dp| {report.MaxSampleProbabilityDifference:G3}"));
        report.Lines.Add(string.Create(c, $"  hidden relative L2: middle layer {report.MaxMidRelativeL2:G3}, final {report.MaxFinalRelativeL2:G3}, early-exit {report.MaxEarlyExitRelativeL2:G3} (tol {tol.Hidden:G3})"));
        report.Lines.Add($"  early exit: reference {(report.ReferenceEarlyExitOk ? "ok" : "FAILED")}, candidate {(report.CandidateEarlyExitOk ? "ok" : "FAILED")}");
        foreach (string d in report.Divergences.Take(10)) report.Lines.Add("  divergence: " + d);
        return report;
    }

    /// <summary>
    /// Walks two continuations of the same prompt. Up to and including the first step where the chosen tokens
    /// differ, both were computed from the same prefix, so probabilities (of the reference's token where they
    /// differ: only the entropy and states), entropies and states are comparable; after it they are not.
    /// </summary>
    private static void ComparePath(ParityReport report, ParityTolerances tol, string id, string what, List<TokenRecord> a, List<TokenRecord> b, bool greedy)
    {
        int n = Math.Min(a.Count, b.Count);
        int diverge = -1;
        for (int j = 0; j < n; j++)
        {
            var ta = a[j]; var tb = b[j];
            report.MaxEntropyDifference = Math.Max(report.MaxEntropyDifference, Diff(ta.Entropy, tb.Entropy));
            if (ta.Mid is not null && tb.Mid is not null) report.MaxMidRelativeL2 = Math.Max(report.MaxMidRelativeL2, RelativeL2(ta.Mid, tb.Mid));
            if (ta.Final is not null && tb.Final is not null) report.MaxFinalRelativeL2 = Math.Max(report.MaxFinalRelativeL2, RelativeL2(ta.Final, tb.Final));
            if (ta.Id != tb.Id) { diverge = j; break; }
            double dp = Diff(Math.Exp(ta.Logprob), Math.Exp(tb.Logprob));
            if (greedy) report.MaxProbabilityDifference = Math.Max(report.MaxProbabilityDifference, dp);
            else report.MaxSampleProbabilityDifference = Math.Max(report.MaxSampleProbabilityDifference, dp);
        }
        if (diverge < 0 && a.Count != b.Count) diverge = n; // one stopped (end of generation) where the other went on
        if (diverge < 0)
        {
            if (greedy) report.GreedyIdentical++; else report.SamplesIdentical++;
            return;
        }
        string At(List<TokenRecord> t) => diverge < t.Count ? $"{t[diverge].Id} '{t[diverge].Text}' p={Math.Exp(t[diverge].Logprob):F4}" : "(ended)";
        string text = $"{id} {what} step {diverge}: reference {At(a)}, candidate {At(b)}";
        if (greedy)
        {
            // A near-tie: the reference's top two are within the margin, and the candidate took the runner-up.
            bool nearTie = diverge < a.Count && diverge < b.Count && a[diverge].RunnerUp is { } r && r.Id == b[diverge].Id
                && Math.Abs(Math.Exp(a[diverge].Logprob) - Math.Exp(r.Logprob)) <= tol.TieMargin;
            if (nearTie) report.GreedyDivergedAtNearTie++; else report.GreedyDivergedOther++;
            text += nearTie ? " (near-tie)" : "";
        }
        report.Divergences.Add(text);
    }

    private static double Diff(double x, double y) => double.IsNaN(x) && double.IsNaN(y) ? 0 : double.IsNaN(x - y) ? double.PositiveInfinity : Math.Abs(x - y);

    internal static double RelativeL2(float[] a, float[] b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = (double)a[i] - b[i]; num += d * d; den += (double)a[i] * a[i]; }
        return num == 0 ? 0 : Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-12);
    }
}
