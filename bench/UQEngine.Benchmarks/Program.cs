using BenchmarkDotNet.Running;

// Pick benchmarks on the command line, e.g.  -- --filter '*TokenStatistics*' --job short
// Every public benchmark class in this assembly is listed by the switcher, so new ones need no registration.
if (args.Length > 0 && args[0] == "probe-overhead") return UQEngine.Benchmarks.Decoding.ProbeOverheadRun.Run(args.Length > 1 ? int.Parse(args[1]) : 20);
// `-- sar-ratios N [THREADS]` runs the SAR cases in N interleaved rounds without BenchmarkDotNet (see SarBenchmarks.RunRatios).
if (args is ["sar-ratios", ..])
{
    UQEngine.Benchmarks.Sampling.SarBenchmarks.RunRatios(
        args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1);
    return 0;
}
// `-- family-bench [ROUNDS] [THREADS] [DIR]`: the 0.5B-shaped Qwen2 through decode, serve and SAR (FamilyBenchRun).
if (args is ["family-bench", ..])
{
    return UQEngine.Benchmarks.Families.FamilyBenchRun.Run(
        UQEngine.Benchmarks.Families.FamilyBenchRun.Parse(args, 1, 5), UQEngine.Benchmarks.Families.FamilyBenchRun.Parse(args, 2, 1),
        args.Length > 3 ? args[3] : Path.Combine(Path.GetTempPath(), "uqengine-family-bench"));
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
