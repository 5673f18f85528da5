using UQEngine.Inference;

namespace UQEngine.Tests.Inference;

/// <summary>The prefix-sharing relevance pass against n + 1 full re-encodings, on the synthetic model.</summary>
[Trait("Category", "Integration")]
public sealed class AnswerEncoderTests
{
    private static (LlamaModel Model, int[] Prompt, int[][] Answers) Setup()
    {
        var model = LlamaModel.Load(TestModels.SyntheticPath);
        int[] prompt = model.Vocabulary.Tokenize("Question: what is the colour of the sky?\nAnswer:", addSpecial: true);
        int[][] answers =
        [
            model.Vocabulary.Tokenize(" the sky is blue today", addSpecial: false),
            model.Vocabulary.Tokenize(" blue", addSpecial: false),
            model.Vocabulary.Tokenize(" it is grey and the rain falls", addSpecial: false),
        ];
        return (model, prompt, answers);
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        // Exact when both decodes have the same shape; batches of 32+ tokens take another GEMM path in ggml whose
        // float sums run in another order (measured: up to 3e-4 on states of size ~1.6), hence the tolerance.
        double scale = expected.Max(v => Math.Abs(v));
        for (int k = 0; k < expected.Length; k++)
            Assert.True(Math.Abs(expected[k] - actual[k]) <= 1e-3 * Math.Max(1, scale), $"{what}[{k}]: naive {expected[k]}, shared {actual[k]}");
        Assert.True(UQEngine.Methods.Samples.Similarity.EmbeddingSimilarity.Cosine(expected, actual, UQEngine.Methods.Samples.Similarity.CosineMapping.ClampNegative) > 1 - 1e-6, $"{what}: cosine");
    }

