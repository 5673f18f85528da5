using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods;

/// <summary>One method's value over a sample set, or why it has none.</summary>
public readonly record struct MethodOutcome(double? Uncertainty, double? Confidence, string? Detail, string? Error);

/// <summary>
/// The statistics of K finished samples that a host fills without running the model: the samples, their similarity
/// matrix and SAR's token relevance. The server fills them from a request's n choices, the LLamaSharp adapter from
/// its samples; both then run the catalog's methods computable from <see cref="Names"/>.
/// </summary>
public static class SampleSetStatistics
{
    /// <summary>What <see cref="Fill"/> gives.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
        { SampleStatisticNames.Samples, SampleStatisticNames.SampleSimilarity, SampleStatisticNames.SampleRelevance };

    /// <summary>
    /// A source over <paramref name="samples"/>. The matrix comes from <paramref name="similarity"/> (null: ROUGE-L F1
    /// of the texts), the token relevance from <paramref name="relevance"/> (null: lexical, ROUGE-L of an answer
    /// against itself without the token's characters) over that same matrix. Both are computed on first use only.
    /// </summary>
    public static StatisticValues Fill(EvaluationItem item, SampleSet samples, ISentenceSimilarity? similarity = null, ISentenceSimilarity? relevance = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var matrix = new Lazy<SquareMatrix>(() => similarity is null
            ? SimilarityMatrix.Build(new RougeLSimilarity(), samples.Texts)
            : similarity.Compute(samples.Answers, tokenSimilarity: false).Matrix);
        relevance ??= new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l");
        return new StatisticValues(item)
            .Add(SampleStatisticNames.Samples, samples)
            .Add(SampleStatisticNames.SampleSimilarity, () => new SentenceSimilarityResult(matrix.Value, null))
            .Add(SampleStatisticNames.SampleRelevance, () => relevance.Compute(samples.Answers, tokenSimilarity: true) with { Matrix = matrix.Value });
    }

    /// <summary>
    /// <paramref name="method"/>'s value; a non-finite one (a sample of probability 0) or an estimator's refusal
    /// (ArgumentException) becomes a null value with the reason, so one method cannot fail the others.
    /// </summary>
    public static MethodOutcome Estimate(IUncertaintyMethod method, IStatisticSource statistics, SampleSettings settings)
    {
        ArgumentNullException.ThrowIfNull(method);
        try
        {
            var e = method.Estimate(statistics, settings);
            return double.IsFinite(e.Uncertainty)
                ? new MethodOutcome(e.Uncertainty, e.Confidence, e.Detail, null)
                : new MethodOutcome(null, null, e.Detail, "not defined for these samples (a sample has probability 0)");
        }
        catch (ArgumentException ex) { return new MethodOutcome(null, null, null, ex.Message); }
    }
}
