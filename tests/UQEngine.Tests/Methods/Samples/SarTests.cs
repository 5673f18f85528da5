using UQEngine.Methods.Samples.Similarity;
using UQEngine.Methods.Samples.LinearAlgebra;
using UQEngine.Methods.Samples;

namespace UQEngine.Tests.Methods.Samples;

public class SarTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void TokenSar_weights_negative_log_probs_by_normalized_relevance()
    {
        // s = (0.2, 0.9, 0.5) → R = (0.8, 0.1, 0.5), ΣR = 1.4 → R̃ = (4/7, 1/14, 5/14).
        // TokenSAR = 4/7·(−ln 0.5) + 1/14·(−ln 0.8) + 5/14·(−ln 0.9).
        double[] logp = [Math.Log(0.5), Math.Log(0.8), Math.Log(0.9)];
        double[] sim = [0.2, 0.9, 0.5];
        double expected = 0.8 / 1.4 * Math.Log(2) + 0.1 / 1.4 * -Math.Log(0.8) + 0.5 / 1.4 * -Math.Log(0.9);
        Assert.Equal(expected, Sar.TokenSar(logp, sim), Tol);

        Span<double> r = stackalloc double[3];
        Sar.TokenRelevance(sim, r);
        Assert.Equal(4.0 / 7, r[0], Tol);
        Assert.Equal(1.0 / 14, r[1], Tol);
        Assert.Equal(5.0 / 14, r[2], Tol);
    }

    [Fact]
    public void TokenSar_with_no_relevant_token_falls_back_to_uniform_weights()
    {
        // Every s_t = 1 → ΣR = 0 (NaN in LM-Polygraph) → weights 1/2: TokenSAR = (ln 2 + ln 4)/2.
        double[] logp = [Math.Log(0.5), Math.Log(0.25)];
        Assert.Equal((Math.Log(2) + Math.Log(4)) / 2, Sar.TokenSar(logp, [1, 1]), Tol);
        Assert.Equal(0, Sar.TokenSar([], []));
    }

    [Fact]
    public void Token_conventions_match_lm_polygraph()
    {
        double[] one = [0.9];
        Sar.ApplyTokenConventions(one, []);
        Assert.Equal(0.5, one[0]); // single token → 0.5 → R̃ = 1
        double[] three = [0.2, 0.3, 0.4];
        Sar.ApplyTokenConventions(three, [false, true, false]);
        Assert.Equal([0.2, 1, 0.4], three); // special token → similarity 1 → relevance 0
    }

    [Fact]
    public void SentenceSar_matches_hand_computation()
    {
        // p = (0.5, 0.25), S01 = 0.4, t = 0.001:
        //   i=0: 0.5  + 0.4·0.25/0.001 = 100.5;   i=1: 0.25 + 0.4·0.5/0.001 = 200.25.
        //   SentenceSAR = (−ln 100.5 − ln 200.25)/2.
        double[] logp = [Math.Log(0.5), Math.Log(0.25)];
        var s = SquareMatrix.FromRows([1, 0.4], [0.4, 1]);
        Assert.Equal((-Math.Log(100.5) - Math.Log(200.25)) / 2, Sar.SentenceSar(logp, s), 1e-12);
        // t = 1: i=0: 0.5 + 0.1 = 0.6; i=1: 0.25 + 0.2 = 0.45.
        Assert.Equal((-Math.Log(0.6) - Math.Log(0.45)) / 2, Sar.SentenceSar(logp, s, 1.0), Tol);
    }

    [Fact]
    public void SentenceSar_degenerate_inputs_are_finite()
    {
        // One sample: −ln p.
        Assert.Equal(-Math.Log(0.3), Sar.SentenceSar([Math.Log(0.3)], SquareMatrix.Identity(1)), Tol);
        // Zero similarity: mean of −ln p_i.
        var zero = new SquareMatrix(2);
        Assert.Equal((Math.Log(2) + Math.Log(4)) / 2, Sar.SentenceSar([Math.Log(0.5), Math.Log(0.25)], zero), Tol);
        // Long samples whose probabilities underflow (e^−2000 = 0 in double): log-space gives
        // −ln(e^−2000 + 0.5·e^−2000/0.001) = 2000 − ln 501 for each sample.
        var half = SquareMatrix.FromRows([1, 0.5], [0.5, 1]);
        Assert.Equal(2000 - Math.Log(501), Sar.SentenceSar([-2000, -2000], half), 1e-9);
    }

    [Fact]
    public void Sar_feeds_token_sar_probabilities_into_sentence_sar()
    {
        // Sample 0: log p = (ln .5, ln .8), s = (.2, .6) → R = (.8, .4) → R̃ = (2/3, 1/3);
        //   TokenSAR₀ = 2/3·ln 2 − 1/3·ln .8 → p̃₀ = .5^(2/3)·.8^(1/3).
        // Sample 1: one token, ln .3, s = .5 (convention) → R̃ = 1 → p̃₁ = .3.
        // S01 = .4, t = 1: SAR = (−ln(p̃₀ + .4·.3) − ln(.3 + .4·p̃₀))/2.
        double p0 = Math.Pow(0.5, 2.0 / 3) * Math.Pow(0.8, 1.0 / 3);
        double expected = (-Math.Log(p0 + 0.4 * 0.3) - Math.Log(0.3 + 0.4 * p0)) / 2;
        double[][] logp = [[Math.Log(0.5), Math.Log(0.8)], [Math.Log(0.3)]];
        double[][] tok = [[0.2, 0.6], [0.5]];
        var s = SquareMatrix.FromRows([1, 0.4], [0.4, 1]);
        Assert.Equal(expected, Sar.Compute(logp, tok, s, 1.0), Tol);
    }

    [Fact]
    public void Ablated_texts_remove_one_token_span_each()
    {
        var spans = TokenAblation.SpansFromPieces(["Paris", " is", " big"]);
        Assert.Equal([new TokenSpan(0, 5), new TokenSpan(5, 3), new TokenSpan(8, 4)], spans);
        var (reference, ablated) = TokenAblation.Texts("Paris is big", spans, "Q?");
        Assert.Equal("Q? Paris is big", reference);
        Assert.Equal(["Q?  is big", "Q? Paris big", "Q? Paris is"], ablated);
        var (bare, _) = TokenAblation.Texts("Paris is big", spans);
        Assert.Equal("Paris is big", bare);
        Assert.Throws<ArgumentException>(() => TokenAblation.Texts("ab", [new TokenSpan(1, 5)]));
    }
}
