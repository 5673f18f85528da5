using System.CommandLine;
using UQEngine.Demo;
using UQEngine.Inference;
using UQEngine.ModelCheck;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `uqengine fuzz` (hidden): the seeded GGUF mutation fuzzer (docs/ROBUSTNESS.md). Mutants of each model go through
/// the product's load path, llama.cpp in a child process; prints counts per outcome and every crash, hang or fault,
/// and exits 1 when there was any.
/// </summary>
internal static class FuzzCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--model", "-m") { Description = "GGUF model to mutate (repeat for several); 'demo' and 'synthetic' name the built-in ones", Required = true, AllowMultipleArgumentsPerToken = false };
        var seed = new Option<ulong>("--seed") { Description = "Seed: mutant i of seed s is always the same file", DefaultValueFactory = _ => 1UL };
        var count = new Option<int>("--count", "-n") { Description = "Mutants per model", DefaultValueFactory = _ => 100 };
        var start = new Option<long>("--start") { Description = "Index of the first mutant (rerun one with --start i --count 1)" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds a load + one-token decode may take before it counts as a hang", DefaultValueFactory = _ => 30 };
        var keep = new Option<string?>("--keep") { Description = "Copy every mutant that crashed, hung or faulted into this folder" };
        var sweep = new Option<bool>("--sweep") { Description = "Instead of random mutants: every hyperparameter key x every hostile value, every tensor role x every ggml type (about 1,000 per model)" };
        var noValidate = new Option<bool>("--no-validate") { Description = "Skip the GGUF reader and validator: measure what llama.cpp alone does with the mutants" };
        var command = new Command("fuzz", "Seeded GGUF mutation fuzzer: load + decode mutants in a child process, count outcomes") { Hidden = true };
        foreach (var o in new Option[] { models, seed, count, start, timeout, keep, sweep, noValidate }) command.Add(o);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            int n = result.GetValue(count);
            if (n < 1) throw new CliException("--count must be at least 1");
            var paths = result.GetValue(models)!.Select(m => m switch
            {
                "demo" => DemoModels.FindModel() ?? throw new CliException("the demo model (models/demo/uqengine-demo-f16.gguf) was not found"),
                "synthetic" => BuiltInModels.SyntheticModelPath(),
                _ => File.Exists(m) ? m : throw new CliException($"--model '{m}' does not exist"),
            }).ToList();
            string work = Directory.CreateTempSubdirectory("uqengine-fuzz-").FullName;
            try
            {
                var report = ModelFuzzer.Run(new FuzzOptions
                {
                    Models = paths, Seed = result.GetValue(seed), Count = n, Start = result.GetValue(start), WorkDirectory = work,
                    KeepDirectory = result.GetValue(keep), Timeout = TimeSpan.FromSeconds(result.GetValue(timeout)), Validate = !result.GetValue(noValidate), Sweep = result.GetValue(sweep),
                    Log = line => Console.Error.WriteLine(line),
                });
                Console.Write(report.Render());
                return report.Count(ModelCheckOutcome.Crashed) + report.Count(ModelCheckOutcome.TimedOut) + report.Count(ModelCheckOutcome.Faulted) > 0 ? 1 : 0;
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
        }));
        return command;
    }
}
