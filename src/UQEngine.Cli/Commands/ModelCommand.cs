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
        return command;
    }

    private static Command Build()
    {
        var recipe = new Option<string?>("--recipe") { Description = "Recipe JSON (default: the committed models/demo/recipe.json, else the built-in recipe)" };
        var output = new Option<string?>("--output", "-o") { Description = "Folder for the model, recipe, checksum and world (default: models/demo of this checkout)" };
        var epochs = new Option<int?>("--epochs") { Description = "Override the recipe's epochs" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
        var noEval = new Option<bool>("--no-eval") { Description = "Skip evaluating the built model" };
        var command = new Command("build", "Reproduce the demo model: world, BPE vocabulary, initial weights, llama.cpp training, F16 quantization") { recipe, output, epochs, threads, noEval };
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            string? recipePath = result.GetValue(recipe);
            var r = recipePath is not null ? DemoRecipe.FromJson(File.ReadAllText(recipePath)) : DemoModels.LoadRecipe();
            if (result.GetValue(epochs) is int e) r = r with { Training = r.Training with { Epochs = e } };
            if (result.GetValue(threads) is int t and > 0) r = r with { Training = r.Training with { Threads = t } };
            string folder = result.GetValue(output) ?? DemoModels.FindFolder() ?? Path.Combine(FindCheckout() ?? Directory.GetCurrentDirectory(), "models", "demo");
            Directory.CreateDirectory(folder);
            string modelPath = Path.Combine(folder, DemoModels.FileName);
            string work = Path.Combine(DemoModels.CacheDirectory(), "build");
            AnsiConsole.MarkupLine($"[bold]Building the demo model[/] into [blue]{Markup.Escape(folder)}[/] ({r.Training.Epochs} epochs, work files in {Markup.Escape(work)})");

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

            File.WriteAllText(Path.Combine(folder, DemoModels.RecipeFileName), r.ToJson() + "\n");
            File.WriteAllText(Path.Combine(folder, DemoModels.ChecksumFileName), $"{built.Sha256}  {DemoModels.FileName}\n");
            var world = DemoWorld.Generate(r.World);
            using (var writer = new StreamWriter(Path.Combine(folder, "world.jsonl"))) world.WriteJsonl(writer);
            AnsiConsole.MarkupLine($"[green]done[/] in {clock.Elapsed.TotalMinutes:F1} min (training {built.TrainingTime.TotalMinutes:F1} min): {Markup.Escape(built.ModelPath)}, {built.SizeBytes / 1048576.0:F2} MiB, {built.ParameterCount:N0} parameters, vocabulary {built.VocabularySize}");
            AnsiConsole.MarkupLine($"sha256 {built.Sha256}");
            if (!result.GetValue(noEval))
            {
                using var model = LlamaModel.Load(built.ModelPath);
                ShowTable(EvaluateAll(model, world, r.World.OptionCount), r.ShippedType);
            }
            return 0;
        })));
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
        var command = new Command("info", "Show the demo model's recipe, checksum and world");
        command.SetAction(result => CommandRunner.Run(() =>
        {
            string folder = DemoModels.FindFolder() ?? throw new CliException("no demo model found (models/demo/uqengine-demo-f16.gguf); run `uqengine model build`");
            string path = Path.Combine(folder, DemoModels.FileName);
            var r = DemoModels.LoadRecipe(folder);
            var facts = GgufModelFacts.From(GgufFile.Read(path));
            string sha = DemoModelBuilder.Sha256(path);
            string? expected = File.Exists(Path.Combine(folder, DemoModels.ChecksumFileName)) ? File.ReadAllText(Path.Combine(folder, DemoModels.ChecksumFileName)).Split(' ')[0].Trim() : null;
            var world = DemoWorld.Generate(r.World);
            var table = new Table().Border(TableBorder.Rounded).Title("demo model").AddColumn("").AddColumn("");
            table.AddRow("file", Markup.Escape(path));
            table.AddRow("size", $"{facts.FileSize / 1048576.0:F2} MiB ({facts.FileTypeName})");
            table.AddRow("sha256", expected is null ? sha : sha == expected ? $"{sha} [green](matches)[/]" : $"{sha} [red](expected {expected})[/]");
            table.AddRow("shape", $"{facts.LayerCount} layers x {facts.EmbeddingLength} wide, {facts.HeadCount} heads, ff {facts.FeedForwardLength}, {facts.ParameterCount:N0} parameters");
            table.AddRow("vocabulary", $"{facts.VocabularySize} tokens, {facts.MergeCount} merges (BPE learned from the corpus)");
            table.AddRow("world", $"seed {r.World.Seed}: {world.People.Length} people x {world.Relations.Length} relations, ladder [{string.Join(", ", r.World.ExposureLadder)}] per epoch, {world.Items.Count(i => i.Family == DemoFamily.Arithmetic)} additions");
            table.AddRow("held out", $"{world.EvaluationItems.Count(i => i.Family == DemoFamily.Recall)} recall questions, {world.EvaluationItems.Count(i => i.Family == DemoFamily.Arithmetic)} additions");
            table.AddRow("training", $"llama.cpp llama_opt_epoch, {r.Training.Epochs} epochs, {r.Training.Optimizer} lr {r.Training.LearningRate} (cosine to x{r.Training.FinalLearningRateFraction}), {r.Training.ContextLength} tokens per step");
            var sample = world.EvaluationItems.Where(i => i.Family == DemoFamily.Recall && i.Exposure >= 16).Take(2)
                .Concat(world.EvaluationItems.Where(i => i.Exposure == 0 && i.Family == DemoFamily.Recall).Take(1));
            foreach (var item in sample) table.AddRow($"try (seen {item.Exposure}x)", Markup.Escape($"uqengine generate \"{item.Question}\"  (answer: {item.Answer})"));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Eval()
    {
        var quant = new Option<string[]>("--quant", "-q") { Description = "Quantization type(s) (F16 = the committed model; others made on demand into models/cache), or 'all'", DefaultValueFactory = _ => ["F16"], AllowMultipleArgumentsPerToken = true };
        var modelPath = new Option<string?>("--model", "-m") { Description = "Evaluate this GGUF instead of the demo model" };
        var limit = new Option<int>("--limit") { Description = "Evaluate at most this many items per bucket (0 = all)" };
        var threads = new Option<int>("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
        var markdown = new Option<bool>("--markdown") { Description = "Print Markdown tables" };
        var trainSplit = new Option<bool>("--train-split") { Description = "Ask the questions that are answered in the corpus instead of the held-out ones" };
        var command = new Command("eval", "Ask the model the world's held-out questions and show accuracy by exposure") { quant, modelPath, limit, threads, markdown, trainSplit };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var r = DemoModels.LoadRecipe();
            var world = DemoWorld.Generate(r.World);
            string[] names = result.GetValue(quant) ?? ["F16"];
            var types = names.Any(n => n.Equals("all", StringComparison.OrdinalIgnoreCase)) ? QuantizationType.Ladder : names.Select(QuantizationType.Parse).ToList();
            string? explicitModel = result.GetValue(modelPath);
            var combined = new List<(string Label, long Bytes, IReadOnlyList<DemoBucket> Buckets)>();
            foreach (var type in explicitModel is null ? types : [QuantizationType.F16])
            {
                string path = explicitModel ?? DemoModels.Variant(type);
                using var model = LlamaModel.Load(path);
                var clock = Stopwatch.StartNew();
                var results = EvaluateAll(model, world, r.World.OptionCount, result.GetValue(limit), result.GetValue(threads), result.GetValue(trainSplit));
                string label = explicitModel is null ? type.Name : Path.GetFileName(path);
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
                var sb = new System.Text.StringBuilder("| held-out items | n | " + string.Join(" | ", combined.Select(c => $"{c.Label} ({c.Bytes / 1048576.0:F1} MiB)")) + " |\n");
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

    internal static IReadOnlyList<DemoItemResult> EvaluateAll(LlamaModel model, DemoWorld world, int optionCount, int limit = 0, int threads = 0, bool trainSplit = false)
    {
        using var evaluator = new DemoEvaluator(model, optionCount, threads);
        var items = (trainSplit ? world.Items.Where(i => i.Split == DemoSplit.Train) : world.EvaluationItems).GroupBy(i => (i.Family, i.Exposure)).SelectMany(g => limit > 0 ? g.Take(limit) : g);
        return evaluator.Evaluate(items);
    }

    private static void ShowTable(IReadOnlyList<DemoItemResult> results, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title)).AddColumns("held-out items", "n", "open answer", "10-choice", "open confidence");
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
