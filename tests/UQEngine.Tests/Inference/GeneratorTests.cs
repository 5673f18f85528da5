using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Kernels;

namespace UQEngine.Tests.Inference;

/// <summary>End-to-end: the real llama.cpp runs the synthetic model through the managed host.</summary>
[Trait("Category", "Integration")]
public sealed class GeneratorTests
{
    private const string Prompt = "Hello world, the";

    private static LlamaModel Load() => LlamaModel.Load(TestModels.SyntheticPath);

    [Fact]
    public void Model_facts_come_from_llama_cpp_and_match_what_the_writer_wrote()
    {
        using var model = Load();
        var facts = model.Facts;
        var gguf = GgufModelFacts.Read(TestModels.SyntheticPath);
        Assert.Equal("llama", facts.Architecture);
        Assert.Equal((int)gguf.LayerCount!, facts.LayerCount);
        Assert.Equal((int)gguf.EmbeddingLength!, facts.EmbeddingSize);
        Assert.Equal((int)gguf.VocabularySize!, facts.VocabularySize);
        Assert.Equal(gguf.ParameterCount, facts.ParameterCount);
        Assert.True(facts.HasChatTemplate);
        Assert.NotNull(model.ChatTemplate);
    }

    [Fact]
    public void Tokenize_then_detokenize_gives_the_text_back_and_merges_apply()
    {
        using var model = Load();
        int[] tokens = model.Vocabulary.Tokenize("Hello world", addSpecial: false);
        Assert.Equal(2, tokens.Length); // "Hello", " world": BPE merges ran
        Assert.Equal("Hello world", model.Vocabulary.Detokenize(tokens));
        Assert.Equal("héllo ✓", model.Vocabulary.Detokenize(model.Vocabulary.Tokenize("héllo ✓", addSpecial: false)));
    }

    [Fact]
    public void Streaming_decoder_holds_back_split_utf8_characters()
    {
        using var model = Load();
        var vocab = model.Vocabulary;
        int[] tokens = vocab.Tokenize("✓✓", addSpecial: false); // 3-byte characters, byte-level tokens
        Assert.True(tokens.Length >= 2);
        var decoder = new TokenTextDecoder(vocab);
        string text = string.Concat(tokens.Select(decoder.Append)) + decoder.Flush();
        Assert.Equal("✓✓", text);
        Assert.DoesNotContain('\uFFFD', text);
    }

    [Fact]
    public void Greedy_generation_is_deterministic_and_its_statistics_match_a_double_precision_softmax()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        var checkedSteps = 0;
        var options = new GenerationOptions
        {
            MaxTokens = 12,
            TopAlternatives = 3,
            OnStep = (in DecodeStep step) =>
            {
                // Independent reference over the very span the kernel read.
                var logits = step.Logits;
                double max = double.NegativeInfinity;
                foreach (float x in logits) max = Math.Max(max, x);
                double sum = 0;
                foreach (float x in logits) sum += Math.Exp(x - max);
                double lse = max + Math.Log(sum);
                double entropy = 0;
                foreach (float x in logits) { double lp = x - lse; entropy -= Math.Exp(lp) * lp; }
                Assert.Equal(logits[step.TokenId] - lse, step.Statistics.ChosenLogProbability, 1e-4);
                Assert.Equal(entropy, step.Statistics.Entropy, 1e-3);
                Assert.Equal(0, step.Statistics.ChosenRank); // greedy picks the arg-max
                checkedSteps++;
            },
        };
        var first = generator.Generate(Prompt, options);
        var second = generator.Generate(Prompt, options with { OnStep = null });

