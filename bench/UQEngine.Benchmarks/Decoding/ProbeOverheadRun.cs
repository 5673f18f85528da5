using System.Diagnostics;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Benchmarks.Decoding;

/// <summary>
/// Probe on against off, interleaved in one process: on a shared machine, BenchmarkDotNet's separate phases per case
/// pick up different co-tenant load, while alternating the two (order swapped every round) exposes both to the same
/// load, and the median of the per-round ratios cancels most of it. Same model and probe as
/// <see cref="ProbeDecodeBenchmarks"/>; "off" decodes with the same context (layer exposed) and no observer.
/// Run: <c>dotnet run -c Release --project bench/UQEngine.Benchmarks -- probe-overhead [rounds]</c>.
/// </summary>
public static class ProbeOverheadRun
{
    public static int Run(int rounds)
    {
        var bench = new ProbeDecodeBenchmarks { Probe = ProbeDecodeBenchmarks.Mode.ProbeOn };
        bench.Setup();
        try
        {
            var off = new List<double>();
            var on = new List<double>();
            var ratios = new List<double>();
            for (int warm = 0; warm < 3; warm++) { bench.Generate64(); bench.GenerateWithoutProbe(); }
            for (int r = 0; r < rounds; r++)
            {
                double a, b;
                if (r % 2 == 0) { a = Time(bench.GenerateWithoutProbe); b = Time(bench.Generate64); }
                else { b = Time(bench.Generate64); a = Time(bench.GenerateWithoutProbe); }
                off.Add(ProbeDecodeBenchmarks.Tokens / a);
                on.Add(ProbeDecodeBenchmarks.Tokens / b);
                ratios.Add(a / b); // tokens/s on ÷ tokens/s off
            }
            Console.WriteLine($"rounds: {rounds}, {ProbeDecodeBenchmarks.Tokens} tokens each, 1 decode thread");
            Console.WriteLine($"tokens/s off (median): {Bootstrap.Median(off):F1}");
            Console.WriteLine($"tokens/s on  (median): {Bootstrap.Median(on):F1}");
            Console.WriteLine($"ratio on/off, median of per-round ratios: {Bootstrap.Median(ratios):F4} (min {ratios.Min():F4}, max {ratios.Max():F4})");
            return 0;
        }
        finally { bench.Cleanup(); }
    }

    private static double Time(Func<int> run)
    {
        long start = Stopwatch.GetTimestamp();
        int n = run();
        if (n != ProbeDecodeBenchmarks.Tokens) throw new InvalidOperationException($"decoded {n} tokens, expected {ProbeDecodeBenchmarks.Tokens}");
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

}
