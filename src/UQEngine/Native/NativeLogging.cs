using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>
/// Routes llama.cpp's and ggml's log output to a managed sink. By default only warnings and errors are kept
/// (llama.cpp is chatty at info level), and each thread's last error lines are remembered so that a failed load,
/// context or decode can say why.
/// </summary>
public static class NativeLogging
{
    private static readonly Lock SinkGate = new();

    // Per thread: llama.cpp logs a failing load, context or decode on the thread that called it, so a call's error
    // text is that thread's lines, never another concurrent call's.
    [ThreadStatic] private static Queue<string>? t_recentErrors;
    [ThreadStatic] private static StringBuilder? t_pending;
    [ThreadStatic] private static GgmlLogLevel t_pendingLevel;

    /// <summary>Lowest level passed to <see cref="Sink"/>. Default: Warn.</summary>
    public static GgmlLogLevel MinimumLevel { get; set; } = GgmlLogLevel.Warn;

    /// <summary>Receives complete log lines at or above <see cref="MinimumLevel"/> (one line at a time). Default: none.</summary>
    public static Action<GgmlLogLevel, string>? Sink { get; set; }

    internal static unsafe void Install() => LlamaNative.llama_log_set(&OnLog, null);

    /// <summary>The last warning/error lines llama.cpp logged on this thread (most recent last), for error messages.</summary>
    public static string RecentErrorText() => t_recentErrors is { Count: > 0 } q ? string.Join(" | ", q) : "";

    /// <summary>Forgets this thread's recent lines: call before the native call whose failure should be explained.</summary>
    internal static void ClearRecentErrors() => t_recentErrors?.Clear();

    [UnmanagedCallersOnly]
    private static unsafe void OnLog(GgmlLogLevel level, byte* text, void* userData)
    {
        try { Receive(level, Marshal.PtrToStringUTF8((nint)text) ?? ""); }
        catch
        {
            // Never let an exception cross into native code.
        }
    }

    /// <summary>One piece of llama.cpp's log output, as the callback hands it over (a line may come in pieces).</summary>
    internal static void Receive(GgmlLogLevel level, string piece)
    {
        if (level != GgmlLogLevel.Continue) t_pendingLevel = level;
        var pending = t_pending ??= new StringBuilder();
        pending.Append(piece);
        if (!piece.EndsWith('\n')) return;
        string line = pending.ToString().TrimEnd();
        pending.Clear();
        if (line.Length == 0) return;
        if (t_pendingLevel >= GgmlLogLevel.Warn)
        {
            var recent = t_recentErrors ??= new Queue<string>();
            recent.Enqueue(line);
            while (recent.Count > 8) recent.Dequeue();
        }
        if (t_pendingLevel >= MinimumLevel && Sink is { } sink)
            lock (SinkGate) sink(t_pendingLevel, line);
    }
}
