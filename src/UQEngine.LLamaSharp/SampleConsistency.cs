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
    /// <summary>The statistics this adapter fills.</summary>
    public static readonly IReadOnlySet<string> Statistics = new HashSet<string>(StringComparer.Ordinal)
        { SampleStatisticNames.Samples, SampleStatisticNames.SampleSimilarity, SampleStatisticNames.SampleRelevance };

    /// <summary>Every catalog method computable from <see cref="Statistics"/>, by name.</summary>
    public static IReadOnlyList<string> Methods => [.. MethodCatalog.Default.ComputableFrom(Statistics).Select(m => m.Descriptor.Name)];

    /// <summary>
    /// The statistic source over the samples, for running any computable <see cref="IUncertaintyMethod"/> directly.
    /// <paramref name="similarity"/> defaults to ROUGE-L; SAR's token relevance is always lexical (ROUGE-L of an
    /// answer against itself without the token's characters), as in the server.
    /// </summary>
    public static StatisticValues Fill(string prompt, IReadOnlyList<GenerationResult> samples, ISentenceSimilarity? similarity = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("there are no samples to compare", nameof(samples));
        var set = SampleSet.From(prompt, [], samples);
        var rouge = new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l");
        // Computed on first use only: a caller asking for semantic entropy alone never pays for token ablation.
        var matrix = new Lazy<SentenceSimilarityResult>(() => (similarity ?? rouge).Compute(set.Answers, tokenSimilarity: false));
        return new StatisticValues(new EvaluationItem { Id = "llamasharp", Question = prompt, Kind = EvaluationItemKind.OpenAnswer, Answer = "" })
            .Add(SampleStatisticNames.Samples, set)
            .Add(SampleStatisticNames.SampleSimilarity, () => matrix.Value)
            .Add(SampleStatisticNames.SampleRelevance, () => rouge.Compute(set.Answers, tokenSimilarity: true) with { Matrix = matrix.Value.Matrix });
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
            string name = method.Descriptor.Name;
            try
            {
                var e = method.Estimate(statistics, settings);
                values[name] = double.IsFinite(e.Uncertainty)
                    ? new ConsistencyValue(name, e.Uncertainty, e.Confidence, e.Detail, null)
                    : new ConsistencyValue(name, null, null, e.Detail, "not defined for these samples (a sample has probability 0)");
            }
            catch (ArgumentException ex) { values[name] = new ConsistencyValue(name, null, null, null, ex.Message); }
        }
        return values;
    }
}
