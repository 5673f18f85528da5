namespace UQEngine.Methods.Samples;

/// <summary>How a semantic class's probability is estimated.</summary>
public enum ClassProbability
{
    /// <summary>
    /// log P(c) = log Σ_{i∈c} P(y_i|x): the summed (unnormalised) likelihoods of the member samples, as
    /// LM-Polygraph's default "sum". The inputs are whatever log-likelihoods the caller passes; LM-Polygraph passes
    /// the sum of token log-probs (not length-normalised; use <see cref="SemanticEntropy.LengthNormalized"/> for
    /// the mean-per-token variant of Kuhn et al.).
    /// </summary>
    Sum,

    /// <summary><see cref="Sum"/>, then renormalised over the K samples: log P(c) − log Σ_{all i} P(y_i|x), so the class probabilities sum to 1.</summary>
    NormalizedSum,

    /// <summary>P(c) = |c| / K (LM-Polygraph's "frequency", a.k.a. empirical / discrete semantic entropy).</summary>
    Frequency,
}

/// <summary>How the entropy is estimated from the class probabilities.</summary>
public enum EntropyEstimator
{
    /// <summary>Monte-Carlo over samples: SE = −(1/K) Σ_j log P(c(j)) (Kuhn et al.; LM-Polygraph "mean").</summary>
    Mean,

    /// <summary>
    /// Plug-in over classes: SE = −Σ_c P(c) log P(c). LM-Polygraph's "direct" loops over samples instead,
    /// −Σ_j P(c(j)) log P(c(j)), which weights each class by its size; this library uses the class sum, the
    /// entropy the SDLG paper defines. They agree when every class has one member.
    /// </summary>
    Direct,
}

/// <summary>
/// Semantic entropy (Kuhn et al., arXiv 2302.09664) over a partition into semantic classes
/// (<see cref="SemanticClusters"/>). Higher = more uncertain. With <see cref="ClassProbability.Sum"/> and
/// <see cref="EntropyEstimator.Mean"/> (the defaults) the value equals LM-Polygraph's SemanticEntropy.
/// </summary>
public static class SemanticEntropy
{
    /// <param name="sampleLogLikelihoods">log P(y_i|x) per sample (ignored, may be empty, for <see cref="ClassProbability.Frequency"/>).</param>
    /// <param name="clusters">The classes.</param>
    /// <param name="classProbability">How P(c) is estimated (default: LM-Polygraph's unnormalised sum).</param>
    /// <param name="estimator">Monte-Carlo mean over samples (default) or plug-in sum over classes.</param>
    /// <param name="texts">
    /// When given, only the first occurrence of each distinct text contributes to a class's likelihood sum
    /// (LM-Polygraph's use_unique_responses); every sample still counts in the Monte-Carlo mean.
    /// </param>
    public static double Compute(ReadOnlySpan<double> sampleLogLikelihoods, SemanticClusters clusters,
        ClassProbability classProbability = ClassProbability.Sum, EntropyEstimator estimator = EntropyEstimator.Mean,
        IReadOnlyList<string>? texts = null)
    {
        ArgumentNullException.ThrowIfNull(clusters);
        int k = clusters.SampleCount;
        if (k == 0) throw new ArgumentException("At least one sample is needed.", nameof(clusters));
        if (texts is not null && texts.Count != k) throw new ArgumentException("One text per sample.", nameof(texts));
        var classLogP = new double[clusters.ClassCount];

        if (classProbability == ClassProbability.Frequency)
        {
            for (int c = 0; c < classLogP.Length; c++) classLogP[c] = Math.Log((double)clusters.ClassToSamples[c].Length / k);
        }
        else
        {
            if (sampleLogLikelihoods.Length != k) throw new ArgumentException($"{sampleLogLikelihoods.Length} log-likelihoods for {k} samples.", nameof(sampleLogLikelihoods));
            LogMath.RequireLogProbabilities(sampleLogLikelihoods, nameof(sampleLogLikelihoods));
            Span<double> buffer = k <= 256 ? stackalloc double[k] : new double[k];
            for (int c = 0; c < classLogP.Length; c++)
            {
                int m = 0;
                HashSet<string>? seen = texts is null ? null : new HashSet<string>(StringComparer.Ordinal);
                foreach (int i in clusters.ClassToSamples[c])
                    if (seen is null || seen.Add(texts![i])) buffer[m++] = sampleLogLikelihoods[i];
                classLogP[c] = LogMath.LogSumExp(buffer[..m]);
            }
            if (classProbability == ClassProbability.NormalizedSum)
            {
                double total = LogMath.LogSumExp(classLogP);
                if (double.IsNegativeInfinity(total))
                    for (int c = 0; c < classLogP.Length; c++) classLogP[c] = -Math.Log(classLogP.Length); // all impossible: uniform
                else
                    for (int c = 0; c < classLogP.Length; c++) classLogP[c] -= total;
            }
        }

        if (estimator == EntropyEstimator.Mean)
        {
            double s = 0;
            for (int j = 0; j < k; j++) s += classLogP[clusters.SampleToClass[j]];
            return -s / k;
        }
        double h = 0;
        for (int c = 0; c < classLogP.Length; c++)
            if (!double.IsNegativeInfinity(classLogP[c])) h -= Math.Exp(classLogP[c]) * classLogP[c];
        return h;
    }

    /// <summary>Mean per-token log-likelihood, Σ_t log p_t / T (0 for an empty sequence).</summary>
    public static double LengthNormalized(ReadOnlySpan<double> tokenLogProbabilities)
    {
        if (tokenLogProbabilities.IsEmpty) return 0;
        double s = 0;
        foreach (double v in tokenLogProbabilities) s += v;
        return s / tokenLogProbabilities.Length;
    }
}
