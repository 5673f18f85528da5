using System.Text;

namespace UQEngine.Gguf;

/// <summary>
/// A string array kept as the UTF-8 bytes read from the file, decoded only when asked. Vocabularies hold
/// hundreds of thousands of tokens and merges; keeping them as one byte block makes reading a model's
/// metadata several times cheaper when, as for <c>uqengine info</c>, only their counts are needed.
/// </summary>
internal sealed class Utf8StringList
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly byte[] _bytes;
    private readonly int[] _starts; // Count + 1 entries; string i is _bytes[_starts[i].._starts[i + 1]]
    private string[]? _decoded;

    public Utf8StringList(byte[] bytes, int[] starts)
    {
        _bytes = bytes;
        _starts = starts;
    }

    public int Count => _starts.Length - 1;

    public ReadOnlySpan<byte> Utf8At(int index) => _bytes.AsSpan(_starts[index], _starts[index + 1] - _starts[index]);

    public string this[int index] => _decoded is { } decoded ? decoded[index] : Utf8.GetString(Utf8At(index));

    /// <summary>All strings, decoded once and then shared (safe to call from several threads).</summary>
    public string[] Decoded()
    {
        if (_decoded is { } decoded)
        {
            return decoded;
        }

        var strings = new string[Count];
        for (int i = 0; i < strings.Length; i++)
        {
            strings[i] = Utf8.GetString(Utf8At(i));
        }

        return Interlocked.CompareExchange(ref _decoded, strings, null) ?? strings;
    }
}
