using UQEngine.Inference;
using UQEngine.Uncertainty;

namespace UQEngine.Methods;

/// <summary>Token-probability (TPU) methods over the greedy answer's <see cref="TokenProbabilityScores"/>.</summary>
public abstract class TokenProbabilityMethod(string name, string description, bool givesConfidence, int? defaultRank) : IUncertaintyMethod
{
    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = name, Family = MethodFamily.TokenProbability, Description = description,
        Statistics = [StatisticNames.GreedyGeneration], GivesConfidence = givesConfidence, DefaultRank = defaultRank,
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings) =>
        Score(statistics.Get<GenerationResult>(StatisticNames.GreedyGeneration).Uncertainty);

    /// <summary>The estimate from the answer's scores.</summary>
    public abstract UncertaintyEstimate Score(TokenProbabilityScores s);
}

public sealed class MaximumSequenceProbabilityMethod() : TokenProbabilityMethod("msp", "Maximum sequence probability: −log P(answer); confidence P(answer)", true, defaultRank: 1)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(-s.SequenceLogProbability, Math.Exp(s.SequenceLogProbability));
}

public sealed class MeanLogProbabilityMethod() : TokenProbabilityMethod("mean_logprob", "Mean token log-probability (negated); confidence is the geometric-mean token probability", true, defaultRank: 2)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(-s.MeanLogProbability, Math.Exp(s.MeanLogProbability));
}

public sealed class PerplexityMethod() : TokenProbabilityMethod("perplexity", "Perplexity exp(−mean log p) of the answer (no confidence: it is mean_logprob's 1/x)", false, defaultRank: null)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(s.TokenCount == 0 ? 1 : s.Perplexity);
}

public sealed class MeanEntropyMethod() : TokenProbabilityMethod("mean_entropy", "Mean over answer tokens of the full-vocabulary entropy (nats)", false, defaultRank: 3)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(s.MeanEntropy);
}

public sealed class MaxEntropyMethod() : TokenProbabilityMethod("max_entropy", "Largest per-token entropy of the answer (nats)", false, defaultRank: 4)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(s.MaxEntropy);
}

public sealed class MinTokenProbabilityMethod() : TokenProbabilityMethod("min_token_prob", "1 − the smallest answer-token probability; confidence is that probability", true, defaultRank: 5)
{
    public override UncertaintyEstimate Score(TokenProbabilityScores s) => new(1 - s.MinTokenProbability, s.MinTokenProbability);
}

/// <summary>Multiple choice: 1 − the largest option-letter probability; confidence = that probability.</summary>
public sealed class OptionProbabilityMethod : IUncertaintyMethod
{
    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = "option_prob", Family = MethodFamily.OptionProbability, MultipleChoiceOnly = true, GivesConfidence = true,
        Description = "Multiple choice: softmax over the option letters' logits; uncertainty 1 − max, confidence max",
        Statistics = [StatisticNames.OptionLogits],
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        var p = statistics.Get<OptionProbabilities>(StatisticNames.OptionLogits);
        double max = p.Probabilities[p.BestIndex];
        return new(1 - max, max, Detail: p.BestLetter.ToString());
    }
}
