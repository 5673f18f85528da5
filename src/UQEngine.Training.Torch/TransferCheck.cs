using UQEngine.Inference;
using UQEngine.Native;
using static TorchSharp.torch;

namespace UQEngine.Training.Torch;

/// <summary>Compares next-token logits of the torch model and of llama.cpp on the exported file, at every prompt position.</summary>
public static class TransferCheck
{
    public static double Compare(TorchLlama model, string ggufPath, string prompt, int threads, bool kvCacheF16 = true)
    {
        using var llama = LlamaModel.Load(ggufPath);
        int[] tokens = llama.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial: true);
        using var context = llama.CreateContext(new ContextOptions { ContextSize = 256, BatchSize = 256, Threads = threads });
        using var batch = new LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: true);
        context.Decode(batch);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.Forward(tensor(tokens.Select(t => (long)t).ToArray()).view(1, -1), kvCacheF16)[0];
        double worst = 0, scale = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            float[] mine = logits[i].data<float>().ToArray();
            var theirs = context.GetLogits(i);
            double rowWorst = 0;
            for (int v = 0; v < mine.Length; v++) rowWorst = Math.Max(rowWorst, Math.Abs(mine[v] - theirs[v]));
            if (Environment.GetEnvironmentVariable("UQ_TRANSFER_VERBOSE") == "1") Console.WriteLine($"    position {i}: max |diff| {rowWorst:E2}");
            for (int v = 0; v < mine.Length; v++)
            {
                worst = Math.Max(worst, Math.Abs(mine[v] - theirs[v]));
                scale = Math.Max(scale, Math.Abs(theirs[v]));
            }
        }
        Console.WriteLine($"  torch K/V rounded to F16 like the KV cache: {kvCacheF16}; {tokens.Length} positions x {llama.Vocabulary.Count} logits; max |logit| {scale:F3}");
        return worst;
    }
}
