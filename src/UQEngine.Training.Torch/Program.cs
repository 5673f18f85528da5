using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using UQEngine.Demo;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Native;
using UQEngine.Training.Torch;
using static TorchSharp.torch;

// Usage:
//   check  [--recipe models/demo/recipe.json] [--work DIR]
//       random weights in torch -> LlamaGgufExporter -> llama.cpp; compares next-token logits (max |diff|; exit 1 if >= 1e-2).
//       --neox: negative control with half-split RoPE (must fail).
//   train  [--recipe ...] [--work DIR] [--epochs N] [--threads 2] [--lr 1.5e-3] [--batch 4] [--warmup 100] [--checkpoints 2,4]
//          [--out models/demo/uqengine-demo-f16.gguf]
//       trains on the demo corpus (same world, tokenizer and packing as `uqengine model build`) for exactly N epochs
//       (default: the recipe's), so a fact on rung k is seen k times per epoch; exports F32 + F16, and F32 checkpoints
//       after the listed epochs.
//   lora-query-train [--model models/demo/uqengine-demo-f16.gguf] [--out models/cache/lora-query.gguf] [--rank 8] [--alpha 16]
//          [--targets attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down] [--steps 300] [--batch 16] [--lr 2e-3]
//          [--holdout 0.2] [--max-examples N] [--eval-every 20] [--patience 5] [--seed 1]
//       the "LoRA + prompt" uncertainty query (LoraQueryTrainer): a LoRA on the frozen model that answers "Is the
//       proposed answer correct?" after its own graded answers; GGUF adapter for `uqengine eval --lora-query FILE`.
//   finetune --from models/cache/torch/trained-f32.gguf --data uait.jsonl [--epochs 3] [--lr 3e-4] [--replay 1] [--out ...]
//       UaIT: continues training a trained model on instruction chats (`uqengine uait export`: the question, then the
//       answer and "Confidence: N%"), each epoch mixed with `replay` corpus documents per chat so it keeps its facts.
var culture = CultureInfo.InvariantCulture;
string command = args.Length > 0 ? args[0] : "check";
string Opt(string name, string fallback)
{
    int i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

string recipePath = Opt("recipe", "models/demo/recipe.json");
string work = Opt("work", "models/cache/torch");
Directory.CreateDirectory(work);
var recipe = DemoRecipe.FromJson(File.ReadAllText(recipePath));
var settings = recipe.Torch;
int threads = int.Parse(Opt("threads", settings.Threads.ToString(culture)), culture);
torch.set_num_threads(threads);

Console.WriteLine("generating the world and the vocabulary");
var world = DemoWorld.Generate(recipe.World);
var vocabulary = DemoModelBuilder.BuildVocabulary(recipe, world);
var export32 = DemoModelBuilder.ExportOptions(recipe, vocabulary);
var h = export32.Hyperparameters;
Console.WriteLine($"vocabulary {vocabulary.Count}; {h.LayerCount} layers x {h.EmbeddingLength}, {h.HeadCount} heads ({h.HeadCountKv} kv), ff {h.FeedForwardLength}");

void Export(TorchLlama model, string path, GgmlType type) =>
    LlamaGgufExporter.Write(path, export32 with { MatrixType = type }, model.CopyWeight);

if (command == "lora-query-train") return LoraQueryTrainer.Run(Opt, h, threads);

if (command == "check")
{
    TorchLlama.NeoxRopeForTesting = args.Contains("--neox");
    using var model = new TorchLlama(h, seed: 1, std: double.Parse(Opt("std", "0.05"), culture));
    string path = Path.Combine(work, "transfer-check-f32.gguf");
    Export(model, path, GgmlType.F32);
    double exactKv = TransferCheck.Compare(model, path, DemoFormat.ChatPrompt("Where does Dedik live?"), threads, kvCacheF16: false);
    Console.WriteLine($"transfer check, torch K/V in F32: max |logit diff| = {exactKv:E3}");
    double worst = TransferCheck.Compare(model, path, DemoFormat.ChatPrompt("Where does Dedik live?"), threads);
    Console.WriteLine($"transfer check: max |logit diff| torch vs llama.cpp = {worst:E3}");
    // llama.cpp's CPU attention runs in F16 (KV cache, flash attention), so ~3e-3 remains on logits of ~3; a wrong
    // layout or RoPE convention gives > 1 (check --neox).
    return worst < 1e-2 ? 0 : 1;
}

if (command is not ("train" or "finetune")) { Console.Error.WriteLine("usage: check | train | finetune | lora-query-train"); return 2; }
bool finetune = command == "finetune";

int epochs = int.Parse(Opt("epochs", settings.Epochs.ToString(culture)), culture);
double lr = double.Parse(Opt("lr", settings.LearningRate.ToString("R", culture)), culture);
int batch = int.Parse(Opt("batch", settings.BatchSize.ToString(culture)), culture);
string output = Opt("out", finetune ? Path.Combine(work, "uait-f16.gguf") : "models/demo/uqengine-demo-f16.gguf");
int ctx = recipe.Training.ContextLength;
int warmup = int.Parse(Opt("warmup", settings.WarmupSteps.ToString(culture)), culture);
var checkpoints = Opt("checkpoints", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, culture)).ToHashSet();

