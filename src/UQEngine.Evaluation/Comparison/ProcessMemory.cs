using System.Diagnostics;

namespace UQEngine.Evaluation.Comparison;

/// <summary>The process's peak resident memory, resettable on Linux so each variant of a comparison gets its own peak.</summary>
internal static class ProcessMemory
{
    /// <summary>
    /// Resets the kernel's peak-RSS mark (VmHWM) by writing "5" to /proc/self/clear_refs (Linux 4.0+). Returns false
    /// where that is not possible; the peak is then the process's peak so far.
    /// </summary>
    public static bool TryResetPeak()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return false;
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>VmHWM from /proc/self/status, else .NET's peak working set; null when neither is known.</summary>
    public static long? PeakResidentBytes()
    {
        try
        {
            if (OperatingSystem.IsLinux())
                foreach (string line in File.ReadLines("/proc/self/status"))
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal) && long.TryParse(line[6..].Trim().Split(' ')[0], out long kb))
                        return kb * 1024;
        }
        catch (IOException) { }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64 > 0 ? p.PeakWorkingSet64 : null;
    }
}
