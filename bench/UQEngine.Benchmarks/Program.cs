using BenchmarkDotNet.Running;

// Pick benchmarks on the command line, e.g.  -- --filter '*TokenStatistics*' --job short
// Every public benchmark class in this assembly is listed by the switcher, so new ones need no registration.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