// Tokenize with llama.cpp's tokenizer from the exported vocabulary (exactly what evaluation uses).
using var trainModel = new TorchLlama(h, seed: settings.Seed, std: settings.InitStandardDeviation);
string init = Path.Combine(work, "init-f32.gguf");
Export(trainModel, init, GgmlType.F32);
using var llama = LlamaModel.Load(init);
int pad = llama.Vocabulary.EndOfSequence;
List<int[]> Pack(IEnumerable<string> docs)
{
    int width = ctx + 1;
    var windows = new List<int[]>();
    var current = new List<int>(width);
    void Flush()
    {
        if (current.Count == 0) return;
        while (current.Count < width) current.Add(-1); // -1: padding, not a label
        windows.Add([.. current]);
        current.Clear();
    }
    foreach (var text in docs)
    {
        int[] doc = llama.Vocabulary.Tokenize(text, addSpecial: true, parseSpecial: true);
        if (current.Count + doc.Length > width) Flush();
        current.AddRange(doc.Length > width ? doc.AsSpan(0, width).ToArray() : doc);
    }
    Flush();
    return windows;
}

var decay = trainModel.Matrices.ToList();
var noDecay = trainModel.Vectors.ToList();
var optimizer = optim.AdamW([new TorchSharp.Modules.AdamW.ParamGroup(decay, new TorchSharp.Modules.AdamW.Options { weight_decay = settings.WeightDecay }),
                             new TorchSharp.Modules.AdamW.ParamGroup(noDecay, new TorchSharp.Modules.AdamW.Options { weight_decay = 0 })],
                            lr: lr, beta1: settings.Beta1, beta2: settings.Beta2);
