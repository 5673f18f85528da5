using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Sampling;
using UQEngine.Inference;
using UQEngine.Uncertainty;

namespace UQEngine.LLamaSharp.Tests;

/// <summary>
/// The adapter's numbers on LLamaSharp's llama.cpp equal UQEngine's own (its CLI, a separate process on its own
/// llama.cpp) on the demo model: per-token log-probabilities, entropies, ranks and the sequence scores, within 1e-5.
/// </summary>
[Trait("Category", "Integration")]
[Collection(DemoCollection.Name)]
public sealed class ParityTests(DemoWeights demo, ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string, string> Pairs => new()
    {
        { "Stetaix was born in", " April" },     // a fact the model never saw: an unlikely answer, rank > 0
        { "Zaibath was born in", " September." }, // a fact it saw often: a confident answer
        { "3 + 4 =", " 7" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Teacher_forced_scores_equal_the_cli(string prompt, string answer)
    {
        using var expected = Repo.Cli("score", "-m", Repo.DemoModel, "-p", prompt, "-a", answer, "--raw", "--json", "--top-logprobs", "0");
        using var context = demo.Context();
        var actual = TeacherForcedScorer.Score(context, prompt, answer);
        double worst = AssertSame(expected.RootElement.GetProperty("tokens"), expected.RootElement.GetProperty("uncertainty"), actual.Tokens, actual.Uncertainty);
        output.WriteLine($"score '{prompt}' '{answer}': {actual.Tokens.Count} tokens, max |diff| {worst:E2}");
        Assert.Equal(answer, string.Concat(actual.Tokens.Select(t => t.Text)));
    }

    [Theory]
    [InlineData("Stetaix was born in")]
    [InlineData("Zaibath's lucky number is")]
    public async Task Greedy_generation_through_a_stateless_executor_equals_the_cli(string prompt)
    {
        const int maxTokens = 12;
        using var expected = Repo.Cli("generate", prompt, "-m", Repo.DemoModel, "--raw", "--json", "-n", maxTokens.ToString(), "--top-logprobs", "0");
        var result = expected.RootElement.GetProperty("results")[0];

        using var pipeline = new UncertaintySamplingPipeline(new GreedySamplingPipeline());
        var streamed = new List<GeneratedToken>();
        pipeline.TokenSampled += streamed.Add;
        var executor = new StatelessExecutor(demo.Weights, DemoWeights.Parameters());
        string text = "";
        await foreach (string piece in executor.InferAsync(prompt, new InferenceParams { MaxTokens = maxTokens, SamplingPipeline = pipeline }))
            text += piece;

        double worst = AssertSame(result.GetProperty("tokens"), result.GetProperty("uncertainty"), pipeline.Tokens, pipeline.Scores);
        output.WriteLine($"generate '{prompt}': '{text}', {pipeline.Tokens.Count} tokens, max |diff| {worst:E2}");
        Assert.Equal(result.GetProperty("text").GetString(), text);
        Assert.Equal(pipeline.Tokens, streamed); // the streaming event saw every recorded token, in order
        Assert.All(pipeline.Tokens, t => Assert.Equal(0, t.Rank)); // greedy: the chosen token is always the most likely
    }

    /// <summary>Token ids equal; log p, entropy and every sequence score within <see cref="Tolerance"/>; ranks equal. Returns the largest difference.</summary>
    private static double AssertSame(JsonElement expectedTokens, JsonElement expectedScores, IReadOnlyList<GeneratedToken> tokens, TokenProbabilityScores scores)
    {
        var expected = expectedTokens.EnumerateArray().ToList();
        // The CLI's JSON lists the text tokens; an end-of-generation step is counted in the scores only.
        int count = expectedScores.GetProperty("token_count").GetInt32();
        Assert.Equal(count, tokens.Count);
        Assert.True(expected.Count is var n && (n == count || n == count - 1), $"{expected.Count} tokens listed for {count} scored");
        double worst = 0;
        void Near(double e, double a, string what)
        {
            double d = Math.Abs(e - a);
            worst = Math.Max(worst, d);
            Assert.True(d <= Tolerance, $"{what}: UQEngine {e:R}, LLamaSharp adapter {a:R} (|diff| {d:E2} > {Tolerance:E0})");
        }
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].GetProperty("token_id").GetInt32(), tokens[i].TokenId);
            Assert.Equal(expected[i].GetProperty("rank").GetInt32(), tokens[i].Rank);
            Near(expected[i].GetProperty("logprob").GetDouble(), tokens[i].LogProbability, $"token {i} log p");
            Near(expected[i].GetProperty("entropy").GetDouble(), tokens[i].Entropy, $"token {i} entropy");
        }
        Near(expectedScores.GetProperty("sequence_logprob").GetDouble(), scores.SequenceLogProbability, "sequence log p");
        Near(expectedScores.GetProperty("mean_logprob").GetDouble(), scores.MeanLogProbability, "mean log p");
        Near(expectedScores.GetProperty("mean_entropy").GetDouble(), scores.MeanEntropy, "mean entropy");
        Near(expectedScores.GetProperty("max_entropy").GetDouble(), scores.MaxEntropy, "max entropy");
        Near(expectedScores.GetProperty("min_token_probability").GetDouble(), scores.MinTokenProbability, "min token probability");
        // Perplexity is exp(−mean log p): compared in log space, where the tolerance means the same as for log p.
        Near(Math.Log(expectedScores.GetProperty("perplexity").GetDouble()), Math.Log(scores.Perplexity), "log perplexity");
        return worst;
    }
}
