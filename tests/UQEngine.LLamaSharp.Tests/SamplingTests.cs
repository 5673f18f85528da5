using System.Text.Json;
using LLama.Batched;
using Microsoft.Extensions.AI;
using LLama;
using LLama.Common;
using UQEngine.Chat;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;
using UQEngine.Uncertainty;

namespace UQEngine.LLamaSharp.Tests;

/// <summary>K samples on LLamaSharp's BatchedExecutor, the catalog's methods over them, and the IChatClient decorator.</summary>
[Trait("Category", "Integration")]
[Collection(DemoCollection.Name)]
public sealed class SamplingTests(DemoWeights demo, ITestOutputHelper output)
{
    private const string Prompt = "Stetaix was born in";

    [Fact]
    public async Task Forked_samples_record_what_uqengine_scores_for_the_same_tokens()
    {
        using var executor = new BatchedExecutor(demo.Weights, DemoWeights.Parameters(sequences: 4));
        var samples = await BatchedSampler.SampleAsync(executor, Prompt, new BatchedSampleOptions { Samples = 4, MaxTokens = 8, Temperature = 1.5f, Seed = 7 });
        Assert.Equal(4, samples.Count);
        Assert.True(samples.Select(s => s.Text).Distinct().Count() > 1, "temperature 1.5 should give differing samples: " + string.Join(" | ", samples.Select(s => s.Text)));
        double worst = 0;
        foreach (var sample in samples)
        {
            // Every step of a fork reads its own logits: UQEngine scoring the sample's tokens teacher-forced (own
            // process, own llama.cpp, no KV sharing) gives the same log p and entropy at every step.
            var ids = sample.Tokens.Select(t => t.TokenId).ToArray();
            using var context = demo.Context();
            var promptTokens = context.Tokenize(Prompt, addBos: true, special: true);
            var rescored = TeacherForcedScorer.Score(context, promptTokens, [.. ids.Select(i => (LLama.Native.LLamaToken)i)]);
            for (int i = 0; i < ids.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(rescored.Tokens[i].LogProbability - sample.Tokens[i].LogProbability));
                Assert.Equal(rescored.Tokens[i].LogProbability, sample.Tokens[i].LogProbability, 1e-4);
                Assert.Equal(rescored.Tokens[i].Entropy, sample.Tokens[i].Entropy, 1e-4);
            }
            Assert.Equal(sample.Tokens.Sum(t => (double)t.LogProbability), sample.Uncertainty.SequenceLogProbability, 1e-9);
        }
        // The same seed gives the same samples (each sample's pipeline is seeded Seed + i).
        var again = await BatchedSampler.SampleAsync(executor, Prompt, new BatchedSampleOptions { Samples = 4, MaxTokens = 8, Temperature = 1.5f, Seed = 7 });
        Assert.Equal(samples.Select(s => s.Text), again.Select(s => s.Text));
        output.WriteLine($"{string.Join(" | ", samples.Select(s => s.Text))}; forked vs single-sequence log p max |diff| {worst:E2}");
    }

    /// <summary>
    /// SAR and semantic entropy of UQEngine's own samples (its CLI, `generate --samples`): the adapter, fed those
    /// texts and log-probabilities, gives what the formulas give from the raw numbers, computed here by hand.
    /// </summary>
    [Fact]
    public void Sar_and_semantic_entropy_fill_the_statistics_from_the_samples_numbers()
    {
        using var json = Repo.Cli("generate", "The pet of Stetaix is a", "-m", Repo.DemoModel, "--raw", "--json", "-n", "8", "--samples", "5", "--temperature", "1.5", "--top-logprobs", "0", "--stop", ".");
        var results = json.RootElement.GetProperty("results").EnumerateArray().Select(FromJson).ToList();
        var values = SampleConsistency.Estimate(Prompt, results, ["sar", "semantic_entropy", "sentence_sar"]);

        var settings = new SampleSettings();
        // By hand: the tokens that reach into the (stop-cut) text, their log p, and ROUGE-L between the texts.
        var kept = results.Select(r => KeptTokens(r)).ToList();
        var texts = kept.Select(k => string.Concat(k.Select(t => t.Text))).ToList();
        Assert.Equal(results.Select(r => r.Text), texts);
        Assert.True(texts.Distinct().Count() > 1, "the check needs differing samples (more than one meaning class): " + string.Join(" | ", texts));
        var rouge = new RougeLSimilarity();
        var matrix = SimilarityMatrix.Build(rouge, texts);
        double[] likelihoods = [.. kept.Select((k, i) => k.Count > 0 ? k.Sum(t => (double)t.LogProbability) : results[i].Tokens[0].LogProbability)];
        double se = SemanticEntropy.Compute(likelihoods, SemanticClusters.Greedy(matrix, settings.ClusterThreshold), settings.ClassProbability, settings.EntropyEstimator);
        double sentenceSar = Sar.SentenceSar(likelihoods, matrix, settings.SarTemperature);
        var tokenSimilarities = kept.Select(k =>
        {
            var pieces = k.Select(t => t.Text).ToArray();
            var (reference, ablated) = TokenAblation.Texts(string.Concat(pieces), TokenAblation.SpansFromPieces(pieces));
            var s = ablated.Select(a => rouge.Score(reference, a)).ToArray();
            Sar.ApplyTokenConventions(s, []);
            return s;
        }).ToList();
        double sar = Sar.Compute([.. kept.Select(k => k.Select(t => (double)t.LogProbability).ToArray())], tokenSimilarities, matrix, settings.SarTemperature);

        output.WriteLine($"samples: {string.Join(" | ", texts)}; SE {values["semantic_entropy"].Uncertainty} vs {se}; SAR {values["sar"].Uncertainty} vs {sar}");
        Assert.Equal(se, values["semantic_entropy"].Uncertainty!.Value, 1e-12);
        Assert.Equal(sentenceSar, values["sentence_sar"].Uncertainty!.Value, 1e-12);
        Assert.Equal(sar, values["sar"].Uncertainty!.Value, 1e-12);
        Assert.Contains("sar", SampleConsistency.Methods);
        Assert.Contains("semantic_entropy", SampleConsistency.Methods);
        var error = Assert.Throws<ArgumentException>(() => SampleConsistency.Estimate(Prompt, results, ["token_sar"]));
        Assert.Contains("token_sar", error.Message);
    }

    [Fact]
    public async Task Final_hidden_state_similarity_runs_the_methods_on_llamasharps_states()
    {
        using var executor = new BatchedExecutor(demo.Weights, DemoWeights.Parameters(sequences: 4));
        var samples = await BatchedSampler.SampleAsync(executor, "The pet of Stetaix is a", new BatchedSampleOptions { Samples = 4, MaxTokens = 6, Temperature = 1.5f, Stop = ["."] });
        var parameters = DemoWeights.Parameters();
        parameters.Embeddings = true;
        parameters.PoolingType = LLama.Native.LLamaPoolingType.None;
        using var context = demo.Weights.CreateContext(parameters);
        var similarity = new FinalHiddenStateSimilarity(context, "The pet of Stetaix is a");
        var set = SampleSet.From("The pet of Stetaix is a", [], samples);
        var matrix = similarity.Compute(set.Answers, tokenSimilarity: false).Matrix;
        for (int i = 0; i < samples.Count; i++)
            for (int j = 0; j < samples.Count; j++)
            {
                Assert.Equal(matrix[i, j], matrix[j, i], 1e-12);
                Assert.InRange(matrix[i, j], 0, 1 + 1e-6);
                // Same tokens, same states: similarity 1. Different answers are distinguishable.
                if (set.Answers.Answers[i].TokenIds.SequenceEqual(set.Answers.Answers[j].TokenIds)) Assert.Equal(1, matrix[i, j], 1e-5);
                else Assert.True(matrix[i, j] < 1 - 1e-4, $"'{samples[i].Text}' vs '{samples[j].Text}': {matrix[i, j]}");
            }
        var values = SampleConsistency.Estimate("The pet of Stetaix is a", samples, ["semantic_entropy", "eigv_laplacian"], similarity: similarity);
        Assert.All(values.Values, v => Assert.True(v.Uncertainty is double u && double.IsFinite(u), v.Error));
        // An embeddings context still computes logits: the scores equal a plain context's.
        using var plain = demo.Context();
        Assert.Equal(TeacherForcedScorer.Score(plain, "Stetaix was born in", " June").Uncertainty, TeacherForcedScorer.Score(context, "Stetaix was born in", " June").Uncertainty);
        output.WriteLine($"{string.Join(" | ", samples.Select(s => s.Text))}: SE {values["semantic_entropy"].Uncertainty}, EigV {values["eigv_laplacian"].Uncertainty}");
    }

    [Fact]
    public async Task LLamaSharps_chat_client_returns_the_same_ChatUncertainty_as_uqengines()
    {
        var executor = new StatelessExecutor(demo.Weights, DemoWeights.Parameters());
        using var client = executor.AsUncertaintyChatClient(topAlternatives: 2);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 6, Seed = 1 };
        var response = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "In which month was Stetaix born?")], options);
        var uncertainty = response.GetUncertainty();
        Assert.NotNull(uncertainty);
        Assert.InRange(uncertainty.Tokens.Count, 1, 6);
        Assert.Equal(uncertainty.SequenceProbability, (double)response.AdditionalProperties!["sequence_probability"]!); // UqEngineChatClient's plain keys too
        Assert.Equal(uncertainty.Tokens.Sum(t => (double)t.LogProbability), uncertainty.Scores.SequenceLogProbability, 1e-9);
        Assert.All(uncertainty.Tokens, t => Assert.InRange(t.Alternatives.Count, 1, 2));
        Assert.Equal(string.Concat(uncertainty.Tokens.Select(t => t.Text)), response.Text); // the recording is the answer's tokens
        Assert.Equal(uncertainty.Tokens.Count == 6 ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);

        // Streaming: per-token updates carry their token, the last update the whole ChatUncertainty.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "In which month was Stetaix born?")], options))
            updates.Add(update);
        var streamed = updates[^1].GetUncertainty();
        Assert.NotNull(streamed);
        Assert.Equal(uncertainty.Tokens.Select(t => t.TokenId), streamed.Tokens.Select(t => t.TokenId)); // greedy: the same answer twice
        Assert.Equal(uncertainty.Scores, streamed.Scores);
        Assert.Contains(updates, u => u.GetToken() is not null);
        output.WriteLine($"'{response.Text}' P = {uncertainty.SequenceProbability:F4}, {uncertainty.FinishReason}");
    }

    private static List<GeneratedToken> KeptTokens(GenerationResult r)
    {
        var kept = new List<GeneratedToken>();
        int offset = 0;
        foreach (var t in r.Tokens)
        {
            if (offset >= r.Text.Length) break;
            kept.Add(t with { Text = r.Text.Substring(offset, Math.Min(t.Text.Length, r.Text.Length - offset)) });
            offset += t.Text.Length;
        }
        return kept;
    }

    private static GenerationResult FromJson(JsonElement r)
    {
        var tokens = r.GetProperty("tokens").EnumerateArray().Select(t => new GeneratedToken(r.GetProperty("sequence").GetInt32(), t.GetProperty("index").GetInt32(),
            t.GetProperty("token_id").GetInt32(), t.GetProperty("text").GetString()!, (float)t.GetProperty("logprob").GetDouble(), (float)t.GetProperty("entropy").GetDouble(),
            t.GetProperty("rank").GetInt32(), [])).ToList();
        var u = r.GetProperty("uncertainty");
        var scores = new TokenProbabilityScores(u.GetProperty("token_count").GetInt32(), u.GetProperty("sequence_logprob").GetDouble(), u.GetProperty("mean_logprob").GetDouble(),
            u.GetProperty("mean_entropy").GetDouble(), u.GetProperty("max_entropy").GetDouble(), u.GetProperty("min_token_probability").GetDouble());
        return new GenerationResult(r.GetProperty("sequence").GetInt32(), r.GetProperty("text").GetString()!, tokens,
            Enum.Parse<FinishReason>(r.GetProperty("finish_reason").GetString()!), scores, r.GetProperty("prompt_tokens").GetInt32(), null);
    }
}
