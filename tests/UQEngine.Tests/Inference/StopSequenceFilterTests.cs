using UQEngine.Inference;
using UQEngine.Chat;

namespace UQEngine.Tests.Inference;

public sealed class StopSequenceFilterTests
{
    [Fact]
    public void Text_a_stop_may_still_claim_is_held_back_and_the_stop_is_never_released()
    {
        var filter = new StopSequenceFilter(["\nUser:", "###"]);
        // Longest stop is 6 characters, so the last 5 wait until more text shows they are not a stop.
        Assert.Equal("", filter.Push("Hello"));          // all 5 characters held
        Assert.Equal("Hello ", filter.Push(" world"));   // 11 characters, the last 5 ("world") held
        Assert.Equal("wor", filter.Push("\nUs"));        // 14 characters, "ld\nUs" held: it may be the start of "\nUser:"
        Assert.Equal("ld", filter.Push("er: hi"));       // "\nUser:" completes: release up to it, then nothing more
        Assert.Equal("", filter.Push(" more"));
        Assert.Equal("", filter.Finish("Hello world"));  // the generator's final text is exactly what was released
    }

    [Fact]
    public void Without_stops_everything_is_released_at_once_and_finish_adds_only_what_is_new()
    {
        var filter = new StopSequenceFilter([]);
        Assert.Equal("ab", filter.Push("ab"));
        Assert.Equal("c", filter.Push("c"));
        Assert.Equal("d", filter.Finish("abcd")); // e.g. bytes of a split character flushed at the end
    }

    [Fact]
    public void A_surrogate_pair_is_never_split_at_the_hold_back_edge()
    {
        var filter = new StopSequenceFilter(["ab"]);            // holds back 1 character
        Assert.Equal("x", filter.Push("x\U0001F600"));          // releasing len − 1 would cut the emoji in half
        Assert.Equal("\U0001F600", filter.Push("y"));
        Assert.Equal("y", filter.Finish("x\U0001F600y"));
    }

    [Fact]
    public void Stops_are_tried_in_list_order_like_the_generator()
    {
        var ordered = new StopSequenceFilter(["cd", "bc"]);
        string released = ordered.Push("a") + ordered.Push("bcd");
        Assert.Equal("ab", released); // "cd" is listed first and found in the new text, so the cut is before "cd"
    }
}
