using UQEngine.Inference;

namespace UQEngine.Tests.Inference;

/// <summary>The UTF-8 check structured output applies on top of llama.cpp's grammar (which decodes bytes without it).</summary>
public sealed class Utf8StateTests
{
    [Theory]
    [InlineData("41")]            // ASCII
    [InlineData("C3A9")]          // é
    [InlineData("E282AC")]        // €
    [InlineData("F09F9880")]      // 😀
    [InlineData("F48FBFBF")]      // U+10FFFF, the last code point
    [InlineData("EFBFBD")]        // U+FFFD itself is a character like any other
    public void Whole_characters_leave_the_stream_between_characters(string hex)
    {
        Assert.Equal(Utf8State.Start, Utf8State.Start.After(Convert.FromHexString(hex)));
    }

    [Theory]
    [InlineData("F08FBFBF")]      // overlong U+FFFF: llama.cpp's grammar takes it as one character, decoders as four bad bytes
    [InlineData("E080AF")]        // overlong '/'
    [InlineData("C0AF")]          // overlong '/', two bytes
    [InlineData("EDA080")]        // a surrogate (U+D800)
    [InlineData("F4908080")]      // U+110000, past the last code point
    [InlineData("F5")]            // a lead byte no character has
    [InlineData("80")]            // a continuation byte with nothing to continue
    [InlineData("C322")]          // a character cut short by '"'
    public void Invalid_bytes_are_refused(string hex)
    {
        Assert.Null(Utf8State.Start.After(Convert.FromHexString(hex)));
    }

    [Fact]
    public void A_character_split_across_tokens_is_followed_to_its_end()
    {
        var afterLead = Utf8State.Start.After([0xF0]);
        Assert.NotNull(afterLead);
        Assert.Null(afterLead.Value.After([0x8F]));            // the second byte of F0 must be 90..BF
        var middle = afterLead.Value.After([0x9F, 0x98]);
        Assert.NotNull(middle);
        Assert.Equal(Utf8State.Start, middle.Value.After([0x80]));
        Assert.Null(middle.Value.After([0x22]));               // '"' before the character ends
    }
}
