using System.CommandLine;
using Spectre.Console;
using UQEngine.Native;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine system`: which llama.cpp build is loaded, from where, and what it sees.</summary>
internal static class SystemCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var command = new Command("system", "Show the llama.cpp build, its location, CPU features and devices") { device };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            NativeLibraryLoader.UseBackend(result.GetValue(device) == "cuda" ? NativeBackend.Cuda : NativeBackend.Cpu);
            var info = NativeSystemInfo.Read();
            var table = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
            table.AddRow("llama.cpp", Markup.Escape(info.Release));
            table.AddRow("loaded from", Markup.Escape(info.Directory));
            table.AddRow("system", Markup.Escape(info.SystemInfo));
            table.AddRow("GPU offload", info.SupportsGpuOffload ? "yes" : "no");
            foreach (var d in info.Devices) table.AddRow("device", Markup.Escape($"{d.Name} ({d.Description}), {d.Type}, {d.TotalMemoryBytes / (1 << 20)} MiB"));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