    [Theory]
    [InlineData(2, 512)]   // one variant sequence: many small batches
    [InlineData(16, 512)]  // several answers' variants together
    [InlineData(16, 8)]    // batches smaller than one suffix: variants span decodes
    public void Prefix_sharing_gives_the_numbers_of_full_re_encodings(int sequences, int batchSize)
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512, FinalHiddenState = true, MaxSequences = sequences, BatchSize = batchSize });
            using var encoder = new AnswerEncoder(context);
            var shared = encoder.Encode(prompt, answers, ablations: true);
            var naive = encoder.EncodeNaive(prompt, answers, ablations: true);
            Assert.Equal(answers.Length, shared.Count);
            for (int a = 0; a < answers.Length; a++)
            {
                Assert.True(answers[a].Length >= 1);
                AssertClose(naive[a].Embedding, shared[a].Embedding, $"answer {a}");
                Assert.Equal(answers[a].Length, shared[a].Ablations.Length);
                for (int t = 0; t < answers[a].Length; t++)
                    AssertClose(naive[a].Ablations[t], shared[a].Ablations[t], $"answer {a} without token {t}");
            }
            // A one-token answer leaves nothing when its token goes: a zero vector.
            Assert.All(shared[1].Ablations.Length == 1 ? shared[1].Ablations[0] : [0f], v => Assert.Equal(0f, v));
            // Removing a token changes the embedding (the test would pass vacuously if variants equalled the answer).
            Assert.Contains(Enumerable.Range(0, answers[0].Length), t => !shared[0].Ablations[t].SequenceEqual(shared[0].Embedding));
        }
    }

    [Fact]
    public void Layer_input_states_need_no_outputs_and_give_the_numbers_of_full_re_encodings()
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512, HiddenLayers = [1], MaxSequences = 16, EarlyExit = true });
            using var encoder = new AnswerEncoder(context, layer: 1);
            var shared = encoder.Encode(prompt, answers, ablations: true);
            Assert.True(context.EarlyExitChecks[1]); // the pass stopped its graphs at layer 1 (self-check passed)
            var naive = encoder.EncodeNaive(prompt, answers, ablations: true);
            for (int a = 0; a < answers.Length; a++)
            {
                AssertClose(naive[a].Embedding, shared[a].Embedding, $"answer {a}");
                for (int t = 0; t < answers[a].Length; t++)
                    AssertClose(naive[a].Ablations[t], shared[a].Ablations[t], $"answer {a} without token {t}");
            }
            // Independently: the state entering layer 1 of the answer's tokens, averaged by hand.
            context.ClearCache();
            int[] all = [.. prompt, .. answers[0]];
            using var batch = new UQEngine.Native.LlamaBatchBuffer(all.Length);
            for (int i = 0; i < all.Length; i++) batch.Add(all[i], i, 0, wantOutput: i == all.Length - 1);
            context.Decode(batch);
            var expected = new double[context.HiddenSize];
            for (int i = prompt.Length; i < all.Length; i++)
            {
                var h = context.GetLayerHiddenState(1, i);
                for (int k = 0; k < h.Length; k++) expected[k] += h[k] / answers[0].Length;
            }
            AssertClose([.. expected.Select(v => (float)v)], shared[0].Embedding, "mean layer-1 input");
            Assert.Throws<InvalidOperationException>(() => new AnswerEncoder(context, layer: 0)); // not exposed
        }
    }

    [Fact]
    public void The_embedding_is_the_mean_of_the_final_hidden_states_at_the_answer_positions()
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true, MaxSequences = 4 });
            using var encoder = new AnswerEncoder(context);
            var embedding = encoder.Encode(prompt, [answers[0]], ablations: false)[0].Embedding;

            // Independently: decode prompt + answer in one batch and average the states of the answer tokens by hand.
            context.ClearCache();
            int[] all = [.. prompt, .. answers[0]];
            using var batch = new UQEngine.Native.LlamaBatchBuffer(all.Length);
            for (int i = 0; i < all.Length; i++) batch.Add(all[i], i, 0, wantOutput: i >= prompt.Length);
            context.Decode(batch);
            var expected = new double[context.HiddenSize];
            for (int i = prompt.Length; i < all.Length; i++)
            {
                var h = context.GetFinalHiddenState(i);
                for (int k = 0; k < h.Length; k++) expected[k] += h[k] / answers[0].Length;
            }
            AssertClose([.. expected.Select(v => (float)v)], embedding, "mean state");
        }
    }

    [Theory]
    [InlineData(null)] // final hidden states
    [InlineData(1)]    // the input of layer 1 (early exit)
    public void Samples_left_in_the_cache_are_reused_and_give_the_numbers_of_a_fresh_encoding(int? layer)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions
        {
            ContextSize = 512, MaxSequences = 16, FinalHiddenState = layer is null, HiddenLayers = layer is int l ? [l] : [], EarlyExit = true,
        });
        using var generator = new Generator(context);
        using var encoder = new AnswerEncoder(context, layer);
        string promptText = "Question: what is the colour of the sky?\nAnswer:";
        // A stop string trims some samples (their last kept token was never fed back), length ends others.
        var options = new GenerationOptions
        {
            MaxTokens = 9, Stop = [" "], Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 3 },
            CaptureHiddenStates = true, HiddenStateLayer = layer,
        };
        int[] prompt = generator.TokenizePrompt(promptText, options);
        var set = UQEngine.Methods.SampleSet.From(promptText, prompt, generator.Generate(prompt, 6, options, null, default));
        var answers = set.Answers.Answers.Where(a => a.Count > 0).ToList();
        Assert.True(answers.Count >= 3, "the samples should mostly be non-empty");
        Assert.All(answers, a => Assert.NotNull(a.Cache));

        var reused = encoder.Encode(prompt, [.. answers.Select(a => a.TokenIds)], ablations: true, [.. answers.Select(a => a.Cache)]);
        Assert.Equal(answers.Select(a => string.Join(',', a.TokenIds)).Distinct().Count(), encoder.LastReusedAnswers); // distinct ones
        // Another prompt of the same length: the cells hold the wrong context, so nothing is reused.
        int[] otherPrompt = [.. prompt[..^1], prompt[^1] == 5 ? 6 : 5];
        encoder.Encode(otherPrompt, [.. answers.Select(a => a.TokenIds)], ablations: false, [.. answers.Select(a => a.Cache)]);
        Assert.Equal(0, encoder.LastReusedAnswers);
        // The same answers decoded afresh (no cache), and the reference: full re-encodings.
        var fresh = encoder.Encode(prompt, [.. answers.Select(a => a.TokenIds)], ablations: true);
        Assert.Equal(0, encoder.LastReusedAnswers);
        var naive = encoder.EncodeNaive(prompt, [.. answers.Select(a => a.TokenIds)], ablations: true);
        for (int a = 0; a < answers.Count; a++)
        {
            AssertClose(naive[a].Embedding, reused[a].Embedding, $"answer {a}");
            AssertClose(fresh[a].Embedding, reused[a].Embedding, $"answer {a} (fresh)");
            for (int t = 0; t < answers[a].Count; t++)
                AssertClose(naive[a].Ablations[t], reused[a].Ablations[t], $"answer {a} without token {t}");
        }

        // The fresh encoding cleared the cache: the samples' entries are stale now and are not trusted.
        Assert.All(answers, a => Assert.False(a.Cache!.IsCurrent));
        encoder.Encode(prompt, [.. answers.Select(a => a.TokenIds)], ablations: false, [.. answers.Select(a => a.Cache)]);
        Assert.Equal(0, encoder.LastReusedAnswers);
    }

    [Fact]
    public void Samples_filling_every_sequence_are_encoded_afresh()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, MaxSequences = 3, FinalHiddenState = true });
        using var generator = new Generator(context);
        using var encoder = new AnswerEncoder(context);
        var options = new GenerationOptions { MaxTokens = 5, Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 9 }, CaptureHiddenStates = true };
        int[] prompt = generator.TokenizePrompt("Question: what is the colour of the sky?\nAnswer:", options);
        var results = generator.Generate(prompt, 3, options, null, default);
        int[][] answers = [.. results.Select(r => r.Tokens.Select(t => t.TokenId).ToArray())];
        // No sequence is left for the last tokens and the variants: the cache cannot be used, and that is no error.
        var encoded = encoder.Encode(prompt, answers, ablations: true, [.. results.Select(r => r.Cache)]);
        Assert.Equal(0, encoder.LastReusedAnswers);
        var naive = encoder.EncodeNaive(prompt, answers, ablations: true);
        for (int a = 0; a < answers.Length; a++) AssertClose(naive[a].Embedding, encoded[a].Embedding, $"answer {a}");
    }

    [Fact]
    public void Only_touched_sequences_go_stale()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, MaxSequences = 4, FinalHiddenState = true });
        using var generator = new Generator(context);
        var options = new GenerationOptions { MaxTokens = 4, Sampling = new SamplingOptions { Temperature = 1f, Seed = 1 }, CaptureHiddenStates = true };
        var results = generator.Generate(generator.TokenizePrompt("Hello", options), 3, options, null, default);
        Assert.All(results, r => Assert.True(r.Cache!.IsCurrent));
        Assert.Equal(results.Select(r => r.Sequence), results.Select(r => r.Cache!.Sequence));
        // Cells of the prompt and every token fed back: all sampled tokens but the last, unless the end-of-generation
        // token came after it (that needed the last one decoded). One state per step, the end's step included.
        foreach (var r in results)
        {
            bool ended = r.FinishReason == FinishReason.EndOfGeneration;
            Assert.Equal(r.Tokens.Take(ended ? r.Tokens.Count : r.Tokens.Count - 1).Select(t => t.TokenId), r.Cache!.DecodedTokens);
            Assert.Equal(r.Tokens.Count + (ended ? 1 : 0), r.Cache!.States!.Count);
        }

        context.CopySequence(0, 3);               // writes sequence 3 only
        Assert.All(results, r => Assert.True(r.Cache!.IsCurrent));
        context.RemoveTokens(1, 2);               // touches sequence 1
        Assert.True(results[0].Cache!.IsCurrent);
        Assert.False(results[1].Cache!.IsCurrent);
        Assert.True(results[2].Cache!.IsCurrent);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(4);
        batch.Add(results[2].Tokens[^1].TokenId, results[2].PromptTokenCount + results[2].Cache!.DecodedTokens.Length, 2, wantOutput: true);
        context.Decode(batch);                    // a decode into sequence 2 changes it
        Assert.False(results[2].Cache!.IsCurrent);
        Assert.True(results[0].Cache!.IsCurrent);
        context.ClearCache();
        Assert.False(results[0].Cache!.IsCurrent);
    }

    [Fact]
    public void Early_exit_stops_at_the_layer_and_keeps_its_input_exact()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [1], EarlyExit = true });
        int[] tokens = model.Vocabulary.Tokenize("the sky is blue today and the rain falls", addSpecial: true);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: false);
        context.Decode(batch);
        var full = Enumerable.Range(0, tokens.Length).Select(i => context.GetLayerHiddenState(1, i).ToArray()).ToList();
        context.ClearCache();
        Assert.True(context.DecodeThroughLayer(batch, 1)); // the graph stopped at "l_out-0"
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(full[i], context.GetLayerHiddenState(1, i).ToArray());
        // A batch that wants logits cannot stop early; a layer the context does not expose is refused.
        batch.SetOutput(tokens.Length - 1, true);
        Assert.Contains("no output", Assert.Throws<ArgumentException>(() => context.DecodeThroughLayer(batch, 1)).Message);
        batch.SetOutput(tokens.Length - 1, false);
        Assert.Throws<InvalidOperationException>(() => context.DecodeThroughLayer(batch, 0));
        // Without EarlyExit the context has no callback: the decode runs in full and says so.
        using var plain = model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [1] });
        Assert.False(plain.DecodeThroughLayer(batch, 1));
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(full[i], plain.GetLayerHiddenState(1, i).ToArray());
    }

    [Fact]
    public void Final_states_without_the_lm_head_are_the_full_decode_s()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true, EarlyExit = true });
        int[] tokens = model.Vocabulary.Tokenize("the sky is blue today and the rain falls", addSpecial: true);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: true);
        context.Decode(batch);
        var full = Enumerable.Range(0, tokens.Length).Select(i => context.GetFinalHiddenState(i).ToArray()).ToList();
        var logits = context.GetLogits(tokens.Length - 1).ToArray();
        context.ClearCache();
        Assert.True(context.DecodeSkippingLogits(batch)); // the graph stopped after the output norm
        for (int i = 0; i < tokens.Length; i++) Assert.Equal(full[i], context.GetFinalHiddenState(i).ToArray());
        // No LM head ran: the logits are refused, not handed out stale; the next full decode has them again.
        Assert.Contains("LM head", Assert.Throws<InvalidOperationException>(() => context.GetLogits(0)).Message);
        context.ClearCache();
        context.Decode(batch);
        Assert.Equal(logits, context.GetLogits(tokens.Length - 1).ToArray());
        // Every layer ran, so the KV cells are whole: a token after the skipped batch sees what it sees after a full one.
        context.ClearCache();
        context.DecodeSkippingLogits(batch);
        using var next = new UQEngine.Native.LlamaBatchBuffer(1);
        next.Add(tokens[0], tokens.Length, 0, wantOutput: true);
        context.Decode(next);
        var afterSkipped = context.GetLogits(0).ToArray();
        context.ClearCache();
        context.Decode(batch);
        context.Decode(next);
        Assert.Equal(context.GetLogits(0).ToArray(), afterSkipped);
        // Without EarlyExit the decode runs in full and says so; without final states it is refused.
        using var plain = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true });
        Assert.False(plain.DecodeSkippingLogits(batch));
        Assert.Equal(logits, plain.GetLogits(tokens.Length - 1).ToArray());
        using var noStates = model.CreateContext(new ContextOptions { ContextSize = 256, EarlyExit = true });
        Assert.Throws<InvalidOperationException>(() => noStates.DecodeSkippingLogits(batch));
    }

    /// <summary>The final-state encoder checks the LM-head skip once, then uses it, with the naive numbers.</summary>
    [Fact]
    public void The_final_state_encoder_skips_the_lm_head_after_its_self_check()
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512, FinalHiddenState = true, EarlyExit = true, MaxSequences = 16 });
            using var encoder = new AnswerEncoder(context);
            var encoded = encoder.Encode(prompt, answers, ablations: true);
            Assert.True(context.EarlyExitChecks[model.Facts.LayerCount]);
            using var reference = model.CreateContext(new ContextOptions { ContextSize = 512, FinalHiddenState = true, MaxSequences = 16 });
            using var full = new AnswerEncoder(reference);
            var expected = full.Encode(prompt, answers, ablations: true);
            Assert.Empty(reference.EarlyExitChecks);
            for (int a = 0; a < answers.Length; a++)
            {
                AssertClose(expected[a].Embedding, encoded[a].Embedding, $"answer {a}");
                for (int t = 0; t < answers[a].Length; t++) AssertClose(expected[a].Ablations[t], encoded[a].Ablations[t], $"answer {a} without token {t}");
            }
        }
    }

    [Fact]
    public void Identical_answers_are_encoded_once_with_the_same_numbers()
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512, FinalHiddenState = true, MaxSequences = 16 });
            using var encoder = new AnswerEncoder(context);
            var twice = encoder.Encode(prompt, [answers[0], answers[2], answers[0]], ablations: true);
            var once = encoder.Encode(prompt, [answers[0], answers[2]], ablations: true);
            Assert.Same(twice[0], twice[2]);
            AssertClose(once[0].Embedding, twice[2].Embedding, "the repeated answer");
            AssertClose(once[1].Embedding, twice[1].Embedding, "the other answer");
        }
    }

    [Fact]
    public void Bad_setups_get_clear_errors()
    {
        var (model, prompt, answers) = Setup();
        using (model)
        {
            using var plain = model.CreateContext(new ContextOptions { ContextSize = 128 });
            Assert.Contains("FinalHiddenState", Assert.Throws<InvalidOperationException>(() => new AnswerEncoder(plain)).Message);
            using var one = model.CreateContext(new ContextOptions { ContextSize = 128, FinalHiddenState = true });
            using var encoder = new AnswerEncoder(one);
            Assert.Contains("2 sequences", Assert.Throws<InvalidOperationException>(() => encoder.Encode(prompt, answers, ablations: true)).Message);
            Assert.Single(encoder.Encode(prompt, [answers[0]], ablations: false)); // without ablations one sequence is enough
            Assert.Throws<ArgumentException>(() => encoder.Encode(prompt, [[-3]], ablations: false));
            Assert.Throws<ArgumentException>(() => encoder.Encode([], answers, ablations: false));
        }
    }
}
