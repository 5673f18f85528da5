using System.Globalization;

namespace UQEngine.LLamaSharp.Tests;

/// <summary>
/// tests/Apps/LLamaSharpApp (LLamaSharp + its CPU backend + UQEngine.LLamaSharp, outside the solution) builds, runs,
/// and prints UQEngine's per-token uncertainty: the numbers of `uqengine generate` for the same prompt.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LLamaSharpAppTests
{
    [Fact]
    public void The_sample_app_prints_uqengines_per_token_uncertainty()
    {
        string output = Directory.CreateTempSubdirectory("uqengine-llamasharpapp-").FullName;
        try
        {
            var (buildCode, buildOut, buildErr) = Repo.Run("dotnet", ["build", Path.Combine(Repo.Root, "tests", "Apps", "LLamaSharpApp", "LLamaSharpApp.csproj"),
                "-c", Repo.Configuration, "-o", output, "-nologo", "-v", "q",
                // With -o every referenced project builds into the app's folder, the core's copy of UQEngine's llama.cpp
                // included; a LLamaSharp app must not carry it (same file names as LLamaSharp's, other struct layouts).
                "-p:UQEngineNeedsNative=false"], TimeSpan.FromMinutes(5));
            Assert.True(buildCode == 0, buildOut + buildErr);
            // The app carries LLamaSharp's llama.cpp and not UQEngine's (they cannot share a process).
            Assert.False(Directory.Exists(Path.Combine(output, "native", "cpu")), "UQEngine's native libraries were copied into a LLamaSharp app");
            Assert.True(Directory.Exists(Path.Combine(output, "runtimes")), "LLamaSharp's backend libraries are missing");

            const string prompt = "Zaibath was born in";
            var (code, stdout, stderr) = Repo.Run("dotnet", [Path.Combine(output, "LLamaSharpApp.dll"), Repo.DemoModel, prompt, "10"]);
            Assert.True(code == 0, stdout + stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var tokens = lines.Where(l => l.StartsWith("token\t", StringComparison.Ordinal)).Select(l => l.Split('\t')).ToList();
            var scores = Assert.Single(lines, l => l.StartsWith("scores\t", StringComparison.Ordinal)).Split('\t');

            using var json = Repo.Cli("generate", prompt, "-m", Repo.DemoModel, "--raw", "--json", "-n", "10", "--top-logprobs", "0");
            var result = json.RootElement.GetProperty("results")[0];
            var expected = result.GetProperty("tokens").EnumerateArray().ToList();
            Assert.Equal(result.GetProperty("uncertainty").GetProperty("token_count").GetInt32(), tokens.Count);
            Assert.NotEmpty(expected);
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].GetProperty("text").GetString()!.Replace("\n", "\\n"), tokens[i][1]);
                Assert.Equal(Math.Exp(expected[i].GetProperty("logprob").GetDouble()), Parse(tokens[i][2]), 1e-5);
                Assert.Equal(expected[i].GetProperty("entropy").GetDouble(), Parse(tokens[i][3]), 1e-5);
                Assert.Equal(expected[i].GetProperty("rank").GetInt32(), int.Parse(tokens[i][4], CultureInfo.InvariantCulture));
            }
            Assert.Equal(result.GetProperty("uncertainty").GetProperty("sequence_probability").GetDouble(), Parse(scores[1]), 1e-5);
            Assert.Equal(result.GetProperty("uncertainty").GetProperty("mean_entropy").GetDouble(), Parse(scores[3]), 1e-5);
        }
        finally { Directory.Delete(output, recursive: true); }
    }

    private static double Parse(string s) => double.Parse(s, CultureInfo.InvariantCulture);
}
