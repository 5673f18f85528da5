using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>
/// A method that reads a confidence from what the model wrote. A reply it cannot read uses
/// <see cref="FallbackConfidence"/> (uninformative) and is counted as a fallback in the summary.
/// </summary>
public abstract class VerbalMethod(string name, string description, string statistic) : IUncertaintyMethod
{
    /// <summary>Used when the reply holds no readable confidence.</summary>
    public const double FallbackConfidence = 0.5;

    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = name, Family = MethodFamily.Verbal, GivesConfidence = true, Description = description, Statistics = [statistic],
    };

    public UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings)
    {
        string reply = statistics.Get<GenerationResult>(Descriptor.Statistics[0]).Text;
        return TryRead(reply, out double c, out string detail)
            ? new(1 - c, c, Detail: detail)
            : new(1 - FallbackConfidence, FallbackConfidence, UsedFallback: true, Detail: reply);
    }

    /// <summary>The confidence in [0, 1] the reply states, and what was read (for the results).</summary>
    protected abstract bool TryRead(string reply, out double confidence, out string detail);
}

/// <summary>Verbal numeric confidence: the model is asked for a 0–100 confidence in its own answer (<see cref="VerbalConfidenceParser"/>).</summary>
public sealed class VerbalNumericMethod() : VerbalMethod("verbal_numeric",
    "Asks the model for a 0–100 confidence in its answer; unparseable → 0.5 (counted)", StatisticNames.VerbalNumericResponse)
{
    protected override bool TryRead(string reply, out double confidence, out string detail)
    {
        detail = reply;
        return VerbalConfidenceParser.TryParse(reply, out confidence);
    }
}

/// <summary>
/// Stated confidence: the "Confidence: N%" a model writes after its answer on its own (a UaIT-tuned model does; see
/// docs/PROBES.md).
/// </summary>
public sealed partial class StatedConfidenceMethod() : VerbalMethod("stated_confidence",
    "The \"Confidence: N%\" the model writes after its answer unasked (UaIT-tuned models); none → 0.5 (counted)", StatisticNames.StatedConfidenceResponse)
{
    protected override bool TryRead(string reply, out double confidence, out string detail)
    {
        detail = reply;
        return TryParse(reply, out confidence);
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
/// <see cref="ProbabilityPhrases"/> (no table phrase → 0.5, "about even").
/// </summary>
public sealed class VerbalLinguisticMethod() : VerbalMethod("verbal_linguistic",
    "Asks the model for a likelihood phrase (\"highly likely\"), mapped to a probability; no phrase → 0.5 (counted)", StatisticNames.VerbalLinguisticResponse)
{
    protected override bool TryRead(string reply, out double confidence, out string detail) =>
        ProbabilityPhrases.TryMatch(reply, out detail, out confidence);
}
