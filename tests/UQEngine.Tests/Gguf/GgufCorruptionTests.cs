using System.Buffers.Binary;
using UQEngine.Gguf;
using UQEngine.Models;

namespace UQEngine.Tests.Gguf;

/// <summary>
/// Corrupt input must always end in a <see cref="GgufFormatException"/> that names the file and the
/// problem, never in another exception type, a hang or a huge allocation.
/// </summary>
public sealed class GgufCorruptionTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private GgufFormatException ExpectFormatError(byte[] content, string name = "bad.gguf")
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, content);
        return ExpectFormatError(path);
    }

    private static GgufFormatException ExpectFormatError(string path)
    {
        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Read(path));
        Assert.Equal(path, error.FilePath);
        Assert.StartsWith(path + ": ", error.Message);
        Assert.DoesNotContain("unreadable at byte", error.Message); // the safety net must not be what caught it
        return error;
    }

    /// <summary>Reads <paramref name="path"/>; success is fine, any failure must be a proper format error.</summary>
    private static void ReadOrFormatError(string path, string what)
    {
        try
        {
            GgufFile.Read(path);
        }
        catch (GgufFormatException e)
        {
            Assert.True(e.Message.StartsWith(path + ": ", StringComparison.Ordinal), $"{what}: message does not start with the path: {e.Message}");
            Assert.False(e.Message.Contains("unreadable at byte", StringComparison.Ordinal), $"{what}: fell through to the safety net: {e.Message}");
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name} instead of GgufFormatException: {e.Message}");
        }
    }

    private byte[] SyntheticModelBytes(out GgufFile file)
    {
        string path = _temp.File("model.gguf");
        file = SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = path });
        return File.ReadAllBytes(path);
    }

    // A narrow model keeps the full header (vocabulary, merges, template, tensor table) with little data, so fuzzing stays fast.
    private byte[] NarrowModelBytes(out GgufFile file)
    {
        string path = _temp.File("narrow.gguf");
        file = SyntheticLlamaModel.Write(new SyntheticLlamaOptions
        {
            OutputPath = path, EmbeddingLength = 8, HeadCount = 2, HeadCountKv = 1, FeedForwardLength = 8, LayerCount = 1,
        });
        return File.ReadAllBytes(path);
    }

    private static void Patch(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, bytes, offset);
    }

    [Fact]
    public void ZipFileIsRejectedByMagic()
    {
        byte[] zip = [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, .. new byte[40]];
        var error = ExpectFormatError(zip, "model.gguf");
        Assert.Equal(@"not a GGUF file (magic bytes 'PK\x03\x04', expected 'GGUF')", error.Problem);
    }

    [Fact]
    public void EmptyTinyDirectoryAndMissingPathsAreReportedClearly()
    {
        Assert.Equal("0 bytes (an empty file, a pipe or a device), not a GGUF file", ExpectFormatError([]).Problem);
        Assert.Contains("only 3 bytes", ExpectFormatError("GGU"u8.ToArray()).Problem);

        var directoryError = ExpectFormatError(_temp.Path);
        Assert.Contains("is a directory", directoryError.Problem);

        string missing = _temp.File("does-not-exist.gguf");
        var notFound = Assert.Throws<FileNotFoundException>(() => GgufFile.Read(missing));
        Assert.Contains(missing, notFound.Message);
        Assert.Equal(missing, notFound.FileName);

        Assert.False(GgufFile.TryRead(missing, out _, out string? message));
        Assert.Contains(missing, message);
    }

    [Theory]
    [InlineData(0u, "invalid GGUF version 0")]
    [InlineData(1u, "GGUF version 1 is no longer supported")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "big-endian")]
    public void UnsupportedVersionsAreNamed(uint version, string expected)
    {
        var error = ExpectFormatError(RawGguf.Header(0, 0, version).ToArray());
        Assert.Contains(expected, error.Problem);
    }

    [Fact]
    public void Version2IsAccepted()
    {
        string path = RawGguf.Header(0, 1, version: 2).KvStr("general.name", "v2").SaveTo(_temp.File("v2.gguf"));
        var file = GgufFile.Read(path);
        Assert.Equal(2u, file.Version);
        Assert.Equal("v2", file.Metadata.GetString("general.name"));
    }

    [Fact]
    public void AbsurdCountsAndLengthsAreRejectedBeforeAllocating()
    {
        Assert.Contains("metadata entries", ExpectFormatError(RawGguf.Header(0, ulong.MaxValue).Zeros(64).ToArray()).Problem);
        Assert.Contains("tensors", ExpectFormatError(RawGguf.Header(long.MaxValue, 0).Zeros(64).ToArray()).Problem);

        var hugeString = RawGguf.Header(0, 1).Str("k").U32(8).U64(1UL << 40).Zeros(16).ToArray();
        Assert.Contains("string length 1099511627776", ExpectFormatError(hugeString).Problem);

        var hugeKey = RawGguf.Header(0, 1).U64(ulong.MaxValue).Zeros(16).ToArray();
        Assert.Contains("the key of metadata entry #0", ExpectFormatError(hugeKey).Problem);

        var hugeArray = RawGguf.Header(0, 1).Str("tokens").U32(9).U32(8).U64(1UL << 33).Zeros(64).ToArray();
        var arrayError = ExpectFormatError(hugeArray).Problem;
        Assert.Contains("'tokens'", arrayError);
        Assert.Contains("8589934592", arrayError);

        var hugeNumericArray = RawGguf.Header(0, 1).Str("f").U32(9).U32(6).U64(1000).Zeros(64).ToArray();
        Assert.Contains("at most 16", ExpectFormatError(hugeNumericArray).Problem); // 64 bytes left / 4
    }

    [Fact]
    public void BadValueTypesAreNamed()
    {
        Assert.Contains("unknown value type 13", ExpectFormatError(RawGguf.Header(0, 1).Str("k").U32(13).U32(0).ToArray()).Problem);
        Assert.Contains("array element type -1", ExpectFormatError(RawGguf.Header(0, 1).Str("k").U32(9).U32(uint.MaxValue).U64(0).ToArray()).Problem);
        Assert.Contains("array of arrays", ExpectFormatError(RawGguf.Header(0, 1).Str("k").U32(9).U32(9).U64(0).ToArray()).Problem);
    }

    [Fact]
    public void DuplicateAndEmptyNamesAreRejected()
    {
        var dupKey = RawGguf.Header(0, 2).KvU32("a.b", 1).KvU32("a.b", 2).ToArray();
        Assert.Equal("duplicate metadata key 'a.b'", ExpectFormatError(dupKey).Problem);

        Assert.Contains("empty key", ExpectFormatError(RawGguf.Header(0, 1).KvU32("", 1).ToArray()).Problem);

        var dupTensor = RawGguf.Header(2, 0)
            .Tensor("w", [4], 0, 0).Tensor("w", [4], 0, 32).PadTo(32).Zeros(64).ToArray();
        Assert.Equal("duplicate tensor name 'w'", ExpectFormatError(dupTensor).Problem);

        var longName = RawGguf.Header(1, 0).Tensor(new string('n', 64), [4], 0, 0).PadTo(32).Zeros(16).ToArray();
        Assert.Contains("at most 63", ExpectFormatError(longName).Problem);
    }

    [Fact]
    public void BadTensorDescriptionsAreNamed()
    {
        byte[] Single(ulong[] dims, int type, ulong offset = 0) =>
            RawGguf.Header(1, 0).Tensor("blk.0.attn_q.weight", dims, type, offset).PadTo(32).Zeros(4096).ToArray();

        Assert.Contains("unknown ggml type id 4", ExpectFormatError(Single([32], 4)).Problem);
        Assert.Contains("unknown ggml type id 99", ExpectFormatError(Single([32], 99)).Problem);
        Assert.Contains("unknown ggml type id -1", ExpectFormatError(Single([32], -1)).Problem);
        Assert.Contains("5 dimensions", ExpectFormatError(Single([1, 1, 1, 1, 1], 0)).Problem);
        Assert.Contains("negative", ExpectFormatError(Single([unchecked((ulong)-5L)], 0)).Problem);
        Assert.Contains("not a multiple of the q4_K block size 256", ExpectFormatError(Single([100], (int)GgmlType.Q4_K)).Problem);
        Assert.Contains("overflows", ExpectFormatError(Single([1UL << 40, 1UL << 40], 0)).Problem);

        var misaligned = ExpectFormatError(RawGguf.Header(2, 0)
            .Tensor("a", [4], 0, 0).Tensor("b", [4], 0, 16).PadTo(32).Zeros(64).ToArray());
        Assert.Equal("tensor 'b' data offset 16 is not a multiple of the alignment 32", misaligned.Problem);

        var outOfOrder = ExpectFormatError(RawGguf.Header(2, 0)
            .Tensor("a", [4], 0, 32).Tensor("b", [4], 0, 0).PadTo(32).Zeros(64).ToArray());
        Assert.Contains("tensor 'a' data offset is 32 but must be 0", outOfOrder.Problem);
    }

    [Fact]
    public void BadAlignmentIsRejected()
    {
        Assert.Contains("not a power of two", ExpectFormatError(RawGguf.Header(0, 1).KvU32("general.alignment", 48).ToArray()).Problem);
        Assert.Contains("not a power of two", ExpectFormatError(RawGguf.Header(0, 1).KvU32("general.alignment", 0).ToArray()).Problem);
        Assert.Contains("must be u32", ExpectFormatError(RawGguf.Header(0, 1).KvStr("general.alignment", "32").ToArray()).Problem);
    }

    [Fact]
    public void TruncatedTensorDataNamesTheTensorAndTheSizes()
    {
        byte[] bytes = SyntheticModelBytes(out var file);
        var last = file.Tensors[^1];
        long lastEnd = file.DataStartOf(last) + (long)last.ByteSize;
        Assert.Equal(bytes.Length, lastEnd); // no padding after the last tensor is needed

        var error = ExpectFormatError(bytes[..(bytes.Length - 1)]);
        Assert.Equal($"truncated: tensor '{last.Name}' data ends at byte {lastEnd} but the file has {bytes.Length - 1} bytes", error.Problem);

        // Cut inside the first tensor: the first tensor is named, not the last.
        var first = file.Tensors[0];
        int cut = (int)file.DataStartOf(first) + 10;
        var early = ExpectFormatError(bytes[..cut]);
        Assert.StartsWith($"truncated: tensor '{first.Name}' data ends at byte", early.Problem);
    }

    [Fact]
    public void EveryTruncationOfAModelFailsCleanly()
    {
        byte[] bytes = SyntheticModelBytes(out var file);
        string path = _temp.File("cut.gguf");

        // Every cut inside the header and tensor table, a stride through the data, and each tensor's end.
        var cuts = Enumerable.Range(0, (int)file.DataOffset + 64)
            .Concat(Enumerable.Range(0, 200).Select(i => (int)file.DataOffset + i * 2311))
            .Concat(file.Tensors.Select(t => (int)(file.DataStartOf(t) + (long)t.ByteSize) - 1))
            .Where(cut => cut < bytes.Length)
            .Distinct();

        int checkedCuts = 0;
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read))
        {
            stream.Write(bytes);
        }

        foreach (int cut in cuts.OrderDescending())
        {
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read))
            {
                stream.SetLength(cut);
            }

            var error = Assert.Throws<GgufFormatException>(() => GgufFile.Read(path));
            Assert.StartsWith(path + ": ", error.Message);
            Assert.DoesNotContain("unreadable at byte", error.Message);
            checkedCuts++;
        }

        Assert.True(checkedCuts > file.DataOffset);
    }

    [Fact]
    public void FlippedHeaderBytesNeverEscapeAsOtherExceptions()
    {
        byte[] original = NarrowModelBytes(out var file);
        string path = _temp.File("flipped.gguf");
        File.WriteAllBytes(path, original);
        int headerEnd = (int)file.DataOffset;

        // Every header byte inverted, one at a time.
        for (int i = 0; i < headerEnd; i++)
        {
            Patch(path, i, [(byte)~original[i]]);
            ReadOrFormatError(path, $"byte {i} inverted");
            Patch(path, i, original.AsSpan(i, 1));
        }
    }

    [Fact]
    public void HugeValuesWrittenOverHeaderFieldsFailCleanly()
    {
        byte[] original = NarrowModelBytes(out var file);
        string path = _temp.File("huge.gguf");
        File.WriteAllBytes(path, original);
        int headerEnd = (int)file.DataOffset;
        ulong[] nasty = [ulong.MaxValue, long.MaxValue, 1UL << 31, 1UL << 32, (ulong)original.Length, 0x7FFF_FFFF];
        Span<byte> field = stackalloc byte[8];

        // Overwrite each 8-byte window (every 3rd start, to stay quick) with values that break counts and lengths.
        for (int at = 4; at + 8 <= headerEnd; at += 3)
        {
            foreach (ulong value in nasty)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(field, value);
                Patch(path, at, field);
                ReadOrFormatError(path, $"0x{value:X} at byte {at}");
            }

            Patch(path, at, original.AsSpan(at, 8));
        }
    }

    [Fact]
    public void RandomMultiByteCorruptionFailsCleanly()
    {
        byte[] original = NarrowModelBytes(out var file);
        string path = _temp.File("random.gguf");
        int headerEnd = (int)file.DataOffset;
        var random = new Random(20240611);
        for (int round = 0; round < 1500; round++)
        {
            byte[] mutated = (byte[])original.Clone();
            int flips = random.Next(1, 6);
            for (int f = 0; f < flips; f++)
            {
                mutated[random.Next(headerEnd)] = (byte)random.Next(256);
            }

            int length = random.Next(4) == 0 ? random.Next(mutated.Length) : mutated.Length;
            File.WriteAllBytes(path, mutated.AsSpan(0, length).ToArray());
            ReadOrFormatError(path, $"round {round}");
        }
    }
}
