using System.Diagnostics;
using Xunit;

namespace UQEngine.Tests.Cli;

/// <summary>
/// The Dockerfile builds and the image evaluates a shard on the built-in model, where Docker or Podman can build
/// (a running daemon; the build fetches the .NET images, NuGet packages and llama.cpp's npm package). Elsewhere the
/// test skips and says why (e.g. "docker info: Cannot connect to the Docker daemon").
/// </summary>
[Trait("Category", "Integration")]
public sealed class ContainerBuildTests
{
    private static (int Code, string Output) Exec(string file, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout)) { process.Kill(true); return (-2, $"{file} {string.Join(' ', args)} did not finish in {timeout}"); }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    /// <summary>The first engine whose `info` answers, or why none does.</summary>
    private static (string? Engine, string Why) FindEngine()
    {
        var reasons = new List<string>();
        foreach (string engine in new[] { "docker", "podman" })
        {
            var (code, output) = Exec(engine, TimeSpan.FromSeconds(30), "info");
            if (code == 0) return (engine, "");
            string line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.Length > 0) ?? $"exit code {code}";
            reasons.Add($"{engine} info: {line}");
        }
        return (null, string.Join("; ", reasons));
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UQEngine.sln")) && File.Exists(Path.Combine(d.FullName, "Dockerfile"))) return d.FullName;
        throw new InvalidOperationException($"no checkout with a Dockerfile above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void The_cpu_image_builds_and_evaluates_a_shard()
    {
        var (engine, why) = FindEngine();
        Assert.SkipWhen(engine is null, $"no container engine can build here ({why})");
        string tag = "uqengine-test:" + Guid.NewGuid().ToString("N")[..12];
        var (code, output) = Exec(engine!, TimeSpan.FromMinutes(30), "build", "-t", tag, "-f", Path.Combine(RepositoryRoot(), "Dockerfile"), RepositoryRoot());
        try
        {
            Assert.True(code == 0, $"{engine} build failed:\n{Tail(output)}");
            (code, output) = Exec(engine!, TimeSpan.FromMinutes(5), "run", "--rm", "-e", "UQENGINE_THREADS=1", tag,
                "eval", "-d", "demo:open:eval", "--limit", "8", "--shard", "1/2", "-o", "/work/run", "--bootstrap", "50");
            Assert.True(code == 0, $"{engine} run failed:\n{Tail(output)}");
            Assert.Contains("Shard 1/2 (from --shard)", output);
            Assert.Contains("Accuracy", output);
        }
        finally { Exec(engine!, TimeSpan.FromMinutes(2), "rmi", "-f", tag); }
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
