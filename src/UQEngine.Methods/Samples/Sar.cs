using UQEngine.Methods.Samples.Similarity;
using UQEngine.Methods.Samples.LinearAlgebra;
namespace UQEngine.Methods.Samples;

/// <summary>
/// Shifting Attention to Relevance (SAR; Duan et al., arXiv 2307.01379) as LM-Polygraph computes it
/// (estimators token_sar.py, sentence_sar.py, sar.py). Higher = more uncertain. Log-probabilities are natural logs.
/// </summary>
/// <remarks>
/// <para><b>Token relevance.</b> For an answer y = (y_1..y_T), s_t = sim(prefix + y, prefix + y∖y_t) is the similarity
/// of the answer to the answer with token t removed (a cross-encoder in LM-Polygraph, the prompt prepended to both
/// texts; see <see cref="TokenAblation"/>). R_t = 1 − s_t and R̃_t = R_t / Σ_u R_u.</para>
/// <para><b>TokenSAR</b> = −Σ_t R̃_t · log p(y_t | y_&lt;t, x).</para>
/// <para><b>SentenceSAR</b> with sample probabilities p_i = exp(log P(y_i|x)) (sum of token log-probs, not length
/// normalised) and sample similarity S, temperature t (default 0.001):
/// SentenceSAR = (1/K) Σ_i −log( p_i + (1/t) Σ_{j≠i} S_ij · p_j ).</para>
/// <para><b>SAR</b> = SentenceSAR with p_i replaced by p̃_i = exp(−TokenSAR_i) (the relevance-weighted geometric-mean
/// token probability of sample i).</para>
/// <para>Differences from LM-Polygraph, none of which changes a value it computes finitely: the log of the sum is
/// evaluated in log space (log-sum-exp over {log p_i} ∪ {log S_ij + log p_j − log t}), so long samples whose
/// probabilities underflow to 0 in float64 still get a finite score; and when every R_t is 0 (Σ R = 0, which
/// LM-Polygraph turns into NaN) the weights fall back to uniform, 1/T.</para>
/// </remarks>
public static class Sar
{
    /// <summary>LM-Polygraph's SentenceSAR / SAR temperature.</summary>
    public const double DefaultTemperature = 0.001;

    /// <summary>
    /// Similarity LM-Polygraph assigns when the answer has a single token (nothing to ablate): 0.5, so R = 0.5 and
    /// R̃ = 1.
    /// </summary>
    public const double SingleTokenSimilarity = 0.5;

    /// <summary>Normalized relevances R̃_t = (1 − s_t)/Σ_u (1 − s_u) into <paramref name="relevance"/>; uniform if Σ = 0.</summary>
    public static void TokenRelevance(ReadOnlySpan<double> tokenSimilarity, Span<double> relevance)
    {
        if (relevance.Length != tokenSimilarity.Length) throw new ArgumentException("One relevance per token.", nameof(relevance));
        LogMath.RequireNoNaN(tokenSimilarity, nameof(tokenSimilarity));
        double sum = 0;
        for (int t = 0; t < tokenSimilarity.Length; t++) sum += relevance[t] = 1 - tokenSimilarity[t];
        if (sum == 0 || !double.IsFinite(sum))
        {
            relevance.Fill(tokenSimilarity.Length == 0 ? 0 : 1.0 / tokenSimilarity.Length);
            return;
        }
        for (int t = 0; t < relevance.Length; t++) relevance[t] /= sum;
    }

    /// <summary>
    /// Applies LM-Polygraph's conventions to raw ablation similarities in place: a one-token answer gets
    /// <see cref="SingleTokenSimilarity"/>; special (control) tokens get similarity 1, i.e. relevance 0.
    /// </summary>
    public static void ApplyTokenConventions(Span<double> tokenSimilarity, ReadOnlySpan<bool> isSpecialToken)
    {
        if (!isSpecialToken.IsEmpty && isSpecialToken.Length != tokenSimilarity.Length)
            throw new ArgumentException("One flag per token.", nameof(isSpecialToken));
        if (tokenSimilarity.Length == 1) { tokenSimilarity[0] = SingleTokenSimilarity; return; }
        for (int t = 0; t < isSpecialToken.Length; t++)
            if (isSpecialToken[t]) tokenSimilarity[t] = 1;
    }

