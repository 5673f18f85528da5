using UQEngine.Inference;

namespace UQEngine.Tests.Structured;

/// <summary>The candidate window of the grammar mask: a far-below allowed token is still found, its mass exact.</summary>
[Trait("Category", "Integration")]
public sealed class GrammarConstraintTests
{
    [Theory]
    [InlineData(-10f)]  // inside the 30-nat window
    [InlineData(-100f)] // outside: the whole vocabulary is checked
    public void The_only_allowed_token_is_found_wherever_its_logit_is(float logit)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        var vocab = model.Vocabulary;
        int a = Assert.Single(vocab.Tokenize("a", addSpecial: false));
        using var constraint = new GrammarConstraint(new GenerationGrammar("root ::= \"a\""), vocab);
        var logits = new float[vocab.Count];
        logits[a] = logit;
        var step = constraint.Mask(logits, 0, 0);
        Assert.Equal(a, step.BestAllowed);
        Assert.Equal(1, step.AllowedCount);
        Assert.Equal(logit, step.LogSumExpAllowed, 4);
        Assert.Equal(0f, step.Entropy, 5);
    }
}
