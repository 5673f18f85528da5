using UQEngine.Demo;

namespace UQEngine.Tests.Cli;

/// <summary>`uqengine model fields` as a real process: the per-field table, and bad arguments as one clear error.</summary>
[Trait("Category", "Integration")]
public sealed class ModelFieldsCliTests
{
    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => UqengineProcess.Run(TimeSpan.FromSeconds(120), args);

    [Fact]
    public void Prints_a_row_per_field_and_the_pooled_row_for_each_mode_asked()
    {
        Assert.SkipUnless(DemoModels.FindFolder() is not null, "the demo model (models/demo) is not in this checkout");
        var (code, stdout, stderr) = Run("model", "fields", "--limit", "3", "--mode", "plain", "free", "-t", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("### plain:", stdout);
        Assert.Contains("### free:", stdout);
        Assert.DoesNotContain("### prefilled:", stdout);
        foreach (string field in new[] { "city", "colour", "pet", "number", "month", "all fields" })
            Assert.Equal(2, stdout.Split('\n').Count(line => line.StartsWith($"| {field} |", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_missing_model_and_an_unknown_mode_are_errors_naming_them()
    {
        var (code, _, stderr) = Run("model", "fields", "-m", "/nonexistent/model.gguf");
        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/model.gguf", stderr);
        (code, _, stderr) = Run("model", "fields", "--mode", "guess");
        Assert.NotEqual(0, code);
        Assert.Contains("guess", stderr);
        Assert.DoesNotContain("Unhandled exception", stderr);
    }
}