    /// <summary>TokenSAR = −Σ_t R̃_t log p(y_t). 0 for an empty answer.</summary>
    public static double TokenSar(ReadOnlySpan<double> tokenLogProbabilities, ReadOnlySpan<double> tokenSimilarity)
    {
        if (tokenLogProbabilities.Length != tokenSimilarity.Length)
            throw new ArgumentException($"{tokenLogProbabilities.Length} log-probabilities but {tokenSimilarity.Length} similarities.", nameof(tokenSimilarity));
        LogMath.RequireLogProbabilities(tokenLogProbabilities, nameof(tokenLogProbabilities));
        int n = tokenLogProbabilities.Length;
        Span<double> r = n <= 256 ? stackalloc double[n] : new double[n];
        TokenRelevance(tokenSimilarity, r);
        double e = 0;
        for (int t = 0; t < n; t++)
            if (r[t] != 0) e -= r[t] * tokenLogProbabilities[t]; // 0·(−∞) counts as 0: an irrelevant impossible token
        return e;
    }

    /// <summary>SentenceSAR over K samples (see the class remarks). K = 0 is rejected.</summary>
    /// <param name="sampleLogProbabilities">log P(y_i | x) per sample (sum of token log-probs).</param>
    /// <param name="similarity">K×K sample similarity; the diagonal is ignored.</param>
    /// <param name="temperature">t &gt; 0.</param>
    public static double SentenceSar(ReadOnlySpan<double> sampleLogProbabilities, SquareMatrix similarity, double temperature = DefaultTemperature)
    {
        int k = sampleLogProbabilities.Length;
        if (k == 0) throw new ArgumentException("At least one sample is needed.", nameof(sampleLogProbabilities));
        ArgumentNullException.ThrowIfNull(similarity);
        similarity.RequireSize(k, nameof(similarity));
        similarity.RequireFinite(nameof(similarity));
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "Temperature must be positive and finite.");
        LogMath.RequireLogProbabilities(sampleLogProbabilities, nameof(sampleLogProbabilities));

        double logT = Math.Log(temperature);
        Span<double> terms = k <= 128 ? stackalloc double[k] : new double[k];
        double total = 0;
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                double s = similarity[i, j];
                if (s < 0) throw new ArgumentException($"similarity[{i}, {j}] = {s} is negative.", nameof(similarity));
                terms[j] = j == i ? sampleLogProbabilities[i]
                    : s == 0 ? double.NegativeInfinity
                    : Math.Log(s) + sampleLogProbabilities[j] - logT;
            }
            total -= LogMath.LogSumExp(terms);
        }
        return total / k;
    }

    /// <summary>
    /// SAR over K samples: TokenSAR of each sample (its token log-probs and ablation similarities), then
    /// SentenceSAR on p̃_i = exp(−TokenSAR_i).
    /// </summary>
    public static double Compute(IReadOnlyList<double[]> sampleTokenLogProbabilities, IReadOnlyList<double[]> sampleTokenSimilarities, SquareMatrix similarity, double temperature = DefaultTemperature)
    {
        ArgumentNullException.ThrowIfNull(sampleTokenLogProbabilities);
        ArgumentNullException.ThrowIfNull(sampleTokenSimilarities);
        int k = sampleTokenLogProbabilities.Count;
        if (sampleTokenSimilarities.Count != k) throw new ArgumentException("One similarity vector per sample.", nameof(sampleTokenSimilarities));
        var corrected = new double[k];
        for (int i = 0; i < k; i++)
        {
            double tokenSar = TokenSar(sampleTokenLogProbabilities[i], sampleTokenSimilarities[i]);
            corrected[i] = -tokenSar; // log p̃_i
        }
        return SentenceSar(corrected, similarity, temperature);
    }
}
