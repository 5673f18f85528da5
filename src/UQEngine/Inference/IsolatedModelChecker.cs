using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Inference;

/// <summary>What an isolated check of a model file found.</summary>
public enum ModelCheckOutcome
{
    /// <summary>llama.cpp loaded the model and decoded one token.</summary>
    Passed,

    /// <summary>The managed GGUF reader refused the file (structure).</summary>
    RefusedByReader,

    /// <summary><see cref="Gguf.GgufModelValidator"/> refused the file (a llama.cpp limit).</summary>
    RefusedByValidator,

    /// <summary>llama.cpp refused the file cleanly (an error, no crash).</summary>
    LoadFailed,

    /// <summary>A managed exception other than a clean refusal: a bug of the host.</summary>
    Faulted,

    /// <summary>The checking process died (native abort or crash), which would have killed the host.</summary>
    Crashed,

    /// <summary>The checking process did not answer in time and was killed.</summary>
    TimedOut,
}

/// <summary>
/// One file's check. <paramref name="Signal"/> and <paramref name="Assertion"/> are set for <see cref="ModelCheckOutcome.Crashed"/>:
/// the signal that ended the checker and llama.cpp's last words on stderr (a GGML_ASSERT line, an uncaught C++ exception).
/// <paramref name="NonFiniteLogits"/>: the decoded token's logits held NaN or ±∞ (the weights are broken).
/// </summary>
public sealed record ModelCheckResult(ModelCheckOutcome Outcome, string Message, int? Signal = null, string? Assertion = null, bool NonFiniteLogits = false)
{
    /// <summary>The file is safe to load in this process.</summary>
    public bool Passed => Outcome == ModelCheckOutcome.Passed;
}

/// <summary>How the isolated checker loads and decodes.</summary>
public sealed record IsolatedCheckOptions
{
    /// <summary>Longest wait for one file's answer before the checker is killed and the file reported as hanging.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Run the managed reader and validator in the child first (the product's load path). Off only to test the isolation itself.</summary>
    public bool Validate { get; init; } = true;

    /// <summary>Device and GPU layers the child loads with.</summary>
    public ModelOptions Model { get; init; } = new();

    /// <summary>CPU threads of the child's context.</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>
/// Defence in depth for model files of unknown origin: a child process (UQEngine.ModelCheck, shipped next to this
/// assembly) loads each file through <see cref="LlamaModel.Load"/> and decodes one token. A file that makes
/// llama.cpp abort (GGML_ASSERT) or crash kills the child, not this process, and comes back as
/// <see cref="ModelCheckOutcome.Crashed"/> naming the signal and the assertion. One child serves many files in
/// sequence (a file per stdin line, an answer per stdout line) and is restarted after a crash or a hang.
/// Not thread-safe: one file at a time.
/// </summary>
public sealed class IsolatedModelChecker : IDisposable
{
    /// <summary>The checker's file name, looked for next to this assembly and the app.</summary>
    public const string CheckerFileName = "UQEngine.ModelCheck.dll";

    /// <summary>Environment variable naming the checker (a .dll run with dotnet, or an executable) when it lives elsewhere.</summary>
    public const string CheckerVariable = "UQENGINE_MODEL_CHECKER";

    /// <summary>Marks the start of one file's stderr in the child, so a crash is paired with its own last words.</summary>
    internal const char StartMarker = '\u001e';

    private readonly IsolatedCheckOptions _options;
    private readonly string _checker;
    private Process? _child;
    private readonly StringBuilder _stderr = new();
    private readonly Lock _stderrGate = new();

    public IsolatedModelChecker(IsolatedCheckOptions? options = null)
    {
        _options = options ?? new IsolatedCheckOptions();
        _checker = FindChecker() ?? throw new InferenceException(
            $"the isolated model check needs {CheckerFileName} next to {Path.GetFileName(typeof(IsolatedModelChecker).Assembly.Location)} " +
            $"(reference the UQEngine.ModelCheck project or package) or {CheckerVariable} naming it");
    }

    /// <summary>
    /// Null when a checker child can be started here; otherwise why not: the checker is missing, or it is a .dll and
    /// no dotnet host can run it (a self-contained app on a machine without .NET).
    /// </summary>
    public static string? Unavailable()
    {
        string? checker = FindChecker();
        if (checker is null) return $"{CheckerFileName} was not found next to the app ({CheckerVariable} can name it)";
        if (!checker.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) return null;
        string host = DotnetHost();
        if (Path.IsPathRooted(host) || OnPath(host)) return null;
        return $"no dotnet host to run {CheckerFileName} (a self-contained app on a machine without .NET; {CheckerVariable} can name an executable checker)";
    }

