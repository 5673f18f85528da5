using System.CommandLine;
using UQEngine.Cli.Commands;

var root = new RootCommand("uqengine: run GGUF models locally through llama.cpp and see how sure they are.")
{
    InfoCommand.Create(),
    GenerateCommand.Create(),
    ScoreCommand.Create(),
    EvalCommand.Create(),
    MergeCommand.Create(),
    CompareCommand.Create(),
    SensitivityCommand.Create(),
    ServeCommand.Create(),
    SystemCommand.Create(),
    MethodsCommand.Create(),
    ModelCommand.Create(),
    ProbeCommand.Create(),
    UaitCommand.Create(),
    ParityCommand.Create(), // hidden: the device diagnostics bench/gpu/gpu-check.sh runs
    FuzzCommand.Create(), // hidden: the GGUF mutation fuzzer (docs/ROBUSTNESS.md)
};
return await root.Parse(args).InvokeAsync();
