using System.Text.Json;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Cli;

/// <summary>`generate --methods` and `sensitivity` as a real process on the synthetic model.</summary>
[Trait("Category", "Integration")]
public sealed class SampleMethodsCliTests
{
    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => UqengineProcess.Run(TimeSpan.FromMinutes(3), args);

    [Fact]
    public void Generate_with_methods_prints_every_methods_score_in_json()
    {
        var (code, stdout, stderr) = Run("generate", "What is the capital of France?", "-m", TestModels.SyntheticPath, "-n", "5", "--json",
            "--methods", "msp,sar,semantic_entropy,num_sem_sets,lexical_similarity", "--sample-count", "3");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var methods = json.RootElement.GetProperty("methods").EnumerateArray().ToDictionary(m => m.GetProperty("method").GetString()!, m => m.GetProperty("uncertainty").GetDouble());
        Assert.Equal(["msp", "sar", "semantic_entropy", "num_sem_sets", "lexical_similarity"], methods.Keys);
        Assert.All(methods.Values, v => Assert.True(double.IsFinite(v)));
        Assert.InRange(methods["num_sem_sets"], 1, 3);
        Assert.InRange(methods["lexical_similarity"], -1, 0);

        // The options reach the estimators: a threshold of 0 puts every sample in one set, 1 keeps (near) all apart.
        (code, stdout, stderr) = Run("generate", "What is the capital of France?", "-m", TestModels.SyntheticPath, "-n", "5", "--json",
            "--methods", "num_sem_sets", "--sample-count", "3", "--cluster-threshold", "0");
        Assert.True(code == 0, stderr);
        using var one = JsonDocument.Parse(stdout);
        Assert.Equal(1.0, one.RootElement.GetProperty("methods")[0].GetProperty("uncertainty").GetDouble());
    }

    [Fact]
    public void Bad_sampling_options_are_one_line_errors()
    {
        var (code, _, stderr) = Run("generate", "Hi", "-m", TestModels.SyntheticPath, "--methods", "semantic_entropy", "--cluster-threshold", "2");
        Assert.Equal(1, code);
        Assert.Contains("cluster threshold must be in [0, 1]", stderr);
        (code, _, stderr) = Run("generate", "Hi", "-m", TestModels.SyntheticPath, "--methods", "sar", "--similarity", "nli");
        Assert.Equal(1, code);
        Assert.Contains("--similarity must be", stderr);
        (code, _, stderr) = Run("generate", "Hi", "-m", TestModels.SyntheticPath, "--methods", "sar", "--hidden-layer", "fourth");
        Assert.Equal(1, code);
        Assert.Contains("--hidden-layer must be middle, final or a layer index", stderr);
    }

    [Theory]
    [InlineData("middle")]
    [InlineData("final")]
    [InlineData("0")]
    public void Sar_runs_on_every_hidden_state_choice(string layer)
    {
        var (code, stdout, stderr) = Run("generate", "What is the capital of France?", "-m", TestModels.SyntheticPath, "-n", "5", "--json",
            "--methods", "sar,sentence_sar", "--sample-count", "3", "--hidden-layer", layer);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.All(json.RootElement.GetProperty("methods").EnumerateArray(), m => Assert.True(double.IsFinite(m.GetProperty("uncertainty").GetDouble())));
    }

    [Fact]
    public void Sensitivity_caches_the_samples_and_re_scores_a_new_grid_without_sampling_again()
    {
        using var dir = new TempDirectory();
        string data = dir.File("items.jsonl");
        File.WriteAllLines(data, [
            """{"id":"o1","question":"Who wrote Hamlet?","answer":"Shakespeare"}""",
            """{"id":"o2","question":"What colour is the sky?","answer":"blue"}""",
            """{"id":"m1","question":"2+2?","options":["3","4","5"],"answer":"B"}""",
        ]);
        string output = dir.File("out");
        string[] common = ["sensitivity", "-d", data, "-o", output, "-m", TestModels.SyntheticPath, "-n", "4", "--temperatures", "0.7,1", "--sample-temperature", "0.7", "--ks", "2,3", "--sample-count", "3", "--similarity", "rouge-l"];
        var (code, _, stderr) = Run([.. common, "--thresholds", "0.5,0.9"]);
        Assert.True(code == 0, stderr);
        string samples = File.ReadAllText(Path.Combine(output, "samples.jsonl"));
        Assert.Equal(3, samples.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        string report = File.ReadAllText(Path.Combine(output, "sensitivity.md"));
        Assert.Contains("## semantic_entropy", report);
        Assert.Contains("## degmat", report);
        Assert.Contains("| 0.9 |", report);

        (code, _, stderr) = Run([.. common, "--thresholds", "0.3,0.5"]);
        Assert.True(code == 0, stderr);
        Assert.Equal(samples, File.ReadAllText(Path.Combine(output, "samples.jsonl"))); // reused, not resampled
        Assert.Contains("| 0.3 |", File.ReadAllText(Path.Combine(output, "sensitivity.md")));

        (code, _, stderr) = Run([.. common.Take(common.Length - 6), "--ks", "2,4", "--sample-count", "4", "--similarity", "rouge-l", "--thresholds", "0.5"]);
        Assert.Equal(1, code);
        Assert.Contains("other settings", stderr); // K_max changed: the cache does not fit
    }
}
