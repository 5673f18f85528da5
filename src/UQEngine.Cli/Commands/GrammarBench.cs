using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Structured;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine parity grammar-bench`: the cost of grammar-constrained decoding. Each round decodes the same prompt
/// free and under a JSON Schema's grammar (order swapped every round). A step's time is the interval between two
/// consecutive steps of the decode (one llama_decode of one token, the statistics kernel and, constrained, the
/// grammar mask), so the prompt is not counted and a free answer that ends early still gives steady-state steps;
/// tokens/s = 1 / the median step time. Both runs compute the token statistics.
/// </summary>
internal static class GrammarBench
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var schema = new Option<FileInfo>("--json-schema") { Description = "JSON Schema file of the constrained run", Required = true };
        var tokens = new Option<int>("--tokens") { Description = "Most tokens per decode", DefaultValueFactory = _ => 64 };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds (each: free and constrained, order swapped every round)", DefaultValueFactory = _ => 10 };
        var prompt = new Option<string>("--prompt") { DefaultValueFactory = _ => "Hello world" };
        var output = new Option<string?>("--out", "-o") { Description = "Write the timings as JSON here" };
        var command = new Command("grammar-bench", "Greedy decoding tokens/s without and with a JSON Schema grammar, interleaved") { schema, tokens, rounds, prompt, output };
        model.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            int n = result.GetValue(tokens), r = result.GetValue(rounds);
            if (n < 1 || r < 1) throw new CliException("--tokens and --rounds must be at least 1");
            var file = result.GetValue(schema)!;
            if (!file.Exists) throw new CliException($"--json-schema: no file {file.FullName}");
            var grammar = JsonSchemaGrammar.FromSchema(File.ReadAllText(file.FullName));
            string path = model.ResolveModelPath(result, null);
            using var llm = LlamaModel.Load(path, model.LoadOptions(result));
            using var context = llm.CreateContext(model.ContextOptions(result) with { ContextSize = Math.Max(512, n + 64) });
            using var generator = new Generator(context);
            // Step intervals of one decode: [i] = time from step i to step i + 1.
            (List<double> Steps, int Tokens) Decode(GenerationGrammar? g)
            {
                var steps = new List<double>();
                long last = 0;
                var output = generator.Generate(result.GetValue(prompt)!, new GenerationOptions
                {
                    MaxTokens = n, Grammar = g,
                    OnStep = (in DecodeStep _) =>
                    {
                        long now = Stopwatch.GetTimestamp();
                        if (last != 0) steps.Add(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
                        last = now;
                    },
                }, cancellation);
                return (steps, output.Tokens.Count);
            }
            Decode(null); Decode(grammar); // warm-up
            var free = new List<double>(); var constrained = new List<double>();
            int freeTokens = 0, constrainedTokens = 0;
            for (int i = 0; i < r; i++)
            {
                (List<double> Steps, int Tokens) a, b;
                if (i % 2 == 0) { a = Decode(null); b = Decode(grammar); }
                else { b = Decode(grammar); a = Decode(null); }
                free.AddRange(a.Steps); constrained.AddRange(b.Steps);
                freeTokens = a.Tokens; constrainedTokens = b.Tokens;
            }
            if (free.Count == 0 || constrained.Count == 0) throw new CliException("a decode gave fewer than two steps; use another --prompt");
            double freeStep = UQEngine.Evaluation.Metrics.Bootstrap.Median(free), constrainedStep = UQEngine.Evaluation.Metrics.Bootstrap.Median(constrained);
            var report = new
            {
                model = Path.GetFileName(path), vocabulary = llm.Facts.VocabularySize, schema = file.Name, tokens = n, rounds = r,
                free_tokens = freeTokens, constrained_tokens = constrainedTokens, free_steps_timed = free.Count, constrained_steps_timed = constrained.Count,
                step_ms_free_median = freeStep * 1e3, step_ms_constrained_median = constrainedStep * 1e3,
                tokens_per_second_free = 1 / freeStep, tokens_per_second_constrained = 1 / constrainedStep,
                grammar_ms_per_token = (constrainedStep - freeStep) * 1e3,
            };
            if (result.GetValue(output) is { Length: > 0 } o) File.WriteAllText(o, JsonSerializer.Serialize(report, ParityCommand.Json));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"grammar-bench: {report.model} (vocabulary {report.vocabulary}), {r} rounds: free {report.tokens_per_second_free:F1} tokens/s ({report.step_ms_free_median:F3} ms/step, {free.Count} steps timed), constrained {report.tokens_per_second_constrained:F1} tokens/s ({report.step_ms_constrained_median:F3} ms/step, {constrained.Count} steps timed): the grammar adds {report.grammar_ms_per_token:F3} ms per token"));
            return 0;
        })));
        return command;
    }
}
