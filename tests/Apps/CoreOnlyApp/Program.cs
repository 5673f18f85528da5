using System.Globalization;
using UQEngine.Inference;

// Usage: CoreOnlyApp MODEL.gguf "prompt"
// Prints one line per token (text, p, entropy) and the sequence scores, tab-separated.
if (args.Length != 2) { Console.Error.WriteLine("usage: CoreOnlyApp MODEL.gguf \"prompt\""); return 2; }
using var model = LlamaModel.Load(args[0]);
using var context = model.CreateContext(new ContextOptions { ContextSize = 512 });
using var generator = new Generator(context);
var answer = generator.Generate(args[1], new GenerationOptions { MaxTokens = 8, Stop = ["\n"] });
var inv = CultureInfo.InvariantCulture;
foreach (var t in answer.Tokens)
    Console.WriteLine(string.Create(inv, $"token\t{t.Text}\t{t.Probability:R}\t{t.Entropy:R}"));
Console.WriteLine(string.Create(inv, $"sequence\t{answer.Text}\t{answer.Uncertainty.SequenceProbability:R}\t{answer.Uncertainty.MeanEntropy:R}"));
Console.WriteLine("loaded: " + string.Join(",", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Where(n => n!.StartsWith("UQEngine", StringComparison.Ordinal)).Order()));
return 0;
