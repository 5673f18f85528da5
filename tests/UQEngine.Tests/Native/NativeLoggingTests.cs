using UQEngine.Native;

namespace UQEngine.Tests.Native;

/// <summary>A failed call's error text is its own thread's llama.cpp lines, never a concurrent call's.</summary>
public sealed class NativeLoggingTests
{
    [Fact]
    public async Task Error_lines_are_kept_per_thread_and_assembled_from_pieces()
    {
        using var bothLogged = new Barrier(2);
        string Run(string name)
        {
            NativeLogging.ClearRecentErrors();
            NativeLogging.Receive(GgmlLogLevel.Error, $"{name}: failed to ");
            NativeLogging.Receive(GgmlLogLevel.Continue, "load\n");
            NativeLogging.Receive(GgmlLogLevel.Info, $"{name}: chatter\n"); // below Warn: not an error line
            bothLogged.SignalAndWait(TimeSpan.FromSeconds(10)); // the other thread has logged too
            return NativeLogging.RecentErrorText();
        }
        var a = Task.Factory.StartNew(() => Run("a"), TaskCreationOptions.LongRunning);
        var b = Task.Factory.StartNew(() => Run("b"), TaskCreationOptions.LongRunning);
        Assert.Equal("a: failed to load", await a);
        Assert.Equal("b: failed to load", await b);
    }

    [Fact]
    public void Clearing_forgets_this_threads_lines_only_the_last_eight_are_kept()
    {
        NativeLogging.ClearRecentErrors();
        for (int i = 0; i < 10; i++) NativeLogging.Receive(GgmlLogLevel.Warn, $"w{i}\n");
        Assert.Equal(string.Join(" | ", Enumerable.Range(2, 8).Select(i => $"w{i}")), NativeLogging.RecentErrorText());
        NativeLogging.ClearRecentErrors();
        Assert.Equal("", NativeLogging.RecentErrorText());
    }
}
