using UQEngine.Inference;
using UQEngine.Structured;

namespace UQEngine.Tests.Structured;

/// <summary>Mapping generated tokens to JSON fields, and per-field scores (no model needed).</summary>
public sealed class JsonFieldsTests
{
    private static GeneratedToken Token(int i, string text, float logp, float allowedLogMass = 0f) =>
        new(0, i, i, text, logp, 0.5f, 1, []) { AllowedLogMass = allowedLogMass, ConstrainedLogProbability = logp - allowedLogMass };

    [Fact]
    public void Leaves_have_pointers_and_character_spans()
    {
        string text = """{"name": "Zoë", "pets": ["cat", 2], "a/b": {"c~d": null}, "ok": true}""";
        var leaves = JsonFields.Leaves(text);
        Assert.Equal(["/name", "/pets/0", "/pets/1", "/a~1b/c~0d", "/ok"], leaves.Select(l => l.Pointer));
        Assert.Equal("\"Zoë\"", text[leaves[0].Start..leaves[0].End]);
        Assert.Equal("2", text[leaves[2].Start..leaves[2].End]);
        Assert.Equal("true", text[leaves[4].Start..leaves[4].End]);
    }

    [Fact]
    public void A_text_cut_short_keeps_the_completed_values()
    {
        var leaves = JsonFields.Leaves("""{"name": "Ann", "city": "Bo""");
        Assert.Equal("/name", Assert.Single(leaves).Pointer);
        Assert.Empty(JsonFields.Leaves("not json"));
    }

    [Fact]
    public void Each_field_scores_the_tokens_that_wrote_it()
    {
        GeneratedToken[] tokens =
        [
            Token(0, "{\"name\": \"", -0.1f), Token(1, "Al", -1.0f, -0.5f), Token(2, "ice", -0.2f), Token(3, "\", \"age\": ", -0.05f),
            Token(4, "4", -2.0f, -1.0f), Token(5, "2", -0.3f), Token(6, "}", -0.01f),
        ];
        string text = string.Concat(tokens.Select(t => t.Text));
        var fields = JsonFields.Analyze(text, tokens);
        Assert.Equal(["/name", "/age"], fields.Select(f => f.Pointer));
        var name = fields[0];
        Assert.Equal("\"Alice\"", name.Value);
        // "{"name": "" writes the opening quote, "Al", "ice", and "", "age": " the closing quote.
        Assert.Equal(4, name.TokenCount);
        Assert.Equal(-0.1 - 1.0 - 0.2 - 0.05, name.LogProbability, 5);
        Assert.Equal(-1.0, name.MinLogProbability, 5);
        Assert.Equal(-1.35 / 4, name.MeanLogProbability, 5);
        Assert.Equal(-1.35 + 0.5, name.ConstrainedLogProbability, 5);
        Assert.Equal((3 + Math.Exp(-0.5)) / 4, name.MeanAllowedMass, 5);
        Assert.Equal(Math.Exp(-0.5), name.MinAllowedMass, 5);
        var age = fields[1];
        Assert.Equal("42", age.Value);
        Assert.Equal(2, age.TokenCount);
        Assert.Equal(-2.3, age.LogProbability, 5);
        Assert.Null(age.Agreement);
    }

    [Fact]
    public void Agreement_is_the_fraction_of_samples_with_an_equal_value()
    {
        static GenerationResult Sample(int i, string json) =>
            new(i, json, [Token(0, json, -1f)], FinishReason.EndOfGeneration, default, 1, null);
        var samples = new[]
        {
            Sample(0, """{"city": "Oslo", "n": 1}"""),
            Sample(1, """{"city": "Oslo", "n": 1.0}"""),
            Sample(2, """{"city": "Rome"}"""),
            Sample(3, """{"city": "Oslo", "n": 2}"""),
        };
        var fields = JsonFields.Analyze(samples);
        Assert.Equal(0.75, fields[0].Single(f => f.Pointer == "/city").Agreement);
        Assert.Equal(0.25, fields[2].Single(f => f.Pointer == "/city").Agreement);
        Assert.Equal(0.5, fields[0].Single(f => f.Pointer == "/n").Agreement); // 1 and 1.0 are the same number
        Assert.Equal(0.25, fields[3].Single(f => f.Pointer == "/n").Agreement);
    }
}
