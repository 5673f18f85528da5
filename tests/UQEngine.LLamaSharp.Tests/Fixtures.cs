using System.Diagnostics;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;

namespace UQEngine.LLamaSharp.Tests;

/// <summary>The repository, the demo model, and the `uqengine` CLI run as a separate process (UQEngine's own llama.cpp).</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string DemoModel => Path.Combine(Root, "models", "demo", "uqengine-demo-f16.gguf");

#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UQEngine.sln"))) return d.FullName;
        throw new InvalidOperationException("UQEngine.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs a process to completion: exit code and stdout + stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        // Two shared cores: llama.cpp's spinning workers make 2 threads far slower than 1 (README, Threads).
        start.Environment["UQENGINE_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3))) { process.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>`uqengine ARGS` (this configuration's CLI build) as JSON.</summary>
    public static JsonDocument Cli(params string[] args)
    {
        string cli = Path.Combine(Root, "src", "UQEngine.Cli", "bin", Configuration, "net10.0", "UQEngine.Cli.dll");
        Assert.True(File.Exists(cli), $"the CLI is not built at {cli} (dotnet build UQEngine.sln builds it)");
        var (code, stdout, stderr) = Run("dotnet", [cli, .. args]);
        Assert.True(code == 0, $"uqengine {string.Join(' ', args)} failed ({code}): {stderr}");
        return JsonDocument.Parse(stdout);
    }
}

/// <summary>The demo model loaded once through LLamaSharp 0.30.0 (its CPU backend) for the whole test assembly.</summary>
public sealed class DemoWeights : IDisposable
{
    static DemoWeights()
    {
        // Quiet llama.cpp: its load log would bury test output.
        NativeLibraryConfig.All.WithLogCallback((level, message) => { });
    }

    public LLamaWeights Weights { get; }

    public DemoWeights() => Weights = LLamaWeights.LoadFromFile(Parameters());

    public static ModelParams Parameters(uint sequences = 1) => new(Repo.DemoModel)
    {
        ContextSize = 512,
        BatchSize = 512,
        SeqMax = sequences,
        Threads = 1,
        BatchThreads = 1,
        GpuLayerCount = 0,
    };

    public LLamaContext Context(uint sequences = 1) => Weights.CreateContext(Parameters(sequences));

    public void Dispose() => Weights.Dispose();
}

[CollectionDefinition(Name)]
public sealed class DemoCollection : ICollectionFixture<DemoWeights>
{
    public const string Name = "demo model through LLamaSharp";
}