// Every epoch's windows up front: the schedule (warm-up, then cosine to 5 % over all steps) needs the step count.
List<List<int[]>> epochWindows;
if (finetune)
{
    string from = Opt("from", Path.Combine(work, "trained-f32.gguf"));
    string data = Opt("data", "");
    if (data.Length == 0 || !File.Exists(data)) { Console.Error.WriteLine($"finetune needs --data FILE.jsonl (uqengine uait export); '{data}' not found"); return 2; }
    trainModel.Load(GgufFile.Read(from));
    var chats = File.ReadLines(data).Where(l => l.Trim().Length > 0).Select(line =>
    {
        using var doc = System.Text.Json.JsonDocument.Parse(line);
        var messages = doc.RootElement.GetProperty("messages");
        return DemoFormat.ChatExchange(messages[0].GetProperty("content").GetString()!, messages[1].GetProperty("content").GetString()!);
    }).ToList();
    double replay = double.Parse(Opt("replay", "1"), culture);
    Console.WriteLine($"finetuning {from} on {chats.Count} chats from {data}, {replay} corpus documents replayed per chat");
    epochWindows = [.. Enumerable.Range(0, epochs).Select(e =>
    {
        var corpus = world.Corpus(e); // already in a seeded random order
        var order = new Random(e + 1);
        return Pack(chats.Concat(corpus.Take((int)Math.Round(replay * chats.Count))).OrderBy(_ => order.Next()).ToList());
    })];
}
else epochWindows = [.. Enumerable.Range(0, epochs).Select(e => Pack(world.Corpus(e)))];
long totalSteps = epochWindows.Sum(w => (long)(w.Count / batch));
var clock = Stopwatch.StartNew();
long step = 0;
Console.WriteLine($"training: {epochs} epochs, {totalSteps} steps, lr {lr}, batch {batch} x {ctx}, AdamW wd {settings.WeightDecay}, {threads} threads");
for (int epoch = 0; epoch < epochs; epoch++)
{
    var windows = epochWindows[epoch];
    var rng = new Random(epoch + 1); // window order; seeded so a rerun repeats the run
    var order = Enumerable.Range(0, windows.Count).OrderBy(_ => rng.Next()).ToArray();
    double lossSum = 0; int n = 0;
    for (int b = 0; b + batch <= order.Length; b += batch)
    {
        double frac = Math.Min(1, step / (double)totalSteps);
        double rate = lr * Math.Min(1.0, (step + 1) / (double)warmup) * (settings.FinalLearningRateFraction + (1 - settings.FinalLearningRateFraction) * 0.5 * (1 + Math.Cos(Math.PI * frac)));
        foreach (var g in optimizer.ParamGroups) g.LearningRate = rate;
        using var scope = NewDisposeScope();
        var flat = new long[batch * (ctx + 1)];
        for (int i = 0; i < batch; i++)
            for (int j = 0; j <= ctx; j++) flat[i * (ctx + 1) + j] = windows[order[b + i]][j];
        var all = tensor(flat).view(batch, ctx + 1);
        var inputs = all[.., ..ctx].clamp_min(0);
        var labels = all[.., 1..].clone();
        labels.masked_fill_(labels.lt(0), -100);
        var logits = trainModel.Forward(inputs);
        var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[2]), labels.reshape(-1), ignore_index: -100);
        optimizer.zero_grad();
        loss.backward();
        nn.utils.clip_grad_norm_(trainModel.Parameters, settings.GradientClip);
        optimizer.step();
        lossSum += loss.item<float>(); n++; step++;
        // Parsed by `uqengine model build` for its progress bar.
        if (step % 10 == 0 || step == totalSteps) Console.WriteLine($"step {step}/{totalSteps} epoch {epoch + 1}/{epochs} loss {lossSum / n:F3} lr {rate:0.0e0}");
    }
    Console.WriteLine($"epoch {epoch}: {n} steps, mean loss {lossSum / Math.Max(1, n):F3}, {clock.Elapsed.TotalMinutes:F1} min, max|w| {trainModel.MaxAbsWeight():F2}");
    if (checkpoints.Contains(epoch + 1))
    {
        string checkpoint = Path.Combine(work, $"epoch{epoch + 1}-f32.gguf");
        Export(trainModel, checkpoint, GgmlType.F32);
        Console.WriteLine($"checkpoint {checkpoint}");
    }
}
clock.Stop();
Console.WriteLine($"trained {step} steps ({epochs} epochs) in {clock.Elapsed.TotalMinutes:F1} min");
string f32 = Path.Combine(work, "trained-f32.gguf");
Export(trainModel, f32, GgmlType.F32);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
Export(trainModel, output, GgmlType.F16);
string sha256 = ModelFiles.Sha256(output);
Console.WriteLine($"wrote {f32} and {output} ({new FileInfo(output).Length} bytes, sha256 {sha256})");
// The world's items and the checksum go beside the model, as `uqengine model build` leaves them.
string outputFolder = Path.GetDirectoryName(Path.GetFullPath(output))!;
using (var items = new StreamWriter(Path.Combine(outputFolder, "world.jsonl"))) world.WriteJsonl(items);
File.WriteAllText(Path.Combine(outputFolder, Path.GetFileName(output) + ".sha256"), $"{sha256}  {Path.GetFileName(output)}\n");
double diff = TransferCheck.Compare(trainModel, f32, DemoFormat.ChatPrompt("Where does Dedik live?"), threads);
Console.WriteLine($"trained-model transfer check (F32): max |logit diff| = {diff:E3}");
return 0;
