using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Native;

namespace UQEngine.Tests.Inference;

/// <summary>GGUF LoRA adapters written by <see cref="LoraAdapterFile"/> round-trip through llama.cpp.</summary>
[Trait("Category", "Integration")]
public sealed class LoraAdapterTests
{
    private static readonly string[] Targets = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    /// <summary>A random adapter on every attention and FFN matrix of <paramref name="modelPath"/>.</summary>
    internal static string WriteRandomAdapter(string modelPath, string name, int rank = 4, IReadOnlyList<int>? invocation = null, float std = 0.2f)
    {
        var file = GgufFile.Read(modelPath);
        var rng = new Random(5);
        float Next() => (float)(std * (rng.NextDouble() * 2 - 1));
        var matrices = file.Tensors
            .Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) && Targets.Any(x => t.Name.EndsWith("." + x + ".weight", StringComparison.Ordinal)))
            .Select(t => new LoraMatrix(t.Name, rank,
                [.. Enumerable.Range(0, rank * (int)t.Dimensions[0]).Select(_ => Next())],
                [.. Enumerable.Range(0, (int)t.Dimensions[1] * rank).Select(_ => Next())]))
            .ToList();
        string path = TestModels.TempFile(name);
        LoraAdapterFile.Write(path, file, alpha: 2 * rank, matrices, invocation, [new("uqengine.test", GgufValue.FromString("round trip"))]);
        return path;
    }

    /// <summary>Decodes tokens from an empty cache and returns the last position's logits.</summary>
    internal static float[] LastLogits(LlamaContext context, int[] tokens)
    {
        context.ClearCache();
        using var batch = new LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: i == tokens.Length - 1);
        context.Decode(batch);
        return context.GetLogits(tokens.Length - 1).ToArray();
    }

    [Fact]
    public void Loading_changes_the_logits_and_removing_it_restores_them_bit_for_bit()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        int[] invocation = model.Vocabulary.Tokenize(" the", addSpecial: false);
        string path = WriteRandomAdapter(TestModels.SyntheticPath, "roundtrip-lora.gguf", invocation: invocation);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        int[] prompt = model.Vocabulary.Tokenize("Hello world, the", addSpecial: true);

        float[] before = LastLogits(context, prompt);
        using var adapter = LoraAdapter.Load(model, path);
        Assert.Equal("lora", adapter.Metadata["adapter.type"]);
        Assert.Equal("round trip", adapter.Metadata["uqengine.test"]);
        Assert.Equal(invocation, adapter.InvocationTokens);

        float[] loadedNotSet = LastLogits(context, prompt);
        Assert.Equal(before, loadedNotSet); // loading alone changes nothing: only a context that sets it applies it

        context.SetAdapter(adapter);
        Assert.Same(adapter, context.Adapter);
        float[] with = LastLogits(context, prompt);
        double maxDiff = before.Zip(with, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff > 1e-3, $"the adapter moved no logit (max |diff| {maxDiff})");

        context.SetAdapter(null);
        Assert.Null(context.Adapter);
        float[] after = LastLogits(context, prompt);
        Assert.Equal(before.Select(BitConverter.SingleToInt32Bits), after.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void An_adapter_keeps_its_model_alive_and_a_context_keeps_its_adapter_alive()
    {
        var model = LlamaModel.Load(TestModels.SyntheticPath);
        string path = WriteRandomAdapter(TestModels.SyntheticPath, "lifetime-lora.gguf");
        var adapter = LoraAdapter.Load(model, path);
        var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        context.SetAdapter(adapter);
        // Disposing in the "wrong" order must not free native memory still in use (the handles hold references).
        model.Dispose();
        adapter.Dispose();
        int[] prompt = [1, 2, 3];
        using (var batch = new LlamaBatchBuffer(3))
        {
            for (int i = 0; i < 3; i++) batch.Add(prompt[i], i, 0, wantOutput: i == 2);
            context.Decode(batch);
        }
        Assert.True(context.GetLogits(2).ToArray().All(float.IsFinite));
        context.Dispose();
    }

    [Fact]
    public void A_file_that_is_not_an_adapter_or_fits_another_model_is_refused_with_the_file_named()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        var notAdapter = Assert.Throws<InferenceException>(() => LoraAdapter.Load(model, TestModels.SyntheticPath));
        Assert.Contains("is not a LoRA adapter", notAdapter.Message);

        string otherModel = TestModels.TempFile("lora-other-base.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = otherModel, Seed = 3, EmbeddingLength = 32, HeadCount = 2, HeadCountKv = 2, FeedForwardLength = 96 });
        string wrong = WriteRandomAdapter(otherModel, "wrong-base-lora.gguf");
        var mismatch = Assert.Throws<InferenceException>(() => LoraAdapter.Load(model, wrong));
        Assert.Contains("wrong-base-lora.gguf", mismatch.Message);

        Assert.Throws<FileNotFoundException>(() => LoraAdapter.Load(model, TestModels.TempFile("no-such-adapter.gguf")));
    }

    [Fact]
    public void The_writer_checks_shapes_against_the_base_model()
    {
        var file = GgufFile.Read(TestModels.SyntheticPath);
        var q = file.Tensors.First(t => t.Name.EndsWith("attn_q.weight", StringComparison.Ordinal));
        int inputs = (int)q.Dimensions[0], outputs = (int)q.Dimensions[1];
        string path = TestModels.TempFile("bad-lora.gguf");
        var badA = Assert.Throws<ArgumentException>(() => LoraAdapterFile.Write(path, file, 1, [new LoraMatrix(q.Name, 2, new float[2 * inputs + 1], new float[outputs * 2])]));
        Assert.Contains(q.Name, badA.Message);
        var missing = Assert.Throws<ArgumentException>(() => LoraAdapterFile.Write(path, file, 1, [new LoraMatrix("blk.99.attn_q.weight", 2, new float[2 * inputs], new float[outputs * 2])]));
        Assert.Contains("blk.99.attn_q.weight", missing.Message);
        Assert.False(File.Exists(path));
    }
}
