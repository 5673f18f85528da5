using System.Diagnostics;
using System.Text.RegularExpressions;

namespace UQEngine.Tests;

/// <summary>A real `uqengine serve` process on a free loopback port (the demo model unless -m is given), killed on dispose.</summary>
internal sealed partial class ServeProcess : IDisposable
{
    private readonly Process _process;

    private ServeProcess(Process process, string baseAddress) { _process = process; BaseAddress = baseAddress; }

    /// <summary>"http://127.0.0.1:PORT/v1".</summary>
    public string BaseAddress { get; }

    public int Port => new Uri(BaseAddress).Port;

    /// <summary>"http://127.0.0.1:PORT" (for /health, /metrics).</summary>
    public string Root => BaseAddress[..^"/v1".Length];

    [GeneratedRegex(@"serving at (http://127\.0\.0\.1:\d+/v1)")]
    private static partial Regex ServingLine();

    public static async Task<ServeProcess> StartAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "UQEngine.Cli.dll"));
        foreach (string a in (string[])["serve", "--port", "0", "--threads", "1", .. args]) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_THREADS"] = "1";
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        var log = new System.Text.StringBuilder();
        var reading = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                lock (log) log.AppendLine(line);
                if (ServingLine().Match(line) is { Success: true } m) return m.Groups[1].Value;
            }
            return null;
        });
        if (await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(120))) != reading || await reading is not { } address)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("uqengine serve did not start: " + log);
        }
        _ = Task.Run(async () => { while (await process.StandardError.ReadLineAsync() is not null) { } }); // keep the pipe drained
        return new ServeProcess(process, address);
    }

    /// <summary>Kills the server at once (a replica dying under load).</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
