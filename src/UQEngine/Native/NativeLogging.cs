using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>
/// Routes llama.cpp's and ggml's log output to a managed sink. By default only warnings and errors are kept
/// (llama.cpp is chatty at info level), and the last error lines are remembered so that a failed load or
/// decode can say why.
/// </summary>
public static class NativeLogging
{
    private static readonly Lock Gate = new();
    private static readonly Queue<string> RecentErrors = new();
    private static readonly StringBuilder Pending = new();
    private static GgmlLogLevel _pendingLevel;

    /// <summary>Lowest level passed to <see cref="Sink"/>. Default: Warn.</summary>
    public static GgmlLogLevel MinimumLevel { get; set; } = GgmlLogLevel.Warn;

    /// <summary>Receives complete log lines at or above <see cref="MinimumLevel"/>. Default: none.</summary>
    public static Action<GgmlLogLevel, string>? Sink { get; set; }

    internal static unsafe void Install() => LlamaNative.llama_log_set(&OnLog, null);

    /// <summary>The last warning/error lines llama.cpp logged (most recent last), for error messages.</summary>
    public static string RecentErrorText()
    {
        lock (Gate) return string.Join(" | ", RecentErrors);
    }

    internal static void ClearRecentErrors()
    {
        lock (Gate) RecentErrors.Clear();
    }

    [UnmanagedCallersOnly]
    private static unsafe void OnLog(GgmlLogLevel level, byte* text, void* userData)
    {
        try
        {
            string s = Marshal.PtrToStringUTF8((nint)text) ?? "";
            lock (Gate)
            {
                if (level != GgmlLogLevel.Continue) _pendingLevel = level;
                Pending.Append(s);
                if (!s.EndsWith('\n')) return;
                string line = Pending.ToString().TrimEnd();
                Pending.Clear();
                if (_pendingLevel >= GgmlLogLevel.Warn && line.Length > 0)
                {
                    RecentErrors.Enqueue(line);
                    while (RecentErrors.Count > 8) RecentErrors.Dequeue();
                }
                if (_pendingLevel >= MinimumLevel && line.Length > 0) Sink?.Invoke(_pendingLevel, line);
            }
        }
        catch
        {
            // Never let an exception cross into native code.
        }
    }
}
