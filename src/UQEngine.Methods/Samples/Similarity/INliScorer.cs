using UQEngine.Methods.Samples.LinearAlgebra;
namespace UQEngine.Methods.Samples.Similarity;

/// <summary>Probabilities of the three NLI labels for (premise, hypothesis); they sum to 1.</summary>
public readonly record struct NliProbabilities(double Entailment, double Neutral, double Contradiction)
{
    /// <summary>
    /// True when entailment is the arg-max label (LM-Polygraph's "is entailment" test for semantic classes). Ties go
    /// against entailment, as numpy's argmax does with DeBERTa-MNLI's label order (contradiction, neutral, entailment).
    /// </summary>
    public bool EntailmentIsArgMax => Entailment > Neutral && Entailment > Contradiction;
}

/// <summary>
/// Slot for an NLI / cross-encoder model (DeBERTa-MNLI in LM-Polygraph). Directional: Predict(a, b) and
/// Predict(b, a) may differ. No implementation ships yet; the estimators take the matrices it would produce.
/// </summary>
public interface INliScorer
{
    NliProbabilities Predict(string premise, string hypothesis);
}

/// <summary>The directional K×K NLI matrices over samples: [i, j] = Predict(texts[i], texts[j]).</summary>
public sealed record NliMatrices(SquareMatrix Entailment, SquareMatrix Contradiction, SquareMatrix Neutral)
{
    /// <summary>Scores every ordered pair of distinct strings once (equal strings reuse the score, as LM-Polygraph does).</summary>
    public static NliMatrices Build(INliScorer scorer, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(texts);
        int n = texts.Count;
        var e = new SquareMatrix(n); var c = new SquareMatrix(n); var u = new SquareMatrix(n);
        var cache = new Dictionary<(string, string), NliProbabilities>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                var key = (texts[i], texts[j]);
                if (!cache.TryGetValue(key, out var p)) cache[key] = p = scorer.Predict(texts[i], texts[j]);
                e[i, j] = p.Entailment; c[i, j] = p.Contradiction; u[i, j] = p.Neutral;
            }
        return new NliMatrices(e, c, u);
    }

    /// <summary>[i, j] = true when entailment is the arg-max label for (i → j).</summary>
    public bool Entails(int i, int j) => new NliProbabilities(Entailment[i, j], Neutral[i, j], Contradiction[i, j]).EntailmentIsArgMax;
}
