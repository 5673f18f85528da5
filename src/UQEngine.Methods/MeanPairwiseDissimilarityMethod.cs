using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples;

namespace UQEngine.Methods;

/// <summary>
/// Mean pairwise dissimilarity: 1 − the mean similarity over the K(K − 1) ordered pairs of distinct samples, under
/// the run's similarity backend (Fomicheva et al.'s lexical similarity, generalized from ROUGE-L to any backend; a
/// black-box consistency score). One sample has no pair to disagree with: 0.
/// </summary>
public sealed class MeanPairwiseDissimilarityMethod() : SampleConsistencyMethod("mean_pairwise_dissimilarity",
    "Mean pairwise dissimilarity: 1 − mean similarity of distinct sample pairs under --similarity", SamplesAndSimilarity)
{
    public override UncertaintyEstimate Estimate(IStatisticSource st, SampleSettings settings) => new(Compute(Similarity(st)));

    public static double Compute(SquareMatrix similarity)
    {
        int k = similarity.Size;
        if (k < 2) return 0;
        double sum = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                if (i != j) sum += similarity[i, j];
        return 1 - sum / (k * (k - 1.0));
    }
}
