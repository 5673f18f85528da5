using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>
/// Verbal numeric confidence: the model is asked for a 0–100 confidence in its own answer
/// (<see cref="VerbalConfidenceParser"/>). An unparseable reply uses the fallback confidence 0.5 and is counted.
/// </summary>
public sealed class VerbalNumericMethod : IUncertaintyMethod
{
    /// <summary>Used when the reply holds no readable number: uninformative, and counted in the summary.</summary>
    public const double FallbackConfidence = 0.5;

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = "verbal_numeric", Family = MethodFamily.Verbal, GivesConfidence = true,
        Description = "Asks the model for a 0–100 confidence in its answer; unparseable → 0.5 (counted)",
        Statistics = [StatisticNames.VerbalNumericResponse],
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.VerbalNumericResponse).Text;
        return VerbalConfidenceParser.TryParse(reply, out double c)
            ? new(1 - c, c, Detail: reply)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }
}

/// <summary>
/// Stated confidence: the "Confidence: N%" a model writes after its answer on its own (a UaIT-tuned model does; see
/// docs/PROBES.md). No confidence line → 0.5, counted as a fallback like the verbal methods.
/// </summary>
public sealed partial class StatedConfidenceMethod : IUncertaintyMethod
{
    public const double FallbackConfidence = 0.5;

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = "stated_confidence", Family = MethodFamily.Verbal, GivesConfidence = true,
        Description = "The \"Confidence: N%\" the model writes after its answer unasked (UaIT-tuned models); none → 0.5 (counted)",
        Statistics = [StatisticNames.StatedConfidenceResponse],
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.StatedConfidenceResponse).Text;
        return TryParse(reply, out double c)
            ? new(1 - c, c, Detail: reply)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }

    /// <summary>The last "Confidence: N%" (0 ≤ N ≤ 100) in <paramref name="reply"/>, as N / 100.</summary>
    public static bool TryParse(string reply, out double confidence)
    {
        var matches = ConfidenceLine().Matches(reply ?? "");
        confidence = 0;
        if (matches.Count == 0) return false;
        double n = double.Parse(matches[^1].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (n > 100) return false;
        confidence = n / 100;
        return true;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Confidence:\s*(\d{1,3}(?:\.\d+)?)\s*%", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex ConfidenceLine();
}

/// <summary>
/// Verbal linguistic confidence: the model describes how likely its answer is with a phrase, mapped through
/// <see cref="ProbabilityPhrases"/>. A reply without a table phrase uses 0.5 ("about even") and is counted.
/// </summary>
public sealed class VerbalLinguisticMethod : IUncertaintyMethod
{
    public const double FallbackConfidence = 0.5;

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = "verbal_linguistic", Family = MethodFamily.Verbal, GivesConfidence = true,
        Description = "Asks the model for a likelihood phrase (\"highly likely\"), mapped to a probability; no phrase → 0.5 (counted)",
        Statistics = [StatisticNames.VerbalLinguisticResponse],
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        string reply = statistics.Get<GenerationResult>(StatisticNames.VerbalLinguisticResponse).Text;
        return ProbabilityPhrases.TryMatch(reply, out string phrase, out double p)
            ? new(1 - p, p, Detail: phrase)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }
}

