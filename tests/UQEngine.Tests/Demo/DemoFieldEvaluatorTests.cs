using System.Text.Json;
using UQEngine.Demo;
using UQEngine.Evaluation.Metrics;
using UQEngine.Structured;
using UQEngine.Tests.Structured;

namespace UQEngine.Tests.Demo;

/// <summary>Grading of the structured-extraction evaluation: field matching, missing fields, the schema, the summary.</summary>
public sealed class DemoFieldEvaluatorTests
{
    private static readonly DemoWorld World = DemoWorld.Generate();

    [Theory]
    [InlineData("\"fox\"", "fox", true)]
    [InlineData("\"Fox\"", "fox", false)]      // case counts, as in the open-answer grading
    [InlineData("\"fox \"", "fox", false)]     // so does a trailing space
    [InlineData("\"f\\u006Fx\"", "fox", true)] // an escaped character is the same string
    [InlineData("17", "17", true)]             // the schema's integers
    [InlineData("\"17\"", "17", true)]         // and the number as a string
    [InlineData("17.0", "17", false)]          // the world's numbers are integers
    [InlineData("1.7e1", "17", false)]
    [InlineData("-17", "17", false)]
    [InlineData("null", "fox", false)]
    [InlineData("true", "true", false)]
    [InlineData("[\"fox\"]", "fox", false)]
    [InlineData("{\"pet\":\"fox\"}", "fox", false)]
    [InlineData("fox", "fox", false)]          // not JSON
    [InlineData("", "fox", false)]
    [InlineData(null, "fox", false)]
    public void A_value_matches_only_the_worlds_value_as_a_JSON_string_or_integer(string? json, string expected, bool matches) =>
        Assert.Equal(matches, DemoFieldEvaluator.Matches(json, expected));

    [Fact]
    public void Grading_finds_each_field_by_its_pointer_and_counts_a_missing_field_wrong_with_no_confidence()
    {
        string person = World.People[0];
        var facts = World.Items.Where(i => i.Family == DemoFamily.Recall && i.Subject == person).ToDictionary(i => i.Relation);
        string wrongPet = World.Relations.Single(r => r.Name == "pet").Values.First(v => v != facts["pet"].Answer);
        var fields = new List<JsonFieldUncertainty>
        {
            Field("/city", JsonSerializer.Serialize(facts["city"].Answer), -0.1),
            Field("/pet", JsonSerializer.Serialize(wrongPet), -2.0),
            Field("/number", facts["number"].Answer, -0.5),
            Field("/colour/0", JsonSerializer.Serialize(facts["colour"].Answer), -0.2), // right value, wrong place
            Field("/Month", JsonSerializer.Serialize(facts["month"].Answer), -0.3),     // keys are case-sensitive
        };

        var graded = DemoFieldEvaluator.Grade(person, facts, fields, answerLogProbability: -7.5).ToDictionary(r => r.Relation);

        Assert.Equal(5, graded.Count);
        Assert.True(graded["city"].Correct);
        Assert.Equal(-0.1, graded["city"].LogProbability);
        Assert.False(graded["pet"].Correct);
        Assert.Equal(JsonSerializer.Serialize(wrongPet), graded["pet"].Value);
        Assert.True(graded["number"].Correct);
        foreach (string missing in new[] { "colour", "month" })
        {
            Assert.False(graded[missing].Correct);
            Assert.Null(graded[missing].Value);
            Assert.Equal(double.NegativeInfinity, graded[missing].LogProbability);
            Assert.Equal(0, graded[missing].AllowedMass);
        }
        Assert.All(graded.Values, r => Assert.Equal(-7.5, r.AnswerLogProbability));
        Assert.All(graded.Values, r => Assert.Equal(facts[r.Relation].Split, r.Split));
    }

