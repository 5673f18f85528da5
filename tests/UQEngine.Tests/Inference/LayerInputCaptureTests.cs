using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.Tests.Inference;

/// <summary>
/// Layer inputs read from the graph by the node callback (LayerInputCapture, what qwen2, gemma2, gemma3 and phi3 use)
/// against llama.cpp's own record of them, on the synthetic llama where both exist.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LayerInputCaptureTests
{
    [Fact]
    public void Layer_inputs_read_from_the_graph_are_llama_cpp_s_own_record()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        int[] layers = [.. Enumerable.Range(0, model.Facts.LayerCount)];
        var options = new ContextOptions { ContextSize = 1024, BatchSize = 1024, HiddenLayers = layers, Threads = 1 };
        using var recorded = model.CreateContext(options);
        using var captured = model.CreateContext(options with { CaptureLayerInputs = true });
        // More tokens than llama.cpp's default micro-batch (512): the rows of both micro-batches come back in order.
        int[] text = model.Vocabulary.Tokenize("the sky is blue today and the rain falls on the green hills of the north ", addSpecial: false);
        int[] tokens = [.. Enumerable.Range(0, 700).Select(i => text[i % text.Length])];
        using var batch = new LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: i == tokens.Length - 1);
        recorded.Decode(batch);
        captured.Decode(batch);
        foreach (int layer in layers)
            for (int i = 0; i < tokens.Length; i++)
                Assert.True(recorded.GetLayerHiddenState(layer, i).SequenceEqual(captured.GetLayerHiddenState(layer, i)), $"layer {layer}, token {i}");
        // The logits are untouched by reading the graph.
        Assert.True(recorded.GetLogits(tokens.Length - 1).SequenceEqual(captured.GetLogits(tokens.Length - 1)));
    }

    /// <summary>On Gemma 3's structure (6 layers; llama.cpp records no layer inputs for it): an early exit keeps the layer read and refuses the layers above.</summary>
    [Fact]
    public void An_early_exit_keeps_the_layer_read_and_refuses_the_layers_above()
    {
        string path = TestModels.TempFile("capture-gemma3.gguf");
        UQEngine.Models.ModelFamilies.Write(UQEngine.Models.ModelFamilies.Gemma3, path, seed: 4);
        using var model = LlamaModel.Load(path);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [0, 1, 3], EarlyExit = true });
        int[] tokens = model.Vocabulary.Tokenize("the sky is blue today and the rain falls", addSpecial: true);
        using var batch = new LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: false);
        context.Decode(batch);
        var full = Enumerable.Range(0, tokens.Length).Select(i => context.GetLayerHiddenState(1, i).ToArray()).ToList();
        Assert.NotEqual(full[0], context.GetLayerHiddenState(3, 0).ToArray());
        context.ClearCache();
        Assert.True(context.DecodeThroughLayer(batch, 1));
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(full[i], context.GetLayerHiddenState(1, i).ToArray());
        // Layer 3 was never reached: its rows are refused, not handed out from the decode before.
        Assert.Contains("not computed", Assert.Throws<InvalidOperationException>(() => context.GetLayerHiddenState(3, 0)).Message);
        // Layer 0 is the scaled embedding ("inp_scaled" replaced the "embd" rows): row of the token times sqrt(width).
        var file = UQEngine.Gguf.GgufFile.Read(path);
        var embedding = file.ReadTensorAsSingles(file.GetTensor("token_embd.weight"));
        int d = model.Facts.EmbeddingSize;
        var layer0 = context.GetLayerHiddenState(0, 2);
        for (int k = 0; k < d; k++) Assert.Equal(embedding[tokens[2] * d + k] * MathF.Sqrt(d), layer0[k], 1e-3f);
    }
}
