using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.LLamaSharp;

/// <summary>One catalog method's value over K samples: null with the reason when it is not defined for them.</summary>
public sealed record ConsistencyValue(string Method, double? Uncertainty, double? Confidence, string? Detail, string? Error);

/// <summary>
/// The catalog's sample-consistency methods (SAR, semantic entropy, NumSemSets, EigValLaplacian, DegMat,
/// Eccentricity, lexical similarity, ...) over K samples of one prompt, by the same estimators UQEngine's evaluation,
/// sensitivity report and server run. The statistics are filled as the server fills them from a request's n choices:
/// the samples (texts cut at the stop string, the tokens that reach into the text, their log-probabilities and
/// log-likelihoods, <see cref="SampleSet.Trim"/>), their pairwise similarity (ROUGE-L F1 unless another
/// <see cref="ISentenceSimilarity"/> is given) and lexical token relevance for SAR.
/// </summary>
public static class SampleConsistency
{
    /// <summary>The statistics this adapter fills (<see cref="SampleSetStatistics"/>, as the server does).</summary>
    public static IReadOnlySet<string> Statistics => SampleSetStatistics.Names;

    /// <summary>Every catalog method computable from <see cref="Statistics"/>, by name.</summary>
    public static IReadOnlyList<string> Methods => [.. MethodCatalog.Default.ComputableFrom(Statistics).Select(m => m.Descriptor.Name)];

    /// <summary>
    /// The statistic source over the samples, for running any computable <see cref="IUncertaintyMethod"/> directly.
    /// <paramref name="similarity"/> defaults to ROUGE-L; SAR's token relevance is always lexical (ROUGE-L of an
    /// answer against itself without the token's characters), as the server computes it with ROUGE-L.
    /// </summary>
    public static StatisticValues Fill(string prompt, IReadOnlyList<GenerationResult> samples, ISentenceSimilarity? similarity = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("there are no samples to compare", nameof(samples));
        var set = SampleSet.From(prompt, [], samples);
        return SampleSetStatistics.Fill(new EvaluationItem { Id = "llamasharp", Question = prompt, Kind = EvaluationItemKind.OpenAnswer, Answer = "" }, set, similarity);
    }

    /// <summary>
    /// The named methods (default: all of <see cref="Methods"/>) over the samples, at <paramref name="settings"/>
    /// (default: the library's: cluster threshold, SAR temperature, ...).
    /// </summary>
    /// <exception cref="ArgumentException">A name is not a catalog method, or needs statistics this adapter does not fill.</exception>
    public static IReadOnlyDictionary<string, ConsistencyValue> Estimate(string prompt, IReadOnlyList<GenerationResult> samples, IEnumerable<string>? methods = null,
        SampleSettings? settings = null, ISentenceSimilarity? similarity = null)
    {
        var asked = (methods ?? Methods).Select(name =>
        {
            var method = MethodCatalog.Default.Get(name);
            if (!method.Descriptor.ComputableFrom(Statistics))
                throw new ArgumentException($"method '{name}' reads statistics a LLamaSharp sample set does not give ({string.Join(", ", method.Descriptor.Statistics.Where(s => !Statistics.Contains(s)))}); computable here: {string.Join(", ", Methods)}", nameof(methods));
            return method;
        }).ToList();
        var statistics = Fill(prompt, samples, similarity);
        settings ??= new SampleSettings();
        var values = new Dictionary<string, ConsistencyValue>(StringComparer.Ordinal);
        foreach (var method in asked)
        {
            var o = SampleSetStatistics.Estimate(method, statistics, settings);
            values[method.Descriptor.Name] = new ConsistencyValue(method.Descriptor.Name, o.Uncertainty, o.Confidence, o.Detail, o.Error);
        }
        return values;
    }
}