        Assert.True(first.Tokens.Count > 0);
        Assert.Equal(first.Tokens.Select(t => t.TokenId), second.Tokens.Select(t => t.TokenId));
        Assert.Equal(first.Text, second.Text);
        Assert.True(checkedSteps >= first.Tokens.Count);
        Assert.All(first.Tokens, t =>
        {
            Assert.Equal(3, t.Alternatives.Count);
            Assert.Equal(t.TokenId, t.Alternatives[0].TokenId);
            Assert.True(t.Alternatives[0].LogProbability >= t.Alternatives[1].LogProbability);
        });
        double sumLogProb = first.Tokens.Sum(t => (double)t.LogProbability);
        if (first.FinishReason == FinishReason.Length) Assert.Equal(sumLogProb, first.Uncertainty.SequenceLogProbability, 1e-4);
        Assert.InRange(first.Uncertainty.SequenceProbability, 0, 1);
        Assert.True(first.Uncertainty.Perplexity >= 1);
    }

    [Fact]
    public void Samples_decoded_together_share_the_prompt_and_match_single_sequence_decoding()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 512, MaxSequences = 3 });
        using var generator = new Generator(context);
        var greedy = new GenerationOptions { MaxTokens = 10 };
        var single = generator.Generate(Prompt, greedy);
        var batch = generator.Sample(Prompt, 3, greedy);
        Assert.Equal(3, batch.Count);
        foreach (var r in batch)
        {
            Assert.Equal(single.Tokens.Select(t => t.TokenId), r.Tokens.Select(t => t.TokenId));
            Assert.Equal(single.Uncertainty.SequenceLogProbability, r.Uncertainty.SequenceLogProbability, 1e-3);
        }

        var hot = new GenerationOptions { MaxTokens = 10, Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 3 } };
        var sampled = generator.Sample(Prompt, 3, hot);
        var again = generator.Sample(Prompt, 3, hot);
        Assert.Equal(sampled.Select(s => s.Text), again.Select(s => s.Text)); // seeded: reproducible
        Assert.True(sampled.Select(s => s.Text).Distinct().Count() > 1, "three samples at temperature 1.5 should not all agree on a random model");
    }

    [Fact]
    public void Teacher_forced_scores_reproduce_the_probabilities_seen_during_generation()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        var options = new GenerationOptions { MaxTokens = 8 };
        var generated = generator.Generate(Prompt, options);
        int[] prompt = generator.TokenizePrompt(Prompt, options);
        var scored = generator.Score(prompt, generated.Tokens.Select(t => t.TokenId).ToArray(), options);
        Assert.Equal(generated.Tokens.Count, scored.Tokens.Count);
        for (int i = 0; i < scored.Tokens.Count; i++)
        {
            Assert.Equal(generated.Tokens[i].LogProbability, scored.Tokens[i].LogProbability, 1e-3);
            Assert.Equal(generated.Tokens[i].Entropy, scored.Tokens[i].Entropy, 1e-3);
        }
        Assert.Equal(generated.Uncertainty.SequenceLogProbability, scored.Uncertainty.SequenceLogProbability, 1e-2);
    }

    [Fact]
    public void Teacher_forcing_spans_several_batches_when_the_input_is_longer_than_one()
    {
        using var model = Load();
        using var small = model.CreateContext(new ContextOptions { ContextSize = 256, BatchSize = 8 });
        using var large = model.CreateContext(new ContextOptions { ContextSize = 256, BatchSize = 256 });
        using var a = new Generator(small);
        using var b = new Generator(large);
        string answer = " uncertainty is the measure of what a model does not know about the world";
        var x = a.Score(Prompt, answer);
        var y = b.Score(Prompt, answer);
        Assert.Equal(x.Tokens.Count, y.Tokens.Count);
        Assert.True(x.Tokens.Count > 8);
        Assert.Equal(y.Uncertainty.SequenceLogProbability, x.Uncertainty.SequenceLogProbability, 1e-2);
        Assert.Equal(answer, string.Concat(x.Tokens.Select(t => t.Text)));
    }

    [Fact]
    public async Task Streaming_yields_the_same_tokens_as_generate_and_stops_when_the_consumer_stops()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        var options = new GenerationOptions { MaxTokens = 10 };
        var expected = generator.Generate(Prompt, options).Tokens.Select(t => t.TokenId).ToList();
        var streamed = new List<int>();
        await foreach (var token in generator.StreamAsync(Prompt, options)) streamed.Add(token.TokenId);
        Assert.Equal(expected, streamed);

        int taken = 0;
        await foreach (var _ in generator.StreamAsync(Prompt, options with { MaxTokens = 100 }))
            if (++taken == 2) break;
        Assert.Equal(2, taken);
        // The context is free again: a new generation on it works.
        Assert.Equal(expected, generator.Generate(Prompt, options).Tokens.Select(t => t.TokenId));
    }

    [Fact]
    public void Cancellation_stops_generation_with_OperationCanceledException()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var options = new GenerationOptions { MaxTokens = 200, OnStep = (in DecodeStep _) => { if (++seen == 3) cts.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(Prompt, options, cts.Token));
        Assert.Equal(3, seen);
    }

    [Fact]
    public void Stop_text_ends_the_sequence_and_is_cut_from_the_text()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        var free = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 20 });
        Assert.True(free.Text.Length >= 4);
        string stop = free.Text.Substring(2, 2);
        var stopped = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 20, Stop = [stop] });
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public void A_full_context_ends_generation_cleanly_and_an_overlong_prompt_is_refused()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 32 });
        using var generator = new Generator(context);
        Assert.Equal(256, context.ContextSize); // llama.cpp pads small contexts up to 256 cells
        // On this seed's synthetic model, "The cat" runs on without an end-of-text token until the cache is full.
        var result = generator.Generate("The cat", new GenerationOptions { MaxTokens = 1000 });
        Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        Assert.True(result.PromptTokenCount + result.Tokens.Count <= context.ContextSize);
        Assert.True(result.PromptTokenCount + result.Tokens.Count >= context.ContextSize - 4);
        string longPrompt = string.Concat(Enumerable.Repeat("Hello world ", 200));
        var e = Assert.Throws<InferenceException>(() => generator.Generate(longPrompt));
        Assert.Contains("context holds 256", e.Message);
    }

    [Fact]
    public void Final_hidden_states_are_exposed_per_step_with_the_embedding_width()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true });
        using var generator = new Generator(context);
        var result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 4, CaptureHiddenStates = true });
        Assert.NotNull(result.HiddenStates);
        Assert.True(result.HiddenStates!.Count >= result.Tokens.Count);
        Assert.All(result.HiddenStates, h => Assert.Equal(model.Facts.EmbeddingSize, h.Length));
        Assert.All(result.HiddenStates, h => Assert.Contains(h, v => v != 0 && float.IsFinite(v)));
        Assert.NotEqual(result.HiddenStates[0], result.HiddenStates[^1]);
    }

    [Fact]
    public void Layer_zero_hidden_state_is_the_token_embedding_row_written_into_the_file()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [0, 1] });
        var file = GgufFile.Read(TestModels.SyntheticPath);
        float[] embeddings = file.ReadTensorAsSingles(file.GetTensor("token_embd.weight"));
        int width = model.Facts.EmbeddingSize;
        int[] tokens = model.Vocabulary.Tokenize("Hello world", addSpecial: false);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(16);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: i == tokens.Length - 1);
        context.Decode(batch);
        for (int i = 0; i < tokens.Length; i++)
        {
            var state = context.GetLayerHiddenState(0, i);
            Assert.Equal(embeddings.AsSpan(tokens[i] * width, width).ToArray(), state.ToArray());
            Assert.NotEqual(state.ToArray(), context.GetLayerHiddenState(1, i).ToArray()); // layer 0 changed it
        }
        Assert.Throws<InvalidOperationException>(() => context.GetLayerHiddenState(1 + 1, 0));
    }

    [Fact]
    public void Invalid_requests_get_clear_errors_and_do_not_reach_llama_cpp()
    {
        using var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 64, MaxSequences = 2 });
        using var generator = new Generator(context);
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Sample(Prompt, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(Prompt, new GenerationOptions { MaxTokens = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(Prompt, new GenerationOptions { Sampling = new SamplingOptions { TopP = 0 } }));
        Assert.Throws<ArgumentException>(() => generator.Generate([99999], 1, new GenerationOptions(), null, default));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.GetLogits(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.CopySequence(0, 7));
        Assert.Throws<InvalidOperationException>(() => generator.Generate(Prompt, new GenerationOptions { CaptureHiddenStates = true }));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateContext(new ContextOptions { HiddenLayers = [5] }));
    }

    [Fact]
    public void Chat_template_formats_messages_with_the_models_ChatML_template()
    {
        using var model = Load();
        string text = ChatTemplate.Format(model, [ChatMessage.System("Be brief."), ChatMessage.User("Hi")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
        int[] tokens = model.Vocabulary.Tokenize(text, addSpecial: false, parseSpecial: true);
        Assert.Contains(model.Vocabulary.Tokenize("<|im_start|>", false, true)[0], tokens);
    }

    [Fact]
    public void A_context_keeps_its_model_alive_after_the_model_is_disposed()
    {
        var model = Load();
        using var context = model.CreateContext(new ContextOptions { ContextSize = 128 });
        using var generator = new Generator(context);
        var before = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 4 });
        model.Dispose(); // the native model is freed only when the context lets go of it
        context.ClearCache();
        using var batch = new UQEngine.Native.LlamaBatchBuffer(4);
        batch.Add(before.Tokens[0].TokenId, 0, 0, true);
        context.Decode(batch);
        Assert.Equal(model.Facts.VocabularySize, context.GetLogits(0).Length);
    }

    [Fact]
    public void Bad_model_files_are_rejected_by_the_managed_reader_before_llama_cpp()
    {
        string notGguf = TestModels.TempFile("not-a-model.gguf");
        File.WriteAllText(notGguf, "PK this is a zip file, not a model");
        var e = Assert.Throws<GgufFormatException>(() => LlamaModel.Load(notGguf));
        Assert.Contains(notGguf, e.Message);

        string truncated = TestModels.TempFile("truncated.gguf");
        byte[] bytes = File.ReadAllBytes(TestModels.SyntheticPath);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.Throws<GgufFormatException>(() => LlamaModel.Load(truncated));

        Assert.Throws<FileNotFoundException>(() => LlamaModel.Load(TestModels.TempFile("missing.gguf")));
        Assert.Throws<FileNotFoundException>(() => LlamaModel.Load(Path.GetTempPath()));
    }

    [Fact]
    public void Many_contexts_and_generators_can_be_created_and_disposed_without_leaking_handles()
    {
        using var model = Load();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        for (int i = 0; i < 50; i++)
        {
            using var context = model.CreateContext(new ContextOptions { ContextSize = 64 });
            using var generator = new Generator(context);
            generator.Generate(Prompt, new GenerationOptions { MaxTokens = 2 });
        }
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 8 << 20, $"managed heap grew by {(after - before) >> 10} KiB over 50 contexts");
    }
}

