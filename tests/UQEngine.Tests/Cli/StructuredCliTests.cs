using System.Text.Json;
using UQEngine.Tests.Structured;

namespace UQEngine.Tests.Cli;

/// <summary>`uqengine generate --json-schema FILE` and `--json-object` as a real process.</summary>
[Trait("Category", "Integration")]
public sealed class StructuredCliTests
{
    private const string Schema = """
        {"type":"object","properties":{"pet":{"enum":["cat","dog"]},"n":{"type":"integer","minimum":0,"maximum":9}},"required":["pet","n"],"additionalProperties":false}
        """;

    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => UqengineProcess.Run(TimeSpan.FromSeconds(120), args);

    [Fact]
    public void Json_schema_answers_validate_and_each_sample_has_its_fields()
    {
        string file = TestModels.TempFile("cli-schema.json");
        File.WriteAllText(file, Schema);
        var (code, stdout, stderr) = Run("generate", "Hello world", "-m", TestModels.SyntheticPath, "-n", "200", "--json", "--json-schema", file,
            "--samples", "2", "--temperature", "1");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        var fields = doc.RootElement.GetProperty("fields").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        for (int i = 0; i < 2; i++)
        {
            SchemaAssert.Valid(Schema, results[i].GetProperty("text").GetString()!);
            Assert.Equal(["/pet", "/n"], fields[i].EnumerateArray().Select(f => f.GetProperty("pointer").GetString()));
            Assert.All(fields[i].EnumerateArray(), f => Assert.InRange(f.GetProperty("agreement").GetDouble(), 0.5, 1));
        }
    }

    [Fact]
    public void The_table_view_shows_the_fields_and_bad_schemas_are_one_clear_error()
    {
        string file = TestModels.TempFile("cli-schema-table.json");
        File.WriteAllText(file, Schema);
        var (code, stdout, stderr) = Run("generate", "Hello world", "-m", TestModels.SyntheticPath, "-n", "200", "--json-schema", file);
        Assert.True(code == 0, stderr);
        Assert.Contains("/pet", stdout);
        Assert.Contains("allowed", stdout);

        string bad = TestModels.TempFile("cli-schema-bad.json");
        File.WriteAllText(bad, """{"type":"string","pattern":"^x"}""");
        (code, _, stderr) = Run("generate", "Hello", "-m", TestModels.SyntheticPath, "--json-schema", bad);
        Assert.Equal(1, code);
        Assert.Contains("'pattern'", stderr);
        (code, _, stderr) = Run("generate", "Hello", "-m", TestModels.SyntheticPath, "--json-schema", file, "--json-object");
        Assert.Equal(1, code);
        Assert.Contains("exclude each other", stderr);
    }
}