    [Fact]
    public void The_schema_accepts_every_persons_true_facts_and_rejects_other_values()
    {
        string schema = DemoFieldEvaluator.Schema(World);
        _ = JsonSchemaGrammar.FromSchema(schema); // every keyword it uses is supported
        foreach (var person in World.Items.Where(i => i.Family == DemoFamily.Recall).GroupBy(i => i.Subject).Take(10))
        {
            var obj = person.ToDictionary(i => i.Relation, i => i.Relation == "number" ? (object)int.Parse(i.Answer) : i.Answer);
            SchemaAssert.Valid(schema, JsonSerializer.Serialize(obj));
            Assert.False(SchemaAssert.IsValid(schema, JsonSerializer.Serialize(new Dictionary<string, object>(obj) { ["city"] = "Paris" })));
            Assert.False(SchemaAssert.IsValid(schema, JsonSerializer.Serialize(new Dictionary<string, object>(obj) { ["number"] = person.Single(i => i.Relation == "number").Answer })));
            Assert.False(SchemaAssert.IsValid(schema, JsonSerializer.Serialize(obj.Where(kv => kv.Key != "pet").ToDictionary())));
        }
    }

    [Fact]
    public void The_summary_ranks_correct_fields_by_confidence_and_says_when_a_field_has_one_class()
    {
        DemoFieldResult Row(string relation, bool correct, double logP, double answer) =>
            new("p", relation, "x", "\"x\"", correct, logP, logP, 0.5, answer, DemoSplit.Eval, 1);
        var results = new[]
        {
            Row("pet", true, -0.1, -3), Row("pet", true, -0.2, -1), Row("pet", false, -4, -2), Row("pet", false, double.NegativeInfinity, -0.5),
            Row("city", true, -0.1, -1), Row("city", true, -0.3, -1),
        };

        var rows = DemoFieldEvaluator.Summarize(results, ["city", "pet"], new BootstrapOptions { Resamples = 200 });

        Assert.Equal(["city", "pet", "all fields"], rows.Select(r => r.Field));
        Assert.Equal(1.0, rows[1].ProbabilityAuroc.Estimate.Value);        // every correct field above every wrong one
        Assert.Equal(0.25, rows[1].AnswerAuroc.Estimate.Value, 10);       // the answer's score ranks them worse
        Assert.Equal(0.5, rows[1].Accuracy.Estimate.Value);
        Assert.False(rows[0].ProbabilityAuroc.Estimate.IsDefined);         // city: all correct
        Assert.Equal(6, rows[2].Count);
        Assert.Equal(4.0 / 6, rows[2].Accuracy.Estimate.Value, 10);
    }

    private static JsonFieldUncertainty Field(string pointer, string value, double logP) =>
        new(pointer, value, 1, logP, logP, logP, logP, logP, logP, 0.1, 0.9, 0.9);
}

/// <summary>The evaluation on the committed demo model: legal values under the grammar, and the in-distribution ceiling.</summary>
[Trait("Category", "Integration")]
public sealed class DemoFieldEvaluatorModelTests(DemoModelFixture demo) : IClassFixture<DemoModelFixture>
{
    [Fact]
    public void Every_mode_answers_every_field_with_a_world_value_and_plain_answers_beat_chance()
    {
        Assert.SkipUnless(demo.Available, "no trained demo model is committed (models/demo/uqengine-demo-f16.gguf)");
        using var evaluator = new DemoFieldEvaluator(demo.Model!, demo.World!, threads: 1);
        var legal = demo.World!.Relations.ToDictionary(r => r.Name, r => r.Values.ToHashSet());
        foreach (var mode in Enum.GetValues<DemoFieldMode>())
        {
            var results = evaluator.EvaluateAll(mode, limit: 8);
            Assert.NotEmpty(results);
            Assert.All(results, r =>
            {
                Assert.Equal(DemoSplit.Eval, r.Split);
                Assert.NotNull(r.Value);
                using var doc = JsonDocument.Parse(r.Value!);
                Assert.Contains(doc.RootElement.ValueKind == JsonValueKind.Number ? doc.RootElement.GetRawText() : doc.RootElement.GetString()!, legal[r.Relation]);
                Assert.True(r.LogProbability <= 0 && r.ConstrainedLogProbability <= 1e-6 && r.AllowedMass is > 0 and <= 1 + 1e-6, $"{mode} {r}");
            });
            // Plain answers are how the model was trained: well above the 1/12 chance of a pet or month.
            if (mode == DemoFieldMode.Plain) Assert.True(results.Count(r => r.Correct) > results.Count / 2, $"plain accuracy {results.Count(r => r.Correct)}/{results.Count}");
        }
    }
}