/// <summary>The generated large vocabulary used by decode benchmarks is a real BPE vocabulary llama.cpp accepts.</summary>
[Trait("Category", "Integration")]
public sealed class SyntheticVocabularyTests
{
    [Fact]
    public void A_generated_vocabulary_has_the_requested_size_and_llama_cpp_applies_its_merges()
    {
        var vocabulary = UQEngine.Models.ByteLevelBpeVocabulary.CreateSyntheticEnglish(4000);
        Assert.Equal(4000, vocabulary.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => UQEngine.Models.ByteLevelBpeVocabulary.CreateSyntheticEnglish(100));

        string path = TestModels.TempFile("vocab4000.gguf");
        UQEngine.Models.SyntheticLlamaModel.Write(new UQEngine.Models.SyntheticLlamaOptions { OutputPath = path, VocabularySize = 4000 });
        using var model = LlamaModel.Load(path);
        Assert.Equal(4000, model.Facts.VocabularySize);
        int[] tokens = model.Vocabulary.Tokenize("zebra quokka", addSpecial: false);
        Assert.True(tokens.Length < "zebra quokka".Length, "generated merges should join letters");
        Assert.Equal("zebra quokka", model.Vocabulary.Detokenize(tokens));
    }
}

[Trait("Category", "Integration")]
public sealed class GeneratorCacheReuseTests
{
    [Fact]
    public void Samples_from_an_earlier_call_do_not_keep_occupying_the_cache()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, MaxSequences = 4 });
        using var generator = new Generator(context);
        generator.Sample("The cat", 4, new GenerationOptions { MaxTokens = 20 });
        Assert.True(context.LastPosition(3) > 0);
        generator.Generate("The cat", new GenerationOptions { MaxTokens = 2 });
        for (int s = 1; s < 4; s++) Assert.Equal(-1, context.LastPosition(s));
    }
}
