using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using UQEngine.Demo;
using UQEngine.Evaluation.Calibration;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Probes;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Models;
using static TorchSharp.torch;

namespace UQEngine.Training.Torch;

/// <summary>
/// lora-query-train: the "LoRA + prompt" uncertainty query. The base model answers the training split's open
/// questions greedily (as `uqengine eval` does) and the answers are graded as probes grade them; then a LoRA on the
/// frozen model learns to answer the fixed query turn after each answer with "yes" when it was correct and "no" when
/// not: the loss is class-balanced binary cross-entropy on logit(yes) − logit(no) at the reply position. The adapter
/// acts only on the query's tokens (activated LoRA), exactly as LoraQuery applies it in llama.cpp. A stratified
/// held-out part picks the best step (held-out loss, with patience) and fits Platt's a and b. Exported as a GGUF
/// LoRA adapter bound to the base model file's SHA-256.
/// </summary>
public static class LoraQueryTrainer
{
    public static readonly string[] DefaultTargets = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    private sealed record Example(int[] Tokens, int PrefixLength, bool Correct, string Id);

    public static int Run(Func<string, string, string> opt, LlamaHyperparameters h, int threads)
    {
        var culture = CultureInfo.InvariantCulture;
        string modelPath = opt("model", "models/demo/uqengine-demo-f16.gguf");
        string output = opt("out", "models/cache/lora-query.gguf");
        int rank = int.Parse(opt("rank", "8"), culture);
        double alpha = double.Parse(opt("alpha", (2 * rank).ToString(culture)), culture);
        string[] targets = opt("targets", string.Join(',', DefaultTargets)).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        int steps = int.Parse(opt("steps", "300"), culture);
        int batchSize = int.Parse(opt("batch", "16"), culture);
        double lr = double.Parse(opt("lr", "2e-3"), culture);
        double holdout = double.Parse(opt("holdout", "0.2"), culture);
        int maxExamples = int.Parse(opt("max-examples", "0"), culture);
        int evalEvery = int.Parse(opt("eval-every", "20"), culture);
        int patience = int.Parse(opt("patience", "5"), culture);
        int seed = int.Parse(opt("seed", "1"), culture);
        string question = opt("question", LoraQuery.DefaultQuestion);
        foreach (string t in targets)
            if (!DefaultTargets.Contains(t)) throw new ArgumentException($"--targets: '{t}' is not one of {string.Join(", ", DefaultTargets)}");
        if (rank < 1) throw new ArgumentException("--rank must be at least 1");

        // 1. Graded answers of the base model on the training split (the model's own greedy answers).
        var clock = Stopwatch.StartNew();
        string sha256 = ModelFiles.Sha256(modelPath);
        var items = new DemoDataset("open", "train").Load(new DatasetReadOptions()).Items.ToList();
        var shuffle = new Random(seed);
        items = [.. items.OrderBy(_ => shuffle.Next())];
        if (maxExamples > 0) items = [.. items.Take(maxExamples)];
        List<Example> examples;
        string suffix;
        int yes, no;
        int[] suffixTokens;
        using (var llama = LlamaModel.Load(modelPath))
        using (var context = llama.CreateContext(new ContextOptions { ContextSize = 512, Threads = threads }))
        using (var generator = new UQEngine.Inference.Generator(context))
        {
            var answers = GradedExamples.Answers(generator, items);
            var prompts = new ItemPrompts(llama);
            var vocab = llama.Vocabulary;
            suffix = LoraQuery.QuerySuffix(llama, question);
            suffixTokens = vocab.Tokenize(suffix, addSpecial: false, parseSpecial: true);
            yes = vocab.Tokenize("yes", addSpecial: false)[0];
            no = vocab.Tokenize("no", addSpecial: false)[0];
            examples = [.. items.Select(item =>
            {
                int[] prefix = [.. vocab.Tokenize(prompts.Answer(item), addSpecial: true, parseSpecial: true), .. vocab.Tokenize(answers[item.Id], addSpecial: false)];
                return new Example([.. prefix, .. suffixTokens], prefix.Length, GradedExamples.Grade(item, answers[item.Id]).Correct, item.Id);
            })];
        }
        Console.WriteLine($"{examples.Count} graded answers ({examples.Count(e => e.Correct)} correct) in {clock.Elapsed.TotalSeconds:F1} s; query suffix {suffixTokens.Length} tokens; yes={yes} no={no}");

        // 2. Stratified held-out part: early stopping and Platt calibration.
        var split = new Random(seed + 1);
        var train = new List<Example>();
        var held = new List<Example>();
        foreach (var group in examples.GroupBy(e => e.Correct))
        {
            var g = group.OrderBy(_ => split.Next()).ToList();
            int nHeld = (int)Math.Round(g.Count * holdout);
            held.AddRange(g.Take(nHeld));
            train.AddRange(g.Skip(nHeld));
        }
        if (held.Count(e => e.Correct) == 0 || held.Count(e => !e.Correct) == 0 || train.Count(e => e.Correct) == 0 || train.Count(e => !e.Correct) == 0)
            throw new InvalidOperationException("both classes are needed in the training and held-out parts; use more examples");
        Console.WriteLine($"train {train.Count} ({train.Count(e => e.Correct)} correct), held out {held.Count} ({held.Count(e => e.Correct)} correct)");

        // 3. The frozen model and the LoRA matrices (PEFT's init: A uniform ±1/sqrt(in), B zero, so training starts at the base model).
        using var model = new TorchLlama(h, seed: 1, std: 0.02);
        var baseFile = GgufFile.Read(modelPath);
        model.Load(baseFile);
        model.Freeze();
        var gen = new TorchSharp.torch.Generator((ulong)seed);
        var lora = new Dictionary<string, (TorchSharp.Modules.Parameter A, TorchSharp.Modules.Parameter B)>(StringComparer.Ordinal);
        for (int l = 0; l < h.LayerCount; l++)
            foreach (string t in targets)
            {
                string name = $"blk.{l}.{t}.weight";
                var info = baseFile.GetTensor(name);
                long inputs = (long)info.Dimensions[0], outputs = (long)info.Dimensions[1];
                double bound = 1 / Math.Sqrt(inputs);
                lora[name] = (new TorchSharp.Modules.Parameter(rand(new long[] { rank, inputs }, generator: gen) * (2 * bound) - bound, requires_grad: true),
                              new TorchSharp.Modules.Parameter(zeros(outputs, rank), requires_grad: true));
            }
        double scale = alpha / rank;
        Tensor? mask = null; // [B, T, 1]: 1 from the query's first token on (activated LoRA), else 0
        model.MatrixHook = (name, x) => lora.TryGetValue(name, out var p) ? nn.functional.linear(nn.functional.linear(x, p.A), p.B) * (scale * mask!) : null;
        var parameters = lora.Values.SelectMany(p => new[] { p.A, p.B }).ToList();
        var optimizer = optim.AdamW(parameters, lr: lr, weight_decay: 0.0);

        // Logit(yes) − logit(no) at each example's last position.
        Tensor Margins(IReadOnlyList<Example> batch)
        {
            int T = batch.Max(e => e.Tokens.Length);
            var flat = new long[batch.Count * T];
            var m = new float[batch.Count * T];
            var last = new long[batch.Count];
            for (int b = 0; b < batch.Count; b++)
            {
                var e = batch[b];
                for (int j = 0; j < e.Tokens.Length; j++) { flat[b * T + j] = e.Tokens[j]; m[b * T + j] = j >= e.PrefixLength ? 1 : 0; }
                last[b] = e.Tokens.Length - 1; // right padding: causal attention keeps it out of every real position
            }
            mask = tensor(m).view(batch.Count, T, 1);
            var logits = model.Forward(tensor(flat).view(batch.Count, T));
            var at = logits.gather(1, tensor(last).view(batch.Count, 1, 1).expand(batch.Count, 1, logits.shape[2])).squeeze(1);
            return at[.., yes] - at[.., no];
        }
        // Class-balanced: each class weighs n / (2 n_class) over the training part.
        double wPos = train.Count / (2.0 * train.Count(e => e.Correct)), wNeg = train.Count / (2.0 * train.Count(e => !e.Correct));
        Tensor Loss(Tensor z, IReadOnlyList<Example> batch)
        {
            var y = tensor(batch.Select(e => e.Correct ? 1f : 0f).ToArray());
            var w = tensor(batch.Select(e => (float)(e.Correct ? wPos : wNeg)).ToArray());
            var ll = y * nn.functional.logsigmoid(z) + (1 - y) * nn.functional.logsigmoid(-z);
            return -(w * ll).sum() / w.sum();
        }
        (double Loss, double Auroc, double[] Z) Evaluate(IReadOnlyList<Example> set)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var zs = new List<double>();
            double loss = 0;
            for (int i = 0; i < set.Count; i += 32)
            {
                var chunk = set.Skip(i).Take(32).ToList();
                var z = Margins(chunk);
                loss += Loss(z, chunk).item<float>() * chunk.Count;
                zs.AddRange(z.data<float>().ToArray().Select(v => (double)v));
            }
            double[] zArr = [.. zs];
            bool[] labels = [.. set.Select(e => e.Correct)];
            var auroc = RankingMetrics.Auroc(zArr, labels);
            return (loss / set.Count, auroc.IsDefined ? auroc.Value : double.NaN, zArr);
        }

