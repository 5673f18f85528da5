using UQEngine.Evaluation.Grading;
using UQEngine.Methods;

namespace UQEngine.Tests.Evaluation.Grading;

public sealed class GradingTests
{
    private static readonly string[] Options = ["Paris", "Rome", "Berlin", "Madrid"];

    [Theory]
    [InlineData("B", 'B')]
    [InlineData("(B)", 'B')]
    [InlineData("B)", 'B')]
    [InlineData("B.", 'B')]
    [InlineData(" b", 'B')]
    [InlineData("b) Rome", 'B')]
    [InlineData("[C]", 'C')]
    [InlineData("**D**", 'D')]
    [InlineData("Answer: B", 'B')]
    [InlineData("answer: c", 'C')]
    [InlineData("The answer is (B).", 'B')]
    [InlineData("The correct answer is D, Madrid.", 'D')]
    [InlineData("I think the answer is option C", 'C')]
    [InlineData("B: Rome", 'B')]
    [InlineData("B Rome", 'B')]
    [InlineData("A Paris", 'A')]
    [InlineData("Rome", 'B')]
    [InlineData("rome, of course", 'B')]
    [InlineData("I think B", 'B')]
    [InlineData("A", 'A')]
    public void Letters_are_found_in_the_usual_formats(string response, char expected) =>
        Assert.Equal(expected, ChoiceLetterExtractor.Extract(response, 4, Options));

    [Theory]
    [InlineData("")]
    [InlineData("A cat sat on the mat")] // the article, not option A
    [InlineData("The answer is a city")]
    [InlineData("Either B or C")] // ambiguous
    [InlineData("E")] // out of range for 4 options
    [InlineData("I don't know")]
    public void No_letter_is_claimed_where_there_is_none(string response) =>
        Assert.Null(ChoiceLetterExtractor.Extract(response, 4, Options));

    [Fact]
    public void Ten_options_reach_J() => Assert.Equal('J', ChoiceLetterExtractor.Extract("Answer: (J)", 10));

    [Theory]
    [InlineData("The Eiffel Tower!", "eiffel tower")]
    [InlineData("  An   apple,  a day ", "apple day")]
    [InlineData("U.S.A.", "usa")]
    [InlineData("Theory of the Mind", "theory of mind")]
    public void Normalization_is_squad_style(string text, string expected) => Assert.Equal(expected, OpenAnswerGrader.Normalize(text));

    [Fact]
    public void Exact_match_uses_any_alias_after_normalization()
    {
        Assert.True(OpenAnswerGrader.ExactMatch("the Shakespeare.", ["William Shakespeare", "Shakespeare"]));
        Assert.False(OpenAnswerGrader.ExactMatch("Marlowe", ["William Shakespeare", "Shakespeare"]));
    }

    [Fact]
    public void Token_f1_matches_hand_computation()
    {
        // prediction "william shakespeare wrote" vs "william shakespeare": common 2, P = 2/3, R = 1 → F1 = 0.8
        Assert.Equal(0.8, OpenAnswerGrader.TokenF1("William Shakespeare wrote", "William Shakespeare"), 12);
        Assert.Equal(0.0, OpenAnswerGrader.TokenF1("Marlowe", "Shakespeare"));
        Assert.Equal(1.0, OpenAnswerGrader.TokenF1("The Shakespeare", ["Bacon", "shakespeare"]));
        // repeated tokens count once each: "a a b" vs "a b" → normalized "b" vs "b" (articles dropped) = 1
        Assert.Equal(1.0, OpenAnswerGrader.TokenF1("a a b", "a b"));
        // "x x y" vs "x y": common 2, P = 2/3, R = 1
        Assert.Equal(0.8, OpenAnswerGrader.TokenF1("x x y", "x y"), 12);
    }

    [Theory]
    [InlineData("Paris\nBecause it is the capital.", "Paris")]
    [InlineData("Answer: Paris", "Paris")]
    [InlineData("\n\n  Rome  ", "Rome")]
    public void The_answer_is_the_first_line_without_its_label(string response, string expected) =>
        Assert.Equal(expected, OpenAnswerGrader.ExtractAnswer(response));

    [Theory]
    [InlineData("Confidence: 80", 0.80)]
    [InlineData("80", 0.80)]
    [InlineData("80%", 0.80)]
    [InlineData("I'd say 75 percent.", 0.75)]
    [InlineData("0.8", 0.80)]
    [InlineData(".9", 0.90)]
    [InlineData("1.0", 1.00)]
    [InlineData("8/10", 0.80)]
    [InlineData("8 out of 10", 0.80)]
    [InlineData("95/100", 0.95)]
    [InlineData("100", 1.00)]
    [InlineData("0", 0.00)]
    [InlineData("eighty", 0.80)]
    [InlineData("Eighty-five percent", 0.85)]
    [InlineData("one hundred", 1.00)]
    [InlineData("Question 2. Confidence: 60", 0.60)] // the labelled number wins
    public void Numeric_confidence_is_parsed(string text, double expected)
    {
        Assert.True(VerbalConfidenceParser.TryParse(text, out double c));
        Assert.Equal(expected, c, 12);
    }

    [Theory]
    [InlineData("")]
    [InlineData("I am not sure")]
    [InlineData("150")]
    [InlineData("250%")]
    public void Unreadable_confidence_is_reported_as_such(string text) => Assert.False(VerbalConfidenceParser.TryParse(text, out _));

    [Theory]
    [InlineData("Almost certain.", "almost certain", 0.95)]
    [InlineData("highly likely", "highly likely", 0.90)]
    [InlineData("There is a very good chance", "very good chance", 0.80)]
    [InlineData("Probably", "probably", 0.70)]
    [InlineData("LIKELY", "likely", 0.70)]
    [InlineData("better than even", "better than even", 0.58)]
    [InlineData("about even", "about even", 0.50)]
    [InlineData("Probably not.", "probably not", 0.25)]
    [InlineData("We doubt it", "we doubt", 0.20)]
    [InlineData("unlikely", "unlikely", 0.20)]
    [InlineData("Highly unlikely!", "highly unlikely", 0.05)]
    [InlineData("little chance", "little chance", 0.10)]
    [InlineData("almost no chance", "almost no chance", 0.02)]
    public void Phrases_map_to_the_table(string text, string phrase, double p)
    {
        Assert.True(ProbabilityPhrases.TryMatch(text, out string found, out double value));
        Assert.Equal(phrase, found);
        Assert.Equal(p, value);
    }

    [Theory]
    [InlineData("not likely")] // negation is not read as its opposite
    [InlineData("no idea")]
    [InlineData("unlikelyhood")]
    public void Phrases_outside_the_table_are_not_matched(string text) => Assert.False(ProbabilityPhrases.TryMatch(text, out _, out _));

    [Fact]
    public void Phrase_table_is_a_probability_table_ordered_most_probable_first()
    {
        var values = ProbabilityPhrases.Table.Select(t => t.Probability).ToList();
        Assert.All(values, v => Assert.InRange(v, 0, 1));
        Assert.Equal(values.OrderByDescending(v => v), values);
    }
}
