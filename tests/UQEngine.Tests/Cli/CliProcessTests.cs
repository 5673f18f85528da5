using System.Text.Json;

namespace UQEngine.Tests.Cli;

/// <summary>The `uqengine` commands run as a real process: exit codes, stdout JSON, one-line errors.</summary>
[Trait("Category", "Integration")]
public sealed class CliProcessTests
{
    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => UqengineProcess.Run(TimeSpan.FromMinutes(2), args);

    [Fact]
    public void An_empty_model_path_or_a_pipe_is_a_one_line_error()
    {
        var (code, _, stderr) = Run("generate", "Hi", "-m", "", "-n", "2");
        Assert.Equal(1, code);
        Assert.Equal("uqengine: error: --model is empty: give a GGUF file, or leave --model out to use the built-in demo model", stderr.Trim());

        (code, _, stderr) = Run("generate", "Hi", "-m", "/dev/zero", "-n", "2");
        Assert.Equal(1, code);
        Assert.Contains("a pipe or a device", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Info_json_reports_the_models_facts()
    {
        var (code, stdout, stderr) = Run("info", TestModels.SyntheticPath, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("llama", json.RootElement.GetProperty("architecture").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("layers").GetInt32());
        Assert.Equal(314, json.RootElement.GetProperty("vocabulary").GetInt32());
    }

    [Fact]
    public void Generate_json_gives_tokens_with_logprobs_entropies_and_sequence_scores()
    {
        var (code, stdout, stderr) = Run("generate", "Hello world", "-m", TestModels.SyntheticPath, "-n", "5", "--json", "--top-logprobs", "2");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var result = json.RootElement.GetProperty("results")[0];
        var tokens = result.GetProperty("tokens").EnumerateArray().ToList();
        Assert.InRange(tokens.Count, 1, 5);
        double sum = 0;
        foreach (var t in tokens)
        {
            double logprob = t.GetProperty("logprob").GetDouble();
            Assert.True(logprob <= 0);
            Assert.True(t.GetProperty("entropy").GetDouble() > 0);
            Assert.Equal(2, t.GetProperty("top_logprobs").GetArrayLength());
            sum += logprob;
        }
        Assert.Equal(sum, result.GetProperty("uncertainty").GetProperty("sequence_logprob").GetDouble(), 1e-3);
    }

    [Fact]
    public void Score_json_scores_every_answer_token()
    {
        var (code, stdout, stderr) = Run("score", "-m", TestModels.SyntheticPath, "-p", "Hello", "-a", " world, the", "--raw", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var tokens = json.RootElement.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(" world, the", string.Concat(tokens.Select(t => t.GetProperty("text").GetString())));
        Assert.True(json.RootElement.GetProperty("uncertainty").GetProperty("perplexity").GetDouble() >= 1);
    }

    [Fact]
    public void A_corrupt_model_is_one_clear_error_line_and_exit_code_1()
    {
        string bad = TestModels.TempFile("cli-corrupt.gguf");
        File.WriteAllBytes(bad, File.ReadAllBytes(TestModels.SyntheticPath)[..1000]);
        foreach (var args in new[] { new[] { "info", bad }, ["generate", "hi", "-m", bad], ["generate", "hi", "-m", bad, "--device", "tpu"] })
        {
            var (code, _, stderr) = Run(args);
            Assert.Equal(1, code);
            Assert.StartsWith("uqengine: error:", stderr.Trim());
            Assert.DoesNotContain("   at ", stderr); // no stack trace
        }
    }
}
