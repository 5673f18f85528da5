using UQEngine.Inference;

namespace UQEngine.Tests.Sampling;

/// <summary>The prefix-sharing relevance pass against n + 1 full re-encodings, on the synthetic model.</summary>
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
        Assert.True(UQEngine.Uncertainty.Sampling.Similarity.EmbeddingSimilarity.Cosine(expected, actual, UQEngine.Uncertainty.Sampling.Similarity.CosineMapping.ClampNegative) > 1 - 1e-6, $"{what}: cosine");
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
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512, HiddenLayers = [1], MaxSequences = 16 });
            using var encoder = new AnswerEncoder(context, layer: 1);
            var shared = encoder.Encode(prompt, answers, ablations: true);
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
