using System.Diagnostics;

namespace UQEngine.Tests.Cli;

/// <summary>`uqengine` (the CLI beside the test assembly) run as a real process, one thread, its output captured.</summary>
internal static class UqengineProcess
{
    public static (int ExitCode, string Stdout, string Stderr) Run(TimeSpan timeout, params string[] args) => Run(timeout, null, args);

    /// <summary>As <see cref="Run(TimeSpan, string[])"/>, with these environment variables set (null value: removed).</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "UQEngine.Cli.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_THREADS"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) start.Environment.Remove(name); else start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout)) { process.Kill(true); throw new TimeoutException("uqengine did not finish"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
