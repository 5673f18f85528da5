using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods.Samples;

/// <summary>GAAP hyperparameters.</summary>
/// <param name="PopulationSize">Individuals per generation (the pool fills it; missing places are mutated pool copies).</param>
/// <param name="Generations">Generations evolved.</param>
/// <param name="CrossoverProbability">Chance a child comes from a one-point word crossover (otherwise a copy of the first parent).</param>
/// <param name="MutationProbability">Per-word chance of replacement by a word drawn from the vocabulary of the original and the pool.</param>
/// <param name="EliteCount">Best individuals copied unchanged into the next generation.</param>
/// <param name="TournamentSize">Individuals drawn per tournament; the fittest becomes a parent.</param>
/// <param name="MinSimilarityToOriginal">
/// Feasibility: a perturbation less similar than this to the original input is rejected (fitness −1), so diversity
/// cannot be bought by drifting off the question. 0 disables the constraint.
/// </param>
/// <param name="Seed">Seed of the only random source; equal inputs and seed give equal output.</param>
public sealed record GaapOptions(
    int PopulationSize = 20,
    int Generations = 10,
    double CrossoverProbability = 0.8,
    double MutationProbability = 0.1,
    int EliteCount = 2,
    int TournamentSize = 3,
    double MinSimilarityToOriginal = 0.0,
    int Seed = 0);

/// <summary>The selected perturbations.</summary>
/// <param name="Selected">The chosen inputs, in selection order.</param>
/// <param name="Fitness">1 − sim(selected, original) for each.</param>
/// <param name="MeanPairwiseDiversity">Mean of 1 − sim over the unordered pairs of the selection (0 for one item).</param>
public sealed record GaapResult(string[] Selected, double[] Fitness, double MeanPairwiseDiversity);

/// <summary>
/// GAAP (genetic-algorithm-based perturbation; Song et al., Inv-Entropy paper): evolve word-level variants of a
/// pool of input perturbations towards inputs that differ from the original, then pick a diverse subset.
/// </summary>
/// <remarks>
/// The authors' public repository (UMDataScienceLab/Uncertainty-Quantification-for-LLMs) contains no GAAP code,
/// only LLM paraphrasing, so this is this library's design of the algorithm the paper names, with a pluggable
/// similarity:
/// <list type="number">
/// <item>Words are white-space tokens; the vocabulary is the distinct words of the original and the pool.</item>
/// <item>Fitness f(z) = 1 − sim(z, x₀) when sim(z, x₀) ≥ MinSimilarityToOriginal and z is non-empty, else −1.</item>
/// <item>Each generation keeps the EliteCount fittest, then fills the population with children: two tournament
/// winners; with CrossoverProbability a one-point crossover (child = first parent's words before a random cut +
/// second parent's words from a random cut), else a copy of the first; then each word mutates with
/// MutationProbability.</item>
/// <item>Selection of <c>count</c> inputs from the distinct feasible strings of the pool and the final population:
/// the fittest first, then greedily the candidate with the largest min over {x₀} ∪ chosen of (1 − sim) (max–min
/// diversity); ties go to the fitter, then the earlier candidate.</item>
/// </list>
/// Model-made paraphrases (the pool) and re-asking the model are the caller's job.
/// </remarks>
public static class Gaap
{
    public static GaapResult Select(string original, IReadOnlyList<string> pool, int count, ISimilarity similarity, GaapOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(similarity);
        options ??= new GaapOptions();
        if (pool.Count == 0) throw new ArgumentException("The pool is empty.", nameof(pool));
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PopulationSize, 2, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.Generations, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TournamentSize, 1, nameof(options));
        if (options.EliteCount < 0 || options.EliteCount > options.PopulationSize) throw new ArgumentOutOfRangeException(nameof(options), "EliteCount must lie in [0, PopulationSize].");

