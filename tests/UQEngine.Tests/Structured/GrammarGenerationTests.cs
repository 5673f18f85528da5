using UQEngine.Inference;
using UQEngine.Kernels;
using UQEngine.Structured;

namespace UQEngine.Tests.Structured;

/// <summary>
/// The synthetic (random-weight) llama decodes under grammars from schemas: whatever it would say, the output is JSON
/// valid against the schema, and the statistics stay on the raw logits.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GrammarGenerationTests
{
    public static TheoryData<string> Schemas() =>
    [
        """{"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer","minimum":0,"maximum":120},"pet":{"enum":["cat","dog","owl"]}},"required":["name","age","pet"],"additionalProperties":false}""",
        """{"type":"object","properties":{"born":{"type":"string","format":"date"},"id":{"type":"string","format":"uuid"},"ok":{"type":"boolean"},"note":{"type":["string","null"],"maxLength":4}},"required":["born","id","ok","note"],"additionalProperties":false}""",
        """{"type":"array","items":{"anyOf":[{"type":"integer","minimum":1,"maximum":9},{"type":"null"},{"const":"x"}]},"minItems":1,"maxItems":3}""",
        """{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":5},"kids":{"type":"array","items":{"$ref":"#/$defs/leaf"},"maxItems":2}},"required":["v","kids"],"additionalProperties":false,"$defs":{"leaf":{"type":"object","properties":{"w":{"enum":[true,false]}},"required":["w"],"additionalProperties":false}}}""",
        """{"type":"object","properties":{"a":{"type":"string","maxLength":3},"b":{"type":"integer","minimum":0,"maximum":3}},"additionalProperties":false}""",
    ];

    [Theory]
    [MemberData(nameof(Schemas))]
    public void Greedy_and_sampled_outputs_validate_against_the_schema(string schema)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 2048, MaxSequences = 4 });
        using var generator = new Generator(context);
        var grammar = JsonSchemaGrammar.FromSchema(schema);
        var greedy = generator.Generate("Hello world, the", new GenerationOptions { MaxTokens = 300, Grammar = grammar });
        Assert.Equal(FinishReason.EndOfGeneration, greedy.FinishReason);
        SchemaAssert.Valid(schema, greedy.Text);

        var samples = generator.Sample("Hello world, the", 4, new GenerationOptions
        {
            MaxTokens = 300, Grammar = grammar, Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 3 },
        });
        foreach (var s in samples)
        {
            Assert.Equal(FinishReason.EndOfGeneration, s.FinishReason);
            SchemaAssert.Valid(schema, s.Text);
        }
    }

    [Fact]
    public void Statistics_use_the_raw_logits_and_the_constrained_ones_renormalise_over_the_allowed_tokens()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 512 });
        using var generator = new Generator(context);
        var raw = new List<(float[] Logits, int Token)>();
        var result = generator.Generate("Hello world, the", new GenerationOptions
        {
            MaxTokens = 60,
            Grammar = JsonSchemaGrammar.FromSchema("""{"type":"object","properties":{"pet":{"enum":["cat","dog"]},"n":{"type":"integer","minimum":0,"maximum":9}},"required":["pet","n"],"additionalProperties":false}"""),
            OnStep = (in DecodeStep s) => raw.Add((s.Logits.ToArray(), s.TokenId)),
        });
        Assert.Equal(FinishReason.EndOfGeneration, result.FinishReason);
        Assert.True(result.Tokens.Count >= 5);
        bool sawOverride = false;
        for (int i = 0; i < result.Tokens.Count; i++)
        {
            var t = result.Tokens[i];
            var (logits, token) = raw[i];
            Assert.Equal(token, t.TokenId);
            // Raw log-prob from a double-precision softmax over all logits.
            double max = logits.Max(), lse = max + Math.Log(logits.Sum(x => Math.Exp(x - max)));
            Assert.Equal(logits[token] - lse, t.LogProbability, 3);
            // The chosen token is the most likely allowed one (greedy), so constrained >= raw and the mass is in (0, 1].
            Assert.InRange(t.AllowedLogMass, -80f, 1e-4f);
            Assert.Equal(t.LogProbability - t.AllowedLogMass, t.ConstrainedLogProbability, 4);
            Assert.True(t.AllowedTokenCount >= 1 && t.AllowedTokenCount < model.Vocabulary.Count);
            if (t.AllowedLogMass < -0.1f) sawOverride = true;
            Assert.InRange(t.ConstrainedEntropy, 0f, (float)Math.Log(t.AllowedTokenCount) + 1e-3f);
        }
        Assert.True(sawOverride, "a random model should want tokens the grammar forbids somewhere");
        var constrained = Assert.IsType<UQEngine.Uncertainty.TokenProbabilityScores>(result.ConstrainedUncertainty);
        Assert.True(constrained.SequenceLogProbability >= result.Uncertainty.SequenceLogProbability);
        var fields = JsonFields.Analyze(result);
        Assert.Equal(["/pet", "/n"], fields.Select(f => f.Pointer));
        Assert.All(fields, f => Assert.True(f.TokenCount >= 1 && f.MeanAllowedMass is > 0 and <= 1.0001));
    }

    [Fact]
    public void A_grammar_llama_cpp_cannot_parse_is_an_argument_error_before_decoding()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 256 });
        using var generator = new Generator(context);
        var e = Assert.Throws<ArgumentException>(() => generator.Generate("Hello", new GenerationOptions { Grammar = new GenerationGrammar("root ::= missing-rule") }));
        Assert.Contains("could not parse the grammar", e.Message);
    }

    [Fact]
    public void Json_object_mode_gives_a_json_object()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 2048 });
        using var generator = new Generator(context);
        // A random model may write a long object: cut it at max tokens and only check what a prefix can show.
        var result = generator.Generate("Hello world, the", new GenerationOptions { MaxTokens = 400, Grammar = JsonSchemaGrammar.AnyJsonObject });
        Assert.StartsWith("{", result.Text.TrimStart());
        if (result.FinishReason == FinishReason.EndOfGeneration)
            Assert.Equal(System.Text.Json.JsonValueKind.Object, System.Text.Json.JsonDocument.Parse(result.Text).RootElement.ValueKind);
    }
}
