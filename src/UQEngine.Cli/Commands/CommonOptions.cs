using UQEngine.Demo;
using System.CommandLine;
using Spectre.Console;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Native;

namespace UQEngine.Cli.Commands;

/// <summary>Options shared by the commands that load a model, and the one place that turns them into a model and context.</summary>
internal sealed class ModelOptionsBinder
{
    public Option<string?> Model { get; } = new("--model", "-m") { Description = "GGUF model file, or a built-in model: demo, demo-small, demo-tiny. Default: the built-in demo model. With --endpoint: the remote model name" };
    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
    public Option<int> GpuLayers { get; } = new("--gpu-layers") { Description = "Layers to offload on cuda (-1 = all)", DefaultValueFactory = _ => -1 };
    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "CPU threads (0 = all cores)" };
    public Option<int> ContextSize { get; } = new("--ctx") { Description = "Context size in tokens (0 = model default, at most 4096)" };
    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Show llama.cpp's log" };

    public void AddTo(Command command)
    {
        command.Add(Model); command.Add(Device); command.Add(GpuLayers); command.Add(Threads); command.Add(ContextSize); command.Add(Verbose);
    }

    public string ResolveModelPath(ParseResult result, IAnsiConsole? console)
    {
        string? path = result.GetValue(Model);
        if (!string.IsNullOrWhiteSpace(path)) return BuiltInName(path);
        if (result.GetResult(Model) is { Implicit: false }) // given, but empty: a script's unset variable, not a wish for the demo
            throw new CliException("--model is empty: give a GGUF file, or leave --model out to use the built-in demo model");
        return BuiltInModels.DefaultModelPath(message => console?.MarkupLine($"[grey]{Markup.Escape(message)}[/]"));
    }

    /// <summary>A file stays itself; a built-in name (demo-small, demo-tiny) becomes its committed file.</summary>
    public static string BuiltInName(string value)
    {
        try { return BuiltInModels.Resolve(value) ?? value; }
        catch (FileNotFoundException e) { throw new CliException(e.Message); }
    }

    public LlamaModel LoadModel(ParseResult result, IAnsiConsole? console)
    {
        var options = LoadOptions(result);
        return LlamaModel.Load(ResolveModelPath(result, console), options);
    }

    /// <summary>--device, --gpu-layers and --verbose as load options (for commands that load the model elsewhere, like serve).</summary>
    public ModelOptions LoadOptions(ParseResult result)
    {
        if (result.GetValue(Verbose)) { NativeLogging.MinimumLevel = GgmlLogLevel.Info; NativeLogging.Sink = (_, line) => Console.Error.WriteLine(line); }
        string device = result.GetValue(Device)!.Trim().ToLowerInvariant();
        var backend = device switch
        {
            "cpu" => NativeBackend.Cpu,
            "cuda" or "gpu" => NativeBackend.Cuda,
            _ => throw new CliException($"--device must be cpu or cuda, not '{device}'"),
        };
        return new ModelOptions { Device = backend, GpuLayers = result.GetValue(GpuLayers) };
    }

    public ContextOptions ContextOptions(ParseResult result, int sequences = 1, bool hidden = false) => new()
    {
        Threads = result.GetValue(Threads),
        ContextSize = result.GetValue(ContextSize),
        MaxSequences = sequences,
        FinalHiddenState = hidden,
    };
}

internal static class CommandRunner
{
    /// <summary>Runs a command body, turning the errors a user can cause into one clear line and exit code 1.</summary>
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is CliException or UQEngine.Evaluation.Datasets.DatasetFormatException or GgufFormatException or FileNotFoundException or InferenceException or NativeLibraryException or ArgumentException or InvalidOperationException or UQEngine.Remote.RemoteEndpointException)
        {
            Console.Error.WriteLine($"uqengine: error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("uqengine: cancelled");
            return 130;
        }
    }
}