        var rng = new Random(options.Seed);
        var fitnessCache = new Dictionary<string, double>(StringComparer.Ordinal);
        double Fitness(string z)
        {
            if (fitnessCache.TryGetValue(z, out double f)) return f;
            double s = z.Length == 0 ? 0 : similarity.Score(z, original);
            f = z.Length == 0 || s < options.MinSimilarityToOriginal ? -1 : 1 - s;
            fitnessCache[z] = f;
            return f;
        }

        var vocabulary = new List<string>();
        var seenWords = new HashSet<string>(StringComparer.Ordinal);
        foreach (string text in pool.Prepend(original))
            foreach (string w in Words(text))
                if (seenWords.Add(w)) vocabulary.Add(w);

        string[] Mutate(string[] words)
        {
            var copy = (string[])words.Clone();
            if (vocabulary.Count == 0) return copy;
            for (int i = 0; i < copy.Length; i++)
                if (rng.NextDouble() < options.MutationProbability) copy[i] = vocabulary[rng.Next(vocabulary.Count)];
            return copy;
        }

        var population = new List<string[]>(options.PopulationSize);
        for (int i = 0; i < options.PopulationSize; i++)
            population.Add(i < pool.Count ? Words(pool[i]) : Mutate(Words(pool[rng.Next(pool.Count)])));

        for (int g = 0; g < options.Generations; g++)
        {
            var scored = population.Select((w, i) => (Words: w, Fit: Fitness(string.Join(' ', w)), Index: i))
                .OrderByDescending(t => t.Fit).ThenBy(t => t.Index).ToList();
            var next = new List<string[]>(options.PopulationSize);
            for (int e = 0; e < options.EliteCount; e++) next.Add(scored[e].Words);
            string[] Tournament()
            {
                int best = rng.Next(scored.Count);
                for (int t = 1; t < options.TournamentSize; t++)
                {
                    int c = rng.Next(scored.Count);
                    if (c < best) best = c; // scored is sorted: a lower index is at least as fit
                }
                return scored[best].Words;
            }
            while (next.Count < options.PopulationSize)
            {
                string[] a = Tournament(), b = Tournament();
                string[] child;
                if (rng.NextDouble() < options.CrossoverProbability)
                {
                    int cutA = rng.Next(a.Length + 1), cutB = rng.Next(b.Length + 1);
                    child = [.. a.AsSpan(0, cutA), .. b.AsSpan(cutB)];
                }
                else child = a;
                next.Add(Mutate(child));
            }
            population = next;
        }

        var candidates = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string z in pool.Select(p => string.Join(' ', Words(p))).Concat(population.Select(w => string.Join(' ', w))))
            if (seen.Add(z) && Fitness(z) >= 0) candidates.Add(z);

        var chosen = new List<string>();
        // min over {x₀} ∪ chosen of (1 − sim); it starts as the fitness, so the first pick is the fittest.
        var minDiversity = candidates.Select(Fitness).ToArray();
        var taken = new bool[candidates.Count];
        while (chosen.Count < count && chosen.Count < candidates.Count)
        {
            int best = -1;
            for (int i = 0; i < candidates.Count; i++)
            {
                if (taken[i]) continue;
                if (best < 0 || minDiversity[i] > minDiversity[best]
                    || (minDiversity[i] == minDiversity[best] && Fitness(candidates[i]) > Fitness(candidates[best])))
                    best = i;
            }
            taken[best] = true;
            chosen.Add(candidates[best]);
            for (int i = 0; i < candidates.Count; i++)
                if (!taken[i]) minDiversity[i] = Math.Min(minDiversity[i], 1 - similarity.Score(candidates[i], candidates[best]));
        }

        double pairSum = 0;
        int pairs = 0;
        for (int i = 0; i < chosen.Count; i++)
            for (int j = i + 1; j < chosen.Count; j++) { pairSum += 1 - similarity.Score(chosen[i], chosen[j]); pairs++; }
        return new GaapResult(chosen.ToArray(), chosen.Select(Fitness).ToArray(), pairs == 0 ? 0 : pairSum / pairs);
    }

    private static string[] Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
