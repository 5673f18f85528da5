using System.Text;

namespace UQEngine.Tests.Gguf;

/// <summary>
/// Writes GGUF bytes field by field, with no validation, so tests can build exactly the malformed
/// files they need (wrong counts, bad types, odd offsets).
/// </summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _bytes = new();
    private readonly BinaryWriter _writer;

    public RawGguf() => _writer = new BinaryWriter(_bytes, Encoding.UTF8, leaveOpen: true);

    public long Length => _bytes.Length;

    /// <summary>Magic, version and the two counts.</summary>
    public static RawGguf Header(ulong tensorCount, ulong metadataCount, uint version = 3) =>
        new RawGguf().Bytes("GGUF"u8).U32(version).U64(tensorCount).U64(metadataCount);

    public RawGguf Bytes(ReadOnlySpan<byte> bytes) { _writer.Write(bytes); return this; }
    public RawGguf U8(byte value) { _writer.Write(value); return this; }
    public RawGguf U32(uint value) { _writer.Write(value); return this; }
    public RawGguf I32(int value) { _writer.Write(value); return this; }
    public RawGguf U64(ulong value) { _writer.Write(value); return this; }
    public RawGguf I64(long value) { _writer.Write(value); return this; }

    public RawGguf Str(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return U64((ulong)bytes.Length).Bytes(bytes);
    }

    /// <summary>A u32 metadata entry.</summary>
    public RawGguf KvU32(string key, uint value) => Str(key).U32(4).U32(value);

    /// <summary>A string metadata entry.</summary>
    public RawGguf KvStr(string key, string value) => Str(key).U32(8).Str(value);

    /// <summary>A tensor description: name, dims, ggml type id, data offset.</summary>
    public RawGguf Tensor(string name, ulong[] dims, int type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (ulong d in dims)
        {
            U64(d);
        }

        return I32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGguf PadTo(int alignment)
    {
        while (_bytes.Length % alignment != 0)
        {
            _writer.Write((byte)0);
        }

        return this;
    }

    public RawGguf Zeros(int count)
    {
        _writer.Write(new byte[count]);
        return this;
    }

    public byte[] ToArray()
    {
        _writer.Flush();
        return _bytes.ToArray();
    }

    public string SaveTo(string path)
    {
        System.IO.File.WriteAllBytes(path, ToArray());
        return path;
    }
}
