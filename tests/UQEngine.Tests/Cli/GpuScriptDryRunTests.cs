using System.Diagnostics;
using System.Text.Json;

namespace UQEngine.Tests.Cli;

/// <summary>
/// bench/gpu/gpu-check.sh, the script a lent GPU machine runs, as a CPU dry run with this build's CLI: every step
/// must pass, and parity of two CPU processes must be exact (so the comparison itself is sound before it ever judges
/// a GPU). No GPU result is simulated: the device under test is the CPU.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GpuScriptDryRunTests
{
    private static string? RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "bench", "gpu", "gpu-check.sh"))) return d.FullName;
        return null;
    }

    [Fact]
    public async Task Dry_run_on_the_cpu_passes_every_step_with_exact_cpu_parity()
    {
        string root = RepositoryRoot() ?? throw new InvalidOperationException("bench/gpu/gpu-check.sh not found above the test output");
        string outDir = Path.Combine(Path.GetTempPath(), $"uqengine-gpu-dry-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
        foreach (string a in new[] { Path.Combine(root, "bench", "gpu", "gpu-check.sh"), "--dry-run", "--device", "cpu", outDir }) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_CLI"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "UQEngine.Cli.dll")}";
        start.Environment["UQENGINE_THREADS"] = "1";
        // Keep the ladder's quantized rungs out of the user's cache.
        start.Environment["UQENGINE_CACHE"] = Path.Combine(outDir, "cache");
        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8)))
            {
                try { await process.WaitForExitAsync(limit.Token); }
                catch (OperationCanceledException) { process.Kill(true); throw new TimeoutException("gpu-check.sh --dry-run did not finish in 8 minutes"); }
            }
            string log = await stdout + await stderr;

            string summaryPath = Path.Combine(outDir, "summary.json");
            Assert.True(File.Exists(summaryPath), log);
            using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
            var steps = summary.RootElement.GetProperty("steps").EnumerateArray()
                .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("status").GetString()!);
            Assert.Equal("skipped", steps["0-bundle"]); // UQENGINE_CLI: no bundle used
            foreach (string step in new[] { "1-system", "2-parity", "3-compare", "4-decode", "5-serve" })
                Assert.True(steps.GetValueOrDefault(step) == "passed", $"step {step}: {steps.GetValueOrDefault(step)}\n{log}");
            Assert.True(summary.RootElement.GetProperty("passed").GetBoolean(), log);
            Assert.Equal(0, process.ExitCode);

            foreach (string model in new[] { "demo", "bench" })
            {
                using var parity = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, $"parity-{model}-compare.json")));
                var r = parity.RootElement;
                Assert.True(r.GetProperty("pass").GetBoolean(), model);
                Assert.Equal(r.GetProperty("prompts").GetInt32(), r.GetProperty("greedy_identical").GetInt32());
                Assert.Equal(r.GetProperty("samples_total").GetInt32(), r.GetProperty("samples_identical").GetInt32());
                Assert.True(r.GetProperty("samples_total").GetInt32() > 0);
                foreach (string max in new[] { "max_probability_difference", "max_entropy_difference", "max_sample_probability_difference", "max_mid_relative_l2", "max_final_relative_l2", "max_early_exit_relative_l2" })
                    Assert.True(r.GetProperty(max).GetDouble() == 0, $"{model} {max} = {r.GetProperty(max).GetDouble()}");
                Assert.True(r.GetProperty("reference_early_exit_ok").GetBoolean() && r.GetProperty("candidate_early_exit_ok").GetBoolean(), model);
            }
        }
        finally
        {
            try { Directory.Delete(outDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
