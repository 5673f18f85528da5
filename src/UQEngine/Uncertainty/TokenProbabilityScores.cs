using UQEngine.Kernels;

namespace UQEngine.Uncertainty;

/// <summary>
/// Token-probability uncertainty (TPU) of one generated or scored sequence, from the raw (temperature 1)
/// distribution at each step. Log-probabilities are natural logs; entropies are in nats.
/// </summary>
/// <param name="TokenCount">Tokens scored.</param>
/// <param name="SequenceLogProbability">log P(y|x) = Σ log p(y_t).</param>
/// <param name="MeanLogProbability">Σ log p(y_t) / T.</param>
/// <param name="MeanEntropy">Mean over steps of the full-vocabulary entropy.</param>
/// <param name="MaxEntropy">Largest step entropy.</param>
/// <param name="MinTokenProbability">Smallest p(y_t).</param>
/// <param name="NonFiniteStepCount">Steps whose logits contained NaN or ±∞ (a broken model): when above 0 the other
/// scores describe the kernel's defined limits, not a real distribution, and should not be trusted.</param>
public readonly record struct TokenProbabilityScores(
    int TokenCount,
    double SequenceLogProbability,
    double MeanLogProbability,
    double MeanEntropy,
    double MaxEntropy,
    double MinTokenProbability,
    int NonFiniteStepCount = 0)
{
    /// <summary>Maximum sequence probability P(y|x) (MSP); a confidence in [0, 1].</summary>
    public double SequenceProbability => Math.Exp(SequenceLogProbability);

    /// <summary>exp(-mean log p): 1 for a certain model, larger when unsure.</summary>
    public double Perplexity => TokenCount == 0 ? double.NaN : Math.Exp(-MeanLogProbability);

    /// <summary>The LM-Polygraph "MaximumSequenceProbability" uncertainty: -log P(y|x). Higher = less sure.</summary>
    public double NegativeSequenceLogProbability => -SequenceLogProbability;
}

/// <summary>Running TPU accumulator: one Add per step, no allocation. Sums in double so long sequences keep precision.</summary>
public struct TokenProbabilityAccumulator
{
    private int _count, _nonFinite;
    private double _sumLogProb, _sumEntropy, _maxEntropy, _minLogProb;

    public readonly int Count => _count;

    /// <summary>Steps added whose logits contained NaN or ±∞.</summary>
    public readonly int NonFiniteCount => _nonFinite;

    public void Add(in TokenStatistics step)
    {
        Add(step.ChosenLogProbability, step.Entropy);
        if (step.HasNonFiniteLogits) _nonFinite++;
    }

    public void Add(double logProbability, double entropy)
    {
        if (_count == 0) { _maxEntropy = double.NegativeInfinity; _minLogProb = double.PositiveInfinity; }
        _count++;
        _sumLogProb += logProbability;
        _sumEntropy += entropy;
        if (entropy > _maxEntropy) _maxEntropy = entropy;
        if (logProbability < _minLogProb) _minLogProb = logProbability;
    }

    /// <summary>The scores so far. An empty sequence has probability 1 and entropies 0 (nothing was uncertain), NaN perplexity.</summary>
    public readonly TokenProbabilityScores Result => _count == 0
        ? new TokenProbabilityScores(0, 0, 0, 0, 0, 1)
        : new TokenProbabilityScores(_count, _sumLogProb, _sumLogProb / _count, _sumEntropy / _count, _maxEntropy, Math.Exp(_minLogProb), _nonFinite);
}
