namespace UQEngine.Inference;

/// <summary>
/// Where a UTF-8 byte stream stands after the bytes so far: how many continuation bytes are due and the range the
/// next one must fall in (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). llama.cpp's grammar
/// decodes bytes to code points without those checks, so an overlong form such as F0 8F BF BF passes a string rule
/// as one allowed character while every UTF-8 decoder sees four invalid bytes; <see cref="GrammarConstraint"/> also
/// requires this.
/// </summary>
internal readonly record struct Utf8State(int Pending, int Low, int High)
{
    /// <summary>Between characters.</summary>
    public static readonly Utf8State Start = new(0, 0x80, 0xBF);

    /// <summary>The state after <paramref name="bytes"/>, or null when they make the stream invalid (ending mid-character is fine).</summary>
    public Utf8State? After(ReadOnlySpan<byte> bytes)
    {
        int pending = Pending, low = Low, high = High;
        foreach (byte b in bytes)
        {
            if (pending > 0)
            {
                if (b < low || b > high) return null;
                pending--;
                (low, high) = (0x80, 0xBF);
                continue;
            }

            if (b < 0x80) continue;
            (pending, low, high) = b switch
            {
                >= 0xC2 and <= 0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF),   // no overlong 3-byte forms
                0xED => (2, 0x80, 0x9F),   // no surrogates
                >= 0xE1 and <= 0xEF => (2, 0x80, 0xBF),
                0xF0 => (3, 0x90, 0xBF),   // no overlong 4-byte forms
                >= 0xF1 and <= 0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F),   // nothing past U+10FFFF
                _ => (-1, 0, 0),           // a stray continuation byte, C0, C1 or F5..FF
            };
            if (pending < 0) return null;
        }

        return new Utf8State(pending, low, high);
    }
}
