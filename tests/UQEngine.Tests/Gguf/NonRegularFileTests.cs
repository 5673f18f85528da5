using System.Diagnostics;
using UQEngine.Gguf;
using UQEngine.Inference;

namespace UQEngine.Tests.Gguf;

/// <summary>Paths that are not regular files are refused before anything opens them (a FIFO would block forever).</summary>
public sealed class NonRegularFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Fifo()
    {
        string path = _temp.File("model.gguf");
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    [Fact]
    public async Task A_fifo_or_a_device_is_refused_without_blocking()
    {
        foreach (string path in new[] { Fifo(), "/dev/zero", "/dev/null" })
        {
            // Opening a FIFO for reading waits for a writer: the refusal must come first.
            var read = Task.Run(() => Record.Exception(() => GgufFile.Read(path)));
            var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(20)));
            Assert.True(finished == read, $"reading {path} blocked");
            var error = Assert.IsType<GgufFormatException>(await read);
            Assert.Contains("a pipe or a device", error.Problem);

            var load = Task.Run(() => Record.Exception(() => LlamaModel.Load(path)));
            Assert.True(await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(20))) == load, $"loading {path} blocked");
            Assert.IsType<GgufFormatException>(await load);
        }
    }
}
