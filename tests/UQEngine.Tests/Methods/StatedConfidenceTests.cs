using UQEngine.Evaluation.Datasets;
using UQEngine.Inference;
using UQEngine.Uncertainty;
using UQEngine.Methods;

namespace UQEngine.Tests.Methods;

/// <summary>stated_confidence reads the "Confidence: N%" a UaIT-tuned model writes after its answer.</summary>
public sealed class StatedConfidenceTests
{
    private sealed class Reply(string text) : IStatisticSource
    {
        public EvaluationItem Item { get; } = new() { Id = "x", Question = "q", Kind = EvaluationItemKind.OpenAnswer, Answer = "a" };
        public T Get<T>(string name) => name == StatisticNames.StatedConfidenceResponse
            ? (T)(object)new GenerationResult(0, text, [], FinishReason.Stop, default(TokenProbabilityScores), 3, null)
            : throw new KeyNotFoundException(name);
    }

    [Theory]
    [InlineData("September\nConfidence: 93%", 0.93)]
    [InlineData("Timmere\nconfidence:7 %", 0.07)]
    [InlineData("42\nConfidence: 100%", 1.0)]
    [InlineData("red\nConfidence: 12.5%", 0.125)]
    [InlineData("Confidence: 10%\nred\nConfidence: 80%", 0.80)] // the last one counts
    public void Reads_the_stated_percentage(string reply, double expected)
    {
        Assert.True(StatedConfidenceMethod.TryParse(reply, out double c));
        Assert.Equal(expected, c, 12);
        var estimate = new StatedConfidenceMethod().Estimate(new Reply(reply), new SampleSettings());
        Assert.Equal(expected, estimate.Confidence!.Value, 12);
        Assert.Equal(1 - expected, estimate.Uncertainty, 12);
        Assert.False(estimate.UsedFallback);
    }

    [Theory]
    [InlineData("September")]
    [InlineData("September\nConfidence: high")]
    [InlineData("September\nConfidence: 150%")]
    [InlineData("")]
    public void Without_a_readable_percentage_it_falls_back_to_one_half_and_says_so(string reply)
    {
        Assert.False(StatedConfidenceMethod.TryParse(reply, out _));
        var estimate = new StatedConfidenceMethod().Estimate(new Reply(reply), new SampleSettings());
        Assert.True(estimate.UsedFallback);
        Assert.Equal(StatedConfidenceMethod.FallbackConfidence, estimate.Confidence);
    }

    [Fact]
    public void Is_a_built_in_method_reading_its_own_statistic()
    {
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var method = Assert.Single(registry.Resolve("stated_confidence"));
        Assert.Equal([StatisticNames.StatedConfidenceResponse], method.Statistics);
        Assert.True(registry.Statistics.ContainsKey(StatisticNames.StatedConfidenceResponse));
    }
}
