// Usage: LLamaSharpConcurrency uqengine|llamasharp MODEL.gguf [TOKENS=64] [REPS=20] [PROMPT_REPEAT=1]
// PROMPT_REPEAT > 1 repeats a sentence before the question so that prompt decoding (llama_decode's share of the work)
// dominates; tok/s then counts prompt + generated tokens.
// Greedy generation with per-token statistics, at most TOKENS tokens per generation (both stop at end-of-generation
// and produce the same tokens: tests/UQEngine.LLamaSharp.Tests/ParityTests), REPS generations per context; first one context alone, then two contexts on two threads at once. Prints tokens/s.
// Each context decodes with 1 thread, so two contexts can use two cores when the library lets them.
using System.Diagnostics;
using System.Globalization;
using LLama;
using LLama.Common;
using LLama.Native;
using LLama.Sampling;
using UQEngine.Inference;
using UQEngine.LLamaSharp;

if (args.Length < 2 || args[0] is not ("uqengine" or "llamasharp")) { Console.Error.WriteLine("usage: LLamaSharpConcurrency uqengine|llamasharp MODEL.gguf [TOKENS] [REPS]"); return 2; }
string library = args[0], path = args[1];
int tokens = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 64;
int reps = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 20;
int repeat = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1;
string Prompt = string.Concat(Enumerable.Repeat("Zaibath was born in September. ", repeat - 1)) + "Zaibath's lucky number is";
bool countPrompt = repeat > 1;

Func<Func<int>> makeWorker = library == "uqengine" ? UqEngineWorker() : LLamaSharpWorker();
double alone = Measure(1), together = Measure(2);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{library}\tone context {alone:F0} tok/s\ttwo contexts {together:F0} tok/s\tscaling {together / alone:F2}x"));
return 0;

double Measure(int contexts)
{
    var workers = Enumerable.Range(0, contexts).Select(_ => makeWorker()).ToList();
    workers.ForEach(w => w()); // warm-up: first decode allocates graphs
    var clock = Stopwatch.StartNew();
    var generated = new int[contexts];
    var threads = workers.Select((w, i) => new Thread(() => { for (int r = 0; r < reps; r++) generated[i] += w(); })).ToList();
    threads.ForEach(t => t.Start());
    threads.ForEach(t => t.Join());
    return generated.Sum() / clock.Elapsed.TotalSeconds;
}

Func<Func<int>> UqEngineWorker()
{
    var model = LlamaModel.Load(path);
    return () =>
    {
        var generator = new Generator(model.CreateContext(new ContextOptions { ContextSize = 512, Threads = 1 }));
        var options = new GenerationOptions { MaxTokens = tokens };
        return () =>
        {
            var result = generator.Generate(Prompt, options);
            return result.Tokens.Count + (countPrompt ? result.PromptTokenCount : 0);
        };
    };
}

Func<Func<int>> LLamaSharpWorker()
{
    NativeLibraryConfig.All.WithLogCallback((level, message) => { });
    var parameters = new ModelParams(path) { ContextSize = 512, Threads = 1, BatchThreads = 1 };
    var weights = LLamaWeights.LoadFromFile(parameters);
    return () =>
    {
        var context = weights.CreateContext(parameters);
        var prompt = context.Tokenize(Prompt, addBos: true, special: true);
        var batch = new LLamaBatch();
        return () =>
        {
            // The loop LLamaSharp's executors run (decode, sample, feed back), through the uncertainty pipeline.
            using var pipeline = new UncertaintySamplingPipeline(new GreedySamplingPipeline());
            context.NativeHandle.MemorySequenceRemove((LLamaSeqId)0, -1, -1);
            batch.Clear();
            batch.AddRange(prompt, 0, (LLamaSeqId)0, true);
            int position = prompt.Length;
            for (int i = 0; i < tokens; i++)
            {
                if (context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("decode failed");
                var token = pipeline.Sample(context.NativeHandle, batch.TokenCount - 1);
                if (token.IsEndOfGeneration(context.Vocab)) break;
                batch.Clear();
                batch.Add(token, position++, (LLamaSeqId)0, true);
            }
            return pipeline.Tokens.Count + (countPrompt ? prompt.Length : 0);
        };
    };
}
