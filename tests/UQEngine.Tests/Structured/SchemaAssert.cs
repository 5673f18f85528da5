using System.Text.Json;
using Json.Schema;

namespace UQEngine.Tests.Structured;

/// <summary>Validates JSON texts against a schema with JsonSchema.Net (formats checked too).</summary>
internal static class SchemaAssert
{
    public static void Valid(string schema, string json)
    {
        var compiled = JsonSchema.FromText(schema);
        using var doc = JsonDocument.Parse(json);
        var result = compiled.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true, OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, $"not valid against the schema: {json}\n{JsonSerializer.Serialize(result)}");
    }

    public static bool IsValid(string schema, string json)
    {
        using var doc = JsonDocument.Parse(json);
        return JsonSchema.FromText(schema).Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true }).IsValid;
    }
}
