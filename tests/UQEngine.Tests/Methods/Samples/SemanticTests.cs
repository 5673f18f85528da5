using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Tests.Methods.Samples;

public class SemanticTests
{
    private const double Tol = 1e-12;

    // Samples 0 and 1 agree (0.9); 2 and 3 stand alone (0.1 to everything).
    private static SquareMatrix FourSamples() => SquareMatrix.FromRows(
        [1.0, 0.9, 0.1, 0.1],
        [0.9, 1.0, 0.1, 0.1],
        [0.1, 0.1, 1.0, 0.1],
        [0.1, 0.1, 0.1, 1.0]);

    [Fact]
    public void Greedy_classes_compare_with_the_first_member_both_ways()
    {
        var c = SemanticClusters.Greedy(FourSamples(), 0.5);
        Assert.Equal([0, 0, 1, 2], c.SampleToClass);
        Assert.Equal(3, c.ClassCount);
        Assert.Equal([0, 1], c.ClassToSamples[0]);
    }

    [Fact]
    public void Greedy_classes_are_not_transitive_but_semantic_sets_are()
    {
        // Chain: 0~1 (0.8), 1~2 (0.8), 0≁2 (0.2).
        // Greedy: 1 joins class 0 (tests representative 0); 2 fails against representative 0 → new class. 2 classes.
        // Connected components: 0–1–2 is one component. 1 set.
        var s = SquareMatrix.FromRows([1, 0.8, 0.2], [0.8, 1, 0.8], [0.2, 0.8, 1]);
        Assert.Equal(2, SemanticClusters.Greedy(s, 0.5).ClassCount);
        Assert.Equal(1, SemanticSets.Count(s, 0.5));
    }

    [Fact]
    public void Directional_tests_need_both_directions()
    {
        // Entailment 0→1 only (arg-max entail one way, neutral the other): two classes, two sets.
        var e = SquareMatrix.FromRows([0.9, 0.8], [0.3, 0.9]);
        var c = SquareMatrix.FromRows([0.05, 0.1], [0.2, 0.05]);
        var n = SquareMatrix.FromRows([0.05, 0.1], [0.5, 0.05]);
        var nli = new NliMatrices(e, c, n);
        Assert.Equal(2, SemanticClusters.Greedy(nli).ClassCount);
        // NumSemSets' test is E > C per direction: 0→1 0.8 > 0.1 but 1→0 0.3 > 0.2 too → one set.
        Assert.Equal(1, SemanticSets.Count(e, c));
        Assert.Equal(2, SemanticSets.Count(e, SquareMatrix.FromRows([0.05, 0.1], [0.6, 0.05])));
    }

    [Fact]
    public void Semantic_sets_degenerate_cases()
    {
        Assert.Equal(1, SemanticSets.Count(SquareMatrix.Identity(1)));
        Assert.Equal(3, SemanticSets.Count(new SquareMatrix(3))); // zero similarity: every sample alone
        var same = SquareMatrix.FromRows([1, 1, 1], [1, 1, 1], [1, 1, 1]);
        Assert.Equal(1, SemanticSets.Count(same));
    }

    [Fact]
    public void Semantic_entropy_variants_match_hand_computation()
    {
        // p = (0.4, 0.2, 0.1, 0.05); classes {0,1}, {2}, {3}.
        double[] logp = [Math.Log(0.4), Math.Log(0.2), Math.Log(0.1), Math.Log(0.05)];
        var c = SemanticClusters.Greedy(FourSamples(), 0.5);

        // Sum (LM-Polygraph default): P = (0.6, 0.1, 0.05); Mean: −(2 ln .6 + ln .1 + ln .05)/4.
        double sumMean = -(2 * Math.Log(0.6) + Math.Log(0.1) + Math.Log(0.05)) / 4;
        Assert.Equal(sumMean, SemanticEntropy.Compute(logp, c), Tol);

        // Normalized: total .75 → P = (.8, 2/15, 1/15).
        double normMean = -(2 * Math.Log(0.8) + Math.Log(0.1 / 0.75) + Math.Log(0.05 / 0.75)) / 4;
        Assert.Equal(normMean, SemanticEntropy.Compute(logp, c, ClassProbability.NormalizedSum), Tol);
        double normDirect = -(0.8 * Math.Log(0.8) + 0.1 / 0.75 * Math.Log(0.1 / 0.75) + 0.05 / 0.75 * Math.Log(0.05 / 0.75));
        Assert.Equal(normDirect, SemanticEntropy.Compute(logp, c, ClassProbability.NormalizedSum, EntropyEstimator.Direct), Tol);

        // Frequency: P = (2/4, 1/4, 1/4); Mean: −(2 ln ½ + 2 ln ¼)/4 = (2 ln 2 + 4 ln 2)/4 = 1.5 ln 2.
        Assert.Equal(1.5 * Math.Log(2), SemanticEntropy.Compute([], c, ClassProbability.Frequency), Tol);
        // Direct over classes: −(½ ln ½ + 2·¼ ln ¼) = ½ ln 2 + ln 2 = 1.5 ln 2 as well.
        Assert.Equal(1.5 * Math.Log(2), SemanticEntropy.Compute([], c, ClassProbability.Frequency, EntropyEstimator.Direct), Tol);
    }

    [Fact]
    public void Unique_responses_count_each_text_once_in_a_class_sum()
    {
        // Samples "a", "a", "b" all in one class; p = (.3, .3, .2).
        // All responses: P = .8 → SE = −ln .8.  Unique: P = .3 + .2 = .5 → SE = −ln .5.
        double[] logp = [Math.Log(0.3), Math.Log(0.3), Math.Log(0.2)];
        var one = SemanticClusters.Greedy(3, (_, _) => true);
        Assert.Equal(-Math.Log(0.8), SemanticEntropy.Compute(logp, one), Tol);
        Assert.Equal(-Math.Log(0.5), SemanticEntropy.Compute(logp, one, texts: ["a", "a", "b"]), Tol);
    }

    [Fact]
    public void Semantic_entropy_degenerate_cases()
    {
        // One sample: Sum gives −log p (unnormalised); normalised and frequency give 0.
        var single = SemanticClusters.Greedy(SquareMatrix.Identity(1));
        Assert.Equal(-Math.Log(0.3), SemanticEntropy.Compute([Math.Log(0.3)], single), Tol);
        Assert.Equal(0, SemanticEntropy.Compute([Math.Log(0.3)], single, ClassProbability.NormalizedSum), Tol);
        Assert.Equal(0, SemanticEntropy.Compute([], single, ClassProbability.Frequency), Tol);
        // Zero similarity, K equally likely samples: frequency entropy ln K.
        var apart = SemanticClusters.Greedy(new SquareMatrix(4));
        Assert.Equal(4, apart.ClassCount);
        Assert.Equal(Math.Log(4), SemanticEntropy.Compute([], apart, ClassProbability.Frequency), Tol);
        // Impossible samples (log p = −∞) normalise to uniform rather than NaN.
        double v = SemanticEntropy.Compute([double.NegativeInfinity, double.NegativeInfinity],
            SemanticClusters.Greedy(new SquareMatrix(2)), ClassProbability.NormalizedSum);
        Assert.Equal(Math.Log(2), v, Tol); // −(ln ½ + ln ½)/2
        Assert.Equal(Math.Log(0.5), SemanticEntropy.LengthNormalized([Math.Log(0.5), Math.Log(0.5)]), Tol);
    }
}
