using System.Diagnostics;
using System.Globalization;

namespace UQEngine.Cli.Commands;

/// <summary>
/// Runs the TorchSharp trainer (src/UQEngine.Training.Torch) for `uqengine model build`. That project stays out of
/// the solution (libtorch restores well over 1 GB), so it is built on demand from a source checkout and run as a
/// child process; its "step i/n ..." lines drive the caller's progress bar.
/// </summary>
internal static class TorchTrainerLauncher
{
    public sealed record StepLine(long Step, long TotalSteps, string Text);

    /// <summary>Builds and runs the trainer; returns when it has written <paramref name="outputPath"/> (F16) and the F32 file in <paramref name="workDirectory"/>.</summary>
    public static void Run(string checkout, string recipePath, string outputPath, string workDirectory, Action<StepLine> onStep, Action<string> onLine, CancellationToken cancellation)
    {
        string project = Path.Combine(checkout, "src", "UQEngine.Training.Torch");
        if (!File.Exists(Path.Combine(project, "UQEngine.Training.Torch.csproj")))
            throw new CliException($"the TorchSharp trainer was not found at {project}; `model build` with the \"torch\" trainer needs a source checkout");
        onLine("building the TorchSharp trainer (the first build restores libtorch, over 1 GB)");
        Execute("dotnet", ["build", "-c", "Release", "--nologo", "-v", "q", project], null, onLine, cancellation);

        string bin = Path.Combine(project, "bin", "Release", "net10.0");
        string? preload = null;
        if (!SystemLibStdCxxHas("GLIBCXX_3.4.32"))
        {
            // TorchSharp 0.107.0 is linked against GCC 13's libstdc++; the shim makes it load on older ones (see models/README.md).
            Execute("bash", [Path.Combine(project, "shim", "apply.sh"), bin], null, onLine, cancellation);
            preload = Path.Combine(bin, "glibcxx_shim.so");
        }
        Execute("dotnet", [Path.Combine(bin, "UQEngine.Training.Torch.dll"), "train", "--recipe", recipePath, "--out", outputPath, "--work", workDirectory],
            preload, line =>
            {
                if (TryParseStep(line) is { } step) onStep(step);
                else onLine(line);
            }, cancellation);
    }

    /// <summary>"step 120/2923 epoch 1/8 loss 2.345 lr 1.5e-3" → (120, 2923).</summary>
    internal static StepLine? TryParseStep(string line)
    {
        if (!line.StartsWith("step ", StringComparison.Ordinal)) return null;
        string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] counts = parts.Length > 1 ? parts[1].Split('/') : [];
        return counts.Length == 2 && long.TryParse(counts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long step)
            && long.TryParse(counts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long total)
            ? new StepLine(step, total, string.Join(' ', parts.Skip(2)))
            : null;
    }

    private static bool SystemLibStdCxxHas(string version)
    {
        foreach (string path in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(path))
                return File.ReadAllBytes(path).AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(version + "\0")) >= 0;
        return false;
    }

    private static void Execute(string file, IReadOnlyList<string> arguments, string? preload, Action<string> onLine, CancellationToken cancellation)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        if (preload is not null) start.Environment["LD_PRELOAD"] = preload;
        using var process = Process.Start(start) ?? throw new CliException($"could not start {file}");
        var tail = new Queue<string>();
        void Take(string? line)
        {
            if (line is null) return;
            lock (tail)
            {
                tail.Enqueue(line);
                if (tail.Count > 20) tail.Dequeue();
                onLine(line);
            }
        }
        process.OutputDataReceived += (_, e) => Take(e.Data);
        process.ErrorDataReceived += (_, e) => Take(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using (cancellation.Register(() => { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }))
            process.WaitForExit();
        cancellation.ThrowIfCancellationRequested();
        if (process.ExitCode != 0)
            throw new CliException($"{Path.GetFileName(file)} {string.Join(' ', arguments.Take(2))} failed (exit {process.ExitCode}):\n{string.Join('\n', tail)}");
    }
}
