using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.Tests.Inference;

/// <summary>The LoRA query reuses the answer's cells and leaves the base model's cache as it found it.</summary>
[Trait("Category", "Integration")]
public sealed class LoraQueryTests
{
    private const string Question = "Hello world, the";

    /// <summary>A random adapter for the synthetic model carrying the query metadata (base SHA-256 as given).</summary>
    internal static string WriteQueryAdapter(LlamaModel model, string name, string? baseSha256 = null)
    {
        string suffix = LoraQuery.QuerySuffix(model, "Is it right?");
        int[] invocation = model.Vocabulary.Tokenize(suffix, addSpecial: false, parseSpecial: true);
        string plain = LoraAdapterTests.WriteRandomAdapter(TestModels.SyntheticPath, name + ".plain.gguf", std: 0.3f);
        var source = GgufFile.Read(plain);
        var matrices = source.Tensors.Where(t => t.Name.EndsWith(LoraAdapterFile.LoraASuffix, StringComparison.Ordinal)).Select(a =>
        {
            string baseName = a.Name[..^LoraAdapterFile.LoraASuffix.Length];
            return new LoraMatrix(baseName, (int)a.Dimensions[1], source.ReadTensorAsSingles(a), source.ReadTensorAsSingles(source.GetTensor(baseName + LoraAdapterFile.LoraBSuffix)));
        }).ToList();
        string path = TestModels.TempFile(name);
        LoraAdapterFile.Write(path, GgufFile.Read(TestModels.SyntheticPath), 8, matrices, invocation,
        [
            new(LoraQuery.BaseSha256Key, GgufValue.FromString(baseSha256 ?? ModelFiles.Sha256(TestModels.SyntheticPath))),
            new(LoraQuery.BaseFileKey, GgufValue.FromString("synthetic.gguf")),
            new(LoraQuery.SuffixKey, GgufValue.FromString(suffix)),
            new(LoraQuery.YesTokenKey, GgufValue.FromUInt32(5)),
            new(LoraQuery.NoTokenKey, GgufValue.FromUInt32(6)),
            new(LoraQuery.PlattAKey, GgufValue.FromFloat32(1)),
            new(LoraQuery.PlattBKey, GgufValue.FromFloat32(0)),
        ]);
        return path;
    }

    private static float[] NextLogits(LlamaContext context, int token, int position)
    {
        using var batch = new LlamaBatchBuffer(1);
        batch.Add(token, position, 0, wantOutput: true);
        context.Decode(batch);
        return context.GetLogits(0).ToArray();
    }

    [Fact]
    public void The_query_reuses_the_answer_cells_and_leaves_them_as_the_base_model_wrote_them()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        using var generator = new Generator(context);
        using var query = LoraQuery.Load(model, WriteQueryAdapter(model, "query-lora.gguf"));
        string prompt = ChatTemplate.Format(model, [ChatMessage.User(Question)]);
        var options = new GenerationOptions { MaxTokens = 4 };
        const int nextToken = 7;

        // Without the query: the answer, then one more token read by the base model.
        var plain = generator.Generate(prompt, options);
        int position = plain.Cache!.PromptLength + plain.Cache.DecodedTokens.Length;
        float[] expected = NextLogits(context, nextToken, position);

        // With the query in between: same answer, the query (adapter on, then off, its cells removed), the same token.
        var answer = generator.Generate(prompt, options);
        Assert.Equal(plain.Text, answer.Text);
        var reading = query.Ask(generator, prompt, answer);
        Assert.True(reading.ReusedCache);
        Assert.Equal(query.SuffixTokens.Count, reading.QueryTokens);
        Assert.Null(context.Adapter);
        Assert.Equal(position - 1, context.LastPosition(0));
        float[] after = NextLogits(context, nextToken, position);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), after.Select(BitConverter.SingleToInt32Bits));

        // The same query after the same tokens decoded afresh gives the same margin (up to batch-vs-step rounding),
        // and the adapter matters: the base model's margin at that position differs.
        int[] cells = [.. answer.Cache!.PromptTokens, .. answer.Cache.DecodedTokens];
        generator.Prefill(cells);
        var fresh = query.AskAt(context, cells.Length);
        Assert.InRange(Math.Abs(fresh.Logit - reading.Logit), 0, 1e-2);
        float[] baseLogits = LoraAdapterTests.LastLogits(context, [.. cells, .. query.SuffixTokens]);
        double baseMargin = (double)baseLogits[query.YesToken] - baseLogits[query.NoToken];
        Assert.True(Math.Abs(baseMargin - reading.Logit) > 1e-3, $"the adapter did not change the margin ({baseMargin} vs {reading.Logit})");
        Assert.InRange(reading.Confidence, 0, 1);
        Assert.Equal(1 / (1 + Math.Exp(-reading.Logit)), reading.Confidence, 9);
    }

    [Fact]
    public void An_answer_no_longer_in_the_cache_is_decoded_again()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        using var generator = new Generator(context);
        using var query = LoraQuery.Load(model, WriteQueryAdapter(model, "query-lora-stale.gguf"));
        string prompt = ChatTemplate.Format(model, [ChatMessage.User(Question)]);
        var answer = generator.Generate(prompt, new GenerationOptions { MaxTokens = 4 });
        context.ClearCache(); // the cells are gone
        var reading = query.Ask(generator, prompt, answer);
        Assert.False(reading.ReusedCache);
        Assert.True(double.IsFinite(reading.Logit));
        Assert.Null(context.Adapter);
    }

    [Fact]
    public void An_adapter_trained_on_another_base_model_is_refused_naming_both()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        string path = WriteQueryAdapter(model, "query-lora-other.gguf", baseSha256: new string('a', 64));
        var e = Assert.Throws<InferenceException>(() => LoraQuery.Load(model, path));
        Assert.Contains("trained on synthetic.gguf", e.Message);
        Assert.Contains(TestModels.SyntheticPath, e.Message);

        string plain = LoraAdapterTests.WriteRandomAdapter(TestModels.SyntheticPath, "query-lora-plain.gguf");
        var notQuery = Assert.Throws<InferenceException>(() => LoraQuery.Load(model, plain));
        Assert.Contains("is not a LoRA query adapter", notQuery.Message);
    }
}
