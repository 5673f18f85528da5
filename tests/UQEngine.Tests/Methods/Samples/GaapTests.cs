using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods.Samples;

public class GaapTests
{
    // A lookup-table similarity over one-word texts: x0 is the original.
    private sealed class Table : ISimilarity
    {
        private static readonly Dictionary<(string, string), double> S = new()
        {
            [("a", "x0")] = 0.2, [("b", "x0")] = 0.3, [("c", "x0")] = 0.6,
            [("a", "b")] = 0.9, [("a", "c")] = 0.1, [("b", "c")] = 0.2,
        };
        public double Score(string p, string q) =>
            p == q ? 1 : S.TryGetValue((p, q), out double v) ? v : S[(q, p)];
    }

    [Fact]
    public void Without_evolution_selection_is_greedy_max_min_diversity()
    {
        // Fitness 1 − sim(·, x0): a .8, b .7, c .4 → a first.
        // Then min(1 − sim to x0, 1 − sim to a): b = min(.7, .1) = .1, c = min(.4, .9) = .4 → c.
        // Mean pairwise diversity of {a, c} = 1 − .1 = .9.
        var r = Gaap.Select("x0", ["a", "b", "c"], 2, new Table(), new GaapOptions(PopulationSize: 3, Generations: 0));
        Assert.Equal(["a", "c"], r.Selected);
        Assert.Equal([0.8, 0.4], r.Fitness.Select(f => Math.Round(f, 12)));
        Assert.Equal(0.9, r.MeanPairwiseDiversity, 1e-12);
    }

    [Fact]
    public void Feasibility_bound_excludes_inputs_too_far_from_the_original()
    {
        // MinSimilarityToOriginal .25 rejects a (.2): b (.7) first, then c (min(.4, .8) = .4).
        var r = Gaap.Select("x0", ["a", "b", "c"], 3, new Table(), new GaapOptions(PopulationSize: 3, Generations: 0, MinSimilarityToOriginal: 0.25));
        Assert.Equal(["b", "c"], r.Selected);
    }

    [Fact]
    public void Evolution_is_seeded_deterministic_and_returns_distinct_feasible_inputs()
    {
        string original = "what is the capital city of france";
        string[] pool =
        [
            "what is the capital city of france",
            "name the capital of france",
            "which city is the capital of france",
            "france has which city as its capital",
            "tell me the french capital",
        ];
        var sim = new JaccardSimilarity();
        var options = new GaapOptions(Generations: 15, MinSimilarityToOriginal: 0.2, Seed: 42);
        var a = Gaap.Select(original, pool, 4, sim, options);
        var b = Gaap.Select(original, pool, 4, sim, options);
        Assert.Equal(a.Selected, b.Selected);
        Assert.Equal(4, a.Selected.Length);
        Assert.Equal(a.Selected.Length, a.Selected.Distinct().Count());
        foreach (string s in a.Selected) Assert.True(sim.Score(s, original) >= 0.2);
        // The search only adds candidates, so the selection starts from at least the best pool member.
        double bestPool = pool.Max(p => 1 - sim.Score(p, original) is var f && sim.Score(p, original) >= 0.2 ? f : -1);
        Assert.True(a.Fitness[0] >= bestPool - 1e-12);
    }
}