    private static bool OnPath(string file) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, file)));

    /// <summary>Children started so far (1 + restarts after crashes and hangs).</summary>
    public int ProcessesStarted { get; private set; }

    /// <summary>Checks one file in a fresh child and ends it.</summary>
    public static ModelCheckResult CheckOnce(string path, IsolatedCheckOptions? options = null)
    {
        using var checker = new IsolatedModelChecker(options);
        return checker.Check(path);
    }

    /// <summary>Loads <paramref name="path"/> and decodes one token in the child.</summary>
    public ModelCheckResult Check(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.Contains('\n') || path.Contains('\r'))
            return new ModelCheckResult(ModelCheckOutcome.RefusedByReader, $"'{path.ReplaceLineEndings(" ")}': a model path cannot contain a line break");
        var child = _child is { HasExited: false } ? _child : Start();
        lock (_stderrGate) _stderr.Clear();
        string? line;
        try
        {
            child.StandardInput.WriteLine(Path.GetFullPath(path));
            child.StandardInput.Flush();
            var read = child.StandardOutput.ReadLineAsync();
            if (!read.Wait(_options.Timeout))
            {
                Stop(child);
                child.Dispose();
                _child = null;
                return new ModelCheckResult(ModelCheckOutcome.TimedOut, $"'{path}': loading and decoding one token took longer than {_options.Timeout.TotalSeconds:0.#} s; the check was stopped");
            }
            line = read.Result;
        }
        catch (Exception e) when (e is IOException || e.InnerException is IOException)
        {
            line = null; // the child died while we wrote or read
        }

        if (line is null) return Crashed(child, path);
        return Parse(line, path);
    }

    private static ModelCheckResult Parse(string line, string path)
    {
        // outcome \t non-finite (0/1) \t message (line breaks as \n)
        string[] parts = line.Split('\t', 3);
        string message = parts.Length > 2 ? parts[2].Replace("\\n", "\n", StringComparison.Ordinal) : line;
        var outcome = parts[0] switch
        {
            "passed" => ModelCheckOutcome.Passed,
            "reader" => ModelCheckOutcome.RefusedByReader,
            "validator" => ModelCheckOutcome.RefusedByValidator,
            "load" => ModelCheckOutcome.LoadFailed,
            "faulted" => ModelCheckOutcome.Faulted,
            _ => ModelCheckOutcome.Faulted,
        };
        if (parts[0] is not ("passed" or "reader" or "validator" or "load" or "faulted")) message = $"'{path}': the checker answered '{line}'";
        return new ModelCheckResult(outcome, message, NonFiniteLogits: parts.Length > 1 && parts[1] == "1");
    }

    private ModelCheckResult Crashed(Process child, string path)
    {
        // WaitForExit without a timeout also waits for the stderr reader to reach the end of the stream.
        if (!child.WaitForExit(TimeSpan.FromSeconds(30))) Stop(child);
        child.WaitForExit();
        int code = child.ExitCode;
        // .NET reports a child killed by signal N as 128 + N.
        int? signal = code > 128 && code < 128 + 65 ? code - 128 : null;
        string lastWords;
        lock (_stderrGate) lastWords = _stderr.ToString();
        string? assertion = FindAssertion(lastWords);
        child.Dispose();
        _child = null;
        string how = signal is { } s ? $"signal {s} ({SignalName(s)})" : $"exit code {code}";
        string message = $"'{path}': llama.cpp crashed the checking process with {how} while loading and decoding one token" +
            (assertion is null ? "" : $": {assertion}") + "; loading it in this process would have killed it";
        return new ModelCheckResult(ModelCheckOutcome.Crashed, message, signal, assertion);
    }

    /// <summary>
    /// The line of native stderr that names the failure: ggml_abort prints "file:line: GGML_ASSERT(cond) failed" (or
    /// its message), an uncaught C++ exception "terminate called after throwing ... what(): ...".
    /// </summary>
    internal static string? FindAssertion(string stderr)
    {
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string? assert = lines.FirstOrDefault(l => l.Contains("GGML_ASSERT", StringComparison.Ordinal) || l.Contains("GGML_ABORT", StringComparison.Ordinal));
        if (assert is not null) return ShortenPath(assert);
        int terminate = Array.FindIndex(lines, l => l.StartsWith("terminate called", StringComparison.Ordinal));
        if (terminate >= 0)
            return terminate + 1 < lines.Length && lines[terminate + 1].StartsWith("what()", StringComparison.Ordinal) ? lines[terminate] + " " + lines[terminate + 1] : lines[terminate];
        // ggml_abort's format without the macro name: "path/file.c:123: message".
        string? located = lines.FirstOrDefault(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\S+\.(c|cpp|h):\d+: "));
        return located is null ? null : ShortenPath(located);
    }

    // "/home/runner/work/.../llama-model.cpp:123: ..." -> "llama-model.cpp:123: ..."
    private static string ShortenPath(string line)
    {
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0) return line;
        string location = line[..colon];
        int slash = location.LastIndexOf('/');
        return slash >= 0 ? location[(slash + 1)..] + line[colon..] : line;
    }

    internal static string SignalName(int signal) => signal switch
    {
        4 => "SIGILL", 6 => "SIGABRT", 7 => "SIGBUS", 8 => "SIGFPE", 9 => "SIGKILL", 11 => "SIGSEGV", 15 => "SIGTERM",
        _ => "signal " + signal,
    };

    private Process Start()
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8, StandardErrorEncoding = Encoding.UTF8,
        };
        if (_checker.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            info.FileName = DotnetHost();
            info.ArgumentList.Add("exec");
            // A project reference brings the checker's runtimeconfig along; a package reference may not: then the
            // app's own (same runtime, a superset of frameworks) serves.
            if (!File.Exists(Path.ChangeExtension(_checker, ".runtimeconfig.json")) &&
                System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name is { } app &&
                Path.Combine(AppContext.BaseDirectory, app + ".runtimeconfig.json") is var config && File.Exists(config))
            {
                info.ArgumentList.Add("--runtimeconfig");
                info.ArgumentList.Add(config);
            }
        }
        else
        {
            info.FileName = _checker;
        }

        if (info.FileName != _checker) info.ArgumentList.Add(_checker);
        info.ArgumentList.Add("--threads");
        info.ArgumentList.Add(_options.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (_options.Model.Device == Native.NativeBackend.Cuda)
        {
            info.ArgumentList.Add("--device");
            info.ArgumentList.Add("cuda");
            info.ArgumentList.Add("--gpu-layers");
            info.ArgumentList.Add(_options.Model.GpuLayers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (!_options.Validate) info.ArgumentList.Add("--no-validate");
        // ggml_abort would attach gdb to print a backtrace (seconds per crash); the assertion line is what we need.
        info.Environment["GGML_NO_BACKTRACE"] = "1";
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        var child = new Process { StartInfo = info };
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderrGate)
            {
                int marker = e.Data.LastIndexOf(StartMarker);
                if (marker >= 0) _stderr.Clear().Append(e.Data.AsSpan(marker + 1)).Append('\n');
                else if (_stderr.Length < 64 * 1024) _stderr.Append(e.Data).Append('\n');
            }
        };
        try
        {
            child.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InferenceException($"could not start the isolated model checker '{info.FileName}': {e.Message}", e);
        }

        child.BeginErrorReadLine();
        ProcessesStarted++;
        _child = child;
        return child;
    }

    private static void Stop(Process child)
    {
        try { child.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // already gone
        child.WaitForExit();
    }

    private static string? FindChecker()
    {
        string? named = Environment.GetEnvironmentVariable(CheckerVariable);
        if (!string.IsNullOrEmpty(named)) return File.Exists(named) ? Path.GetFullPath(named) : null;
        foreach (string? dir in new[] { Path.GetDirectoryName(typeof(IsolatedModelChecker).Assembly.Location), AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            string candidate = Path.Combine(dir, CheckerFileName);
            if (File.Exists(candidate)) return candidate;
        }

        return null;
    }

    /// <summary>The dotnet host running this process (its runtime folder is shared/Microsoft.NETCore.App/VERSION under it).</summary>
    private static string DotnetHost()
    {
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet") return process;
        string root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        string host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    public void Dispose()
    {
        if (_child is not { } child) return;
        _child = null;
        try
        {
            child.StandardInput.Close(); // the child ends when its input does
            if (!child.WaitForExit(TimeSpan.FromSeconds(5))) Stop(child);
        }
        catch (IOException) { }
        catch (InvalidOperationException) { }
        child.Dispose();
    }
}
