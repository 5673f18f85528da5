using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;
using UQEngine.MiniLM;
using UQEngine.Tests.Server;

namespace UQEngine.Tests.MiniLM;

/// <summary>`serve --similarity minilm`: the consistency methods compare a request's choices by MiniLM cosine.</summary>
[Trait("Category", "Integration")]
public sealed class ServeMiniLmTests
{
    [Fact]
    public async Task The_uncertainty_set_uses_minilm_cosines_of_the_choices()
    {
        using var embedder = new MiniLmEmbedder(threads: 1);
        await using var server = await LoopbackServer.StartAsync(o => o with { ChoiceEmbedder = embedder, ChoiceEmbedderName = "minilm" });
        var (status, body) = await server.PostJsonAsync("/v1/completions", new
        {
            model = LoopbackServer.ModelId, prompt = "Once upon a time", max_tokens = 5, temperature = 1.5, seed = 4, n = 3,
            uncertainty = new[] { "degmat", "semantic_entropy", "sar" },
        });
        Assert.Equal(200, status);
        var set = body.GetProperty("uncertainty_set");
        Assert.Equal("minilm", set.GetProperty("backend").GetString());

        // The same matrix computed here, independently of the server's statistics.
        string[] texts = [.. body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()!)];
        var answers = new AnswerSet("", [], [.. texts.Select(t => new AnswerTokens(t, [], []))]);
        using var reference = new MiniLmEmbedder(threads: 1);
        var matrix = new TextEmbeddingSimilarity(reference).Compute(answers, tokenSimilarity: false).Matrix;
        Assert.Equal(GraphUncertainty.DegreeMatrix(matrix), set.GetProperty("methods").GetProperty("degmat").GetProperty("uncertainty").GetDouble(), 6);
        Assert.True(set.GetProperty("methods").GetProperty("sar").GetProperty("uncertainty").ValueKind == System.Text.Json.JsonValueKind.Number);
    }
}
