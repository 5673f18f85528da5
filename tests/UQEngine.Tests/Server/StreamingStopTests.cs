using UQEngine.Inference;
using UQEngine.Chat;

namespace UQEngine.Tests.Server;

/// <summary>The cases the server's streaming met, on the library's StopSequenceFilter the server streams through.</summary>
public sealed class StreamingStopTests
{
    [Fact]
    public void Without_stops_every_piece_passes_at_once()
    {
        var gate = new StopSequenceFilter([]);
        Assert.Equal("ab", gate.Push("ab"));
        Assert.Equal("c", gate.Push("c"));
        Assert.Equal("", gate.Finish("abc"));
    }

    [Fact]
    public void Holds_back_what_a_stop_could_still_claim_and_sends_the_cut_rest_at_the_end()
    {
        var gate = new StopSequenceFilter(["dex", "q"]); // the longest stop has 3 characters
        Assert.Equal("", gate.Push("ab"));
        Assert.Equal("a", gate.Push("c"));
        Assert.Equal("bc", gate.Push("de"));
        Assert.Equal("", gate.Push("xyz")); // completes "dex": the held "de" is never sent
        Assert.Equal("", gate.Push("more"));
        Assert.Equal("", gate.Finish("abc"));

        var uncut = new StopSequenceFilter(["xyz"]);
        Assert.Equal("ab", uncut.Push("abcd"));
        Assert.Equal("cd", uncut.Finish("abcd")); // no stop matched: the held tail goes out with the finish
    }

    [Fact]
    public void A_piece_that_completes_a_stop_sends_only_the_text_before_it()
    {
        var gate = new StopSequenceFilter(["\uFFFD w"]); // found by the streaming stop test: the stop is the start of the text
        Assert.Equal("", gate.Push("\uFFFD"));
        Assert.Equal("", gate.Push(" w"));
        Assert.Equal("", gate.Finish(""));
    }

    [Fact]
    public void Never_splits_a_surrogate_pair()
    {
        var gate = new StopSequenceFilter(["zz"]);
        Assert.Equal("a", gate.Push("a\U0001F600")); // the held low surrogate keeps its high half company
        Assert.Equal("\U0001F600", gate.Finish("a\U0001F600"));
    }
}
