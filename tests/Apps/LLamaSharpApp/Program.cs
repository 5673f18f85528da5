// Per-token uncertainty in a LLamaSharp app: the usual StatelessExecutor, with the sampling pipeline wrapped.
// Usage: LLamaSharpApp MODEL.gguf PROMPT [MAX_TOKENS]
// Prints one "token<TAB>text<TAB>p<TAB>entropy<TAB>rank" line per sampled token (an end-of-generation token included,
// with empty text), then "scores<TAB>P(answer)<TAB>perplexity<TAB>mean entropy<TAB>max entropy<TAB>min p".
using System.Globalization;
using LLama;
using LLama.Common;
using LLama.Native;
using LLama.Sampling;
using UQEngine.LLamaSharp;

if (args.Length < 2) { Console.Error.WriteLine("usage: LLamaSharpApp MODEL.gguf PROMPT [MAX_TOKENS]"); return 2; }
NativeLibraryConfig.All.WithLogCallback((level, message) => { }); // keep llama.cpp's load log off stdout
int maxTokens = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 12;

var parameters = new ModelParams(args[0]) { ContextSize = 512, Threads = 1, BatchThreads = 1 };
using var weights = LLamaWeights.LoadFromFile(parameters);
var executor = new StatelessExecutor(weights, parameters);

using var pipeline = new UncertaintySamplingPipeline(new GreedySamplingPipeline());   // the one added line
await foreach (var _ in executor.InferAsync(args[1], new InferenceParams { MaxTokens = maxTokens, SamplingPipeline = pipeline })) { }

var c = CultureInfo.InvariantCulture;
foreach (var t in pipeline.Tokens)
    Console.WriteLine(string.Create(c, $"token\t{t.Text.Replace("\n", "\\n")}\t{t.Probability:R}\t{t.Entropy:R}\t{t.Rank}"));
var s = pipeline.Scores;
Console.WriteLine(string.Create(c, $"scores\t{s.SequenceProbability:R}\t{s.Perplexity:R}\t{s.MeanEntropy:R}\t{s.MaxEntropy:R}\t{s.MinTokenProbability:R}"));
return 0;