        var start = Evaluate(held);
        Console.WriteLine($"step 0: held-out loss {start.Loss:F4}, AUROC {start.Auroc:F3} (the base model answering the query)");
        double bestLoss = start.Loss; int bestStep = 0, sinceBest = 0;
        var best = parameters.Select(p => p.detach().clone()).ToList();
        var order = new Random(seed + 2);
        var pool = new List<Example>();
        int step = 0;
        var trainClock = Stopwatch.StartNew();
        for (step = 1; step <= steps; step++)
        {
            if (pool.Count < batchSize) pool.AddRange(train.OrderBy(_ => order.Next()));
            var batch = pool.Take(batchSize).ToList();
            pool.RemoveRange(0, batchSize);
            using (var scope = NewDisposeScope())
            {
                var loss = Loss(Margins(batch), batch);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
            if (step % evalEvery == 0 || step == steps)
            {
                var ev = Evaluate(held);
                Console.WriteLine($"step {step}: held-out loss {ev.Loss:F4}, AUROC {ev.Auroc:F3}, {trainClock.Elapsed.TotalSeconds:F0} s");
                if (ev.Loss < bestLoss - 1e-4)
                {
                    bestLoss = ev.Loss; bestStep = step; sinceBest = 0;
                    using (no_grad()) for (int i = 0; i < parameters.Count; i++) best[i].copy_(parameters[i]);
                }
                else if (++sinceBest >= patience) { Console.WriteLine($"early stop: no held-out improvement in {patience} evaluations"); break; }
            }
        }
        using (no_grad()) for (int i = 0; i < parameters.Count; i++) parameters[i].copy_(best[i]);
        var final = Evaluate(held);
        var platt = new PlattScaling();
        platt.Fit(final.Z, [.. held.Select(e => e.Correct)]);
        Console.WriteLine($"best step {bestStep}: held-out loss {final.Loss:F4}, AUROC {final.Auroc:F3}; Platt a {platt.A:F4} b {platt.B:F4}; training {trainClock.Elapsed.TotalSeconds:F0} s");

        // 4. Export: the GGUF LoRA adapter llama.cpp loads, with the query's description and the base model's SHA-256.
        var matrices = lora.Select(kv => new LoraMatrix(kv.Key, rank, kv.Value.A.detach().contiguous().data<float>().ToArray(), kv.Value.B.detach().contiguous().data<float>().ToArray())).ToList();
        var meta = new List<KeyValuePair<string, GgufValue>>
        {
            new(LoraQuery.BaseSha256Key, GgufValue.FromString(sha256)),
            new(LoraQuery.BaseFileKey, GgufValue.FromString(Path.GetFileName(modelPath))),
            new(LoraQuery.SuffixKey, GgufValue.FromString(suffix)),
            new(LoraQuery.YesTokenKey, GgufValue.FromUInt32((uint)yes)),
            new(LoraQuery.NoTokenKey, GgufValue.FromUInt32((uint)no)),
            new(LoraQuery.PlattAKey, GgufValue.FromFloat32((float)platt.A)),
            new(LoraQuery.PlattBKey, GgufValue.FromFloat32((float)platt.B)),
            new(LoraQuery.MetadataPrefix + "question", GgufValue.FromString(question)),
            new(LoraQuery.MetadataPrefix + "rank", GgufValue.FromUInt32((uint)rank)),
            new(LoraQuery.MetadataPrefix + "targets", GgufValue.FromString(string.Join(',', targets))),
            new(LoraQuery.MetadataPrefix + "trained_on", GgufValue.FromString($"demo:open:train, {examples.Count} graded answers ({train.Count} train / {held.Count} held out), seed {seed}")),
            new(LoraQuery.MetadataPrefix + "best_step", GgufValue.FromUInt32((uint)bestStep)),
            new(LoraQuery.MetadataPrefix + "heldout_auroc", GgufValue.FromFloat32((float)final.Auroc)),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        LoraAdapterFile.Write(output, baseFile, (float)alpha, matrices, suffixTokens, meta);
        Console.WriteLine($"wrote {output} ({new FileInfo(output).Length} bytes; {matrices.Count} matrices, rank {rank}, alpha {alpha}) in {clock.Elapsed.TotalMinutes:F1} min");

        // 5. Transfer check: the same margins through llama.cpp with the exported adapter (LoraQuery), on held-out examples.
        using (var llama = LlamaModel.Load(modelPath))
        using (var context = llama.CreateContext(new ContextOptions { ContextSize = 512, Threads = threads }))
        using (var generator = new UQEngine.Inference.Generator(context))
        using (var query = LoraQuery.Load(llama, output))
        {
            double worst = 0;
            var check = held.Take(8).ToList();
            for (int i = 0; i < check.Count; i++)
            {
                var e = check[i];
                generator.Prefill(e.Tokens.AsSpan(0, e.PrefixLength));
                var reading = query.AskAt(context, e.PrefixLength);
                worst = Math.Max(worst, Math.Abs(reading.Logit - final.Z[held.IndexOf(e)]));
            }
            Console.WriteLine($"transfer check (torch vs llama.cpp + adapter, {check.Count} held-out examples): max |margin diff| {worst:E2}");
        }
        return 0;
    }
}
