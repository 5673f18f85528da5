using UQEngine.Methods.Samples.LinearAlgebra;
using System.Globalization;
using UQEngine.Inference;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods;

/// <summary>
/// A method over the K samples of an item (<see cref="SampleStatisticNames"/>): the samples, their similarity
/// matrix from the run's backend, and for SAR the token relevance. Any host that fills those statistics (the
/// evaluation runner, the sensitivity re-scorer from its cache, the server from a request's n choices) runs it.
/// </summary>
public abstract class SampleConsistencyMethod(string name, string description, IReadOnlyList<string> statistics, IReadOnlyList<string>? settings = null) : IUncertaintyMethod
{
    public MethodDescriptor Descriptor { get; } = new()
    {
        Name = name, Family = MethodFamily.SampleConsistency, Description = description, Statistics = statistics, Settings = settings ?? [],
    };

    public abstract UncertaintyEstimate Estimate(IStatisticSource statistics, SampleSettings settings);

    /// <summary>The samples and their similarity matrix: what most consistency methods read.</summary>
    protected static readonly IReadOnlyList<string> SamplesAndSimilarity = [SampleStatisticNames.Samples, SampleStatisticNames.SampleSimilarity];

    protected static SampleSet Samples(IStatisticSource st) => st.Get<SampleSet>(SampleStatisticNames.Samples);

    protected static SquareMatrix Similarity(IStatisticSource st) => st.Get<SentenceSimilarityResult>(SampleStatisticNames.SampleSimilarity).Matrix;

    /// <summary>LM-Polygraph's conventions on a copy (one-token answers: 0.5).</summary>
    protected static double[] ConventionalTokenSimilarity(double[] raw)
    {
        var copy = (double[])raw.Clone();
        Sar.ApplyTokenConventions(copy, []);
        return copy;
    }
}

public sealed class SarMethod() : SampleConsistencyMethod(MethodName, "SAR (Duan et al.): SentenceSAR over the samples with relevance-weighted token probabilities",
    [SampleStatisticNames.Samples, SampleStatisticNames.SampleRelevance], [SampleSettings.SarTemperatureKey])
{
    public const string MethodName = "sar";

    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings)
    {
        var r = st.Get<SentenceSimilarityResult>(SampleStatisticNames.SampleRelevance);
        var tokenSims = r.TokenSimilarity!.Select(ConventionalTokenSimilarity).ToList();
        return new(Sar.Compute(Samples(st).TokenLogProbabilities, tokenSims, r.Matrix, settings.SarTemperature));
    }
}

public sealed class TokenSarMethod() : SampleConsistencyMethod("token_sar", "TokenSAR: relevance-weighted −log p of the greedy answer's tokens (relevance = 1 − sim(answer, answer without the token))",
    [StatisticNames.GreedyGeneration, SampleStatisticNames.GreedyRelevance])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings)
    {
        var (_, logp, _) = SampleSet.Trim(st.Get<GenerationResult>(StatisticNames.GreedyGeneration));
        var r = st.Get<SentenceSimilarityResult>(SampleStatisticNames.GreedyRelevance);
        return new(Sar.TokenSar(logp, ConventionalTokenSimilarity(r.TokenSimilarity![0])));
    }
}

public sealed class SentenceSarMethod() : SampleConsistencyMethod("sentence_sar", "SentenceSAR: −mean log(p_i + Σ_j sim_ij p_j / t) over the samples",
    SamplesAndSimilarity, [SampleSettings.SarTemperatureKey])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) =>
        new(Sar.SentenceSar(Samples(st).LogLikelihoods, Similarity(st), settings.SarTemperature));
}

public sealed class SemanticEntropyMethod() : SampleConsistencyMethod("semantic_entropy", "Semantic entropy (Kuhn et al.): entropy over meaning classes (similarity ≥ threshold), class likelihood from the samples",
    SamplesAndSimilarity, [SampleSettings.ClusterThresholdKey])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings)
    {
        var clusters = SemanticClusters.Greedy(Similarity(st), settings.ClusterThreshold);
        return new(SemanticEntropy.Compute(Samples(st).LogLikelihoods, clusters, settings.ClassProbability, settings.EntropyEstimator),
            Detail: string.Create(CultureInfo.InvariantCulture, $"{clusters.ClassCount} classes"));
    }
}

public sealed class NumSemSetsMethod() : SampleConsistencyMethod("num_sem_sets", "Number of semantic sets (Lin et al.): connected components of 'similarity ≥ threshold'",
    SamplesAndSimilarity, [SampleSettings.ClusterThresholdKey])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(SemanticSets.Count(Similarity(st), settings.ClusterThreshold));
}

public sealed class EigValLaplacianMethod() : SampleConsistencyMethod("eigv_laplacian", "EigValLaplacian (Lin et al.): Σ max(0, 1 − λ) of the sample graph's normalized Laplacian", SamplesAndSimilarity)
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(GraphUncertainty.EigValLaplacian(Similarity(st)));
}

public sealed class DegMatMethod() : SampleConsistencyMethod("degmat", "Degree matrix (Lin et al.): 1 − Σ_ij W_ij / K²", SamplesAndSimilarity)
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(GraphUncertainty.DegreeMatrix(Similarity(st)));
}

public sealed class EccentricityMethod() : SampleConsistencyMethod("eccentricity", "Eccentricity (Lin et al.): spread of the samples' spectral embeddings", SamplesAndSimilarity)
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(GraphUncertainty.Eccentricity(Similarity(st), settings.EccentricityThreshold));
}

public sealed class LexicalSimilarityMethod() : SampleConsistencyMethod("lexical_similarity", "Lexical similarity (Fomicheva et al.): −mean ROUGE-L F1 over sample pairs (independent of --similarity)",
    [SampleStatisticNames.Samples])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) =>
        new(LexicalSimilarity.Compute(Samples(st).Texts) + 0.0); // + 0.0 turns −0 (no overlap) into 0
}

public sealed class InvEntropyMethod() : SampleConsistencyMethod("inv_entropy", "Inv-Entropy (Song et al.): entropy of the inverse model p(x|y) of a random walk over paraphrased inputs and their responses",
    [SampleStatisticNames.InvEntropyWalk])
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(st.Get<InvEntropyResult>(SampleStatisticNames.InvEntropyWalk).InvEntropy);
}
