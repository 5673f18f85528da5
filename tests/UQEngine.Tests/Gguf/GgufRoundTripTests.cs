using UQEngine.Gguf;

namespace UQEngine.Tests.Gguf;

public sealed class GgufRoundTripTests
{
    private static List<KeyValuePair<string, GgufValue>> EveryValueType() =>
    [
        new("t.u8", GgufValue.FromUInt8(250)),
        new("t.i8", GgufValue.FromInt8(-100)),
        new("t.u16", GgufValue.FromUInt16(65000)),
        new("t.i16", GgufValue.FromInt16(-32000)),
        new("t.u32", GgufValue.FromUInt32(4_000_000_000)),
        new("t.i32", GgufValue.FromInt32(-2_000_000_000)),
        new("t.f32", GgufValue.FromFloat32(-1.5e-7f)),
        new("t.f32.nan", GgufValue.FromFloat32(float.NaN)),
        new("t.bool.true", GgufValue.FromBool(true)),
        new("t.bool.false", GgufValue.FromBool(false)),
        new("t.str", GgufValue.FromString("héllo wörld ✓ 日本")),
        new("t.str.empty", GgufValue.FromString("")),
        new("t.u64", GgufValue.FromUInt64(ulong.MaxValue - 1)),
        new("t.i64", GgufValue.FromInt64(long.MinValue + 3)),
        new("t.f64", GgufValue.FromFloat64(Math.PI)),
        new("a.u8", GgufValue.FromArray(new byte[] { 0, 1, 255 })),
        new("a.i8", GgufValue.FromArray(new sbyte[] { -128, 0, 127 })),
        new("a.u16", GgufValue.FromArray(new ushort[] { 0, 65535 })),
        new("a.i16", GgufValue.FromArray(new short[] { short.MinValue, -1, short.MaxValue })),
        new("a.u32", GgufValue.FromArray(new uint[] { 1, 2, uint.MaxValue })),
        new("a.i32", GgufValue.FromArray(new[] { -1, 0, int.MaxValue })),
        new("a.f32", GgufValue.FromArray(new[] { 0.5f, float.NegativeInfinity, float.Epsilon })),
        new("a.bool", GgufValue.FromArray(new[] { true, false, true })),
        new("a.str", GgufValue.FromStringArray(["a", "", "Ġworld", "line\nbreak"])),
        new("a.u64", GgufValue.FromArray(new ulong[] { ulong.MaxValue, 0 })),
        new("a.i64", GgufValue.FromArray(new long[] { long.MinValue, long.MaxValue })),
        new("a.f64", GgufValue.FromArray(new[] { double.MaxValue, -0.0 })),
        new("a.empty.u32", GgufValue.FromArray(Array.Empty<uint>())),
        new("a.empty.str", GgufValue.FromStringArray([])),
    ];

    [Fact]
    public void EveryValueTypeSurvivesAWriteAndRead()
    {
        using var temp = new TempDirectory();
        string path = temp.File("values.gguf");
        var expected = EveryValueType();
        using (var writer = new GgufWriter(path))
        {
            foreach (var (key, value) in expected)
            {
                writer.AddMetadata(key, value);
            }

            writer.Complete();
        }

        var file = GgufFile.Read(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(expected.Select(p => p.Key), file.Metadata.Keys);
        foreach (var (key, value) in expected)
        {
            Assert.Equal(value, file.Metadata[key]);
        }

        Assert.Empty(file.Tensors);
        Assert.Equal(file.FileSize, file.DataOffset);
        Assert.Equal(new FileInfo(path).Length, file.FileSize);
    }

    [Fact]
    public void TypedGettersReturnTheWrittenValuesAndNameTheKeyOnMismatch()
    {
        using var temp = new TempDirectory();
        string path = temp.File("typed.gguf");
        using (var writer = new GgufWriter(path))
        {
            foreach (var (key, value) in EveryValueType())
            {
                writer.AddMetadata(key, value);
            }

            writer.Complete();
        }

        var metadata = GgufFile.Read(path).Metadata;
        Assert.Equal(4_000_000_000u, metadata.GetUInt32("t.u32"));
        Assert.Equal(-2_000_000_000, metadata.GetInt32("t.i32"));
        Assert.Equal(ulong.MaxValue - 1, metadata.GetUInt64("t.u64"));
        Assert.Equal(long.MinValue + 3, metadata.GetInt64("t.i64"));
        Assert.Equal(-1.5e-7f, metadata.GetFloat32("t.f32"));
        Assert.Equal(Math.PI, metadata.GetFloat64("t.f64"));
        Assert.True(metadata.GetBool("t.bool.true"));
        Assert.Equal("héllo wörld ✓ 日本", metadata.GetString("t.str"));
        Assert.Equal(["a", "", "Ġworld", "line\nbreak"], metadata.GetArray<string>("a.str"));
        Assert.Equal([true, false, true], metadata.GetArray<bool>("a.bool"));
        Assert.Equal(-128, metadata["a.i8"].GetArray<sbyte>()[0]);

        Assert.True(metadata.TryGetInteger("t.u8", out long widened));
        Assert.Equal(250, widened);
        Assert.False(metadata.TryGetInteger("t.u64", out _)); // above long.MaxValue
        Assert.True(metadata.TryGetNumber("t.f32", out double asDouble));
        Assert.Equal(-1.5e-7, asDouble);
        Assert.False(metadata.TryGetUInt32("t.i32", out _));
        Assert.False(metadata.TryGetString("missing", out _));
        Assert.False(metadata.TryGetArray<int>("a.u32", out _));
        Assert.True(metadata.TryGetArray<uint>("a.u32", out var uints));
        Assert.Equal(3, uints.Length);

        var wrongType = Assert.Throws<InvalidOperationException>(() => metadata.GetUInt32("t.str"));
        Assert.Contains("'t.str'", wrongType.Message);
        Assert.Contains("str", wrongType.Message);
        var missing = Assert.Throws<KeyNotFoundException>(() => metadata.GetString("no.such.key"));
        Assert.Contains("no.such.key", missing.Message);
        var wrongArray = Assert.Throws<InvalidOperationException>(() => metadata.GetArray<int>("a.u32"));
        Assert.Contains("a.u32", wrongArray.Message);
    }

    [Fact]
    public void LongStringsAndLargeStringArraysCrossTheReadBuffer()
    {
        using var temp = new TempDirectory();
        string path = temp.File("long.gguf");
        string longText = string.Concat(Enumerable.Range(0, 30_000).Select(i => (char)('a' + i % 26))) + "✓";
        var tokens = Enumerable.Range(0, 50_000).Select(i => "tok" + i).ToArray();
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("long", GgufValue.FromString(longText + longText + longText));
            writer.AddMetadata("tokens", GgufValue.FromStringArray(tokens));
            writer.AddMetadata("floats", GgufValue.FromArray(Enumerable.Range(0, 70_000).Select(i => i * 0.25f).ToArray()));
            writer.Complete();
        }

        var metadata = GgufFile.Read(path).Metadata;
        Assert.Equal(longText + longText + longText, metadata.GetString("long"));
        Assert.Equal(tokens, metadata.GetArray<string>("tokens"));
        var floats = metadata.GetArray<float>("floats");
        Assert.Equal(70_000, floats.Length);
        Assert.Equal(69_999 * 0.25f, floats[^1]);
    }

    [Fact]
    public void TensorsOfEveryWritableKindRoundTripWithAlignedOffsets()
    {
        using var temp = new TempDirectory();
        string path = temp.File("tensors.gguf");
        float[] matrix = Enumerable.Range(0, 3 * 5).Select(i => i * 0.5f - 3f).ToArray();
        float[] vector = [1f, -2f, 3.25f];
        float[] halfSource = [0.1f, -65504f, 1f / 3f, 0f, 2.5f, 1e-8f];
        byte[] q8 = Enumerable.Range(0, 2 * 34).Select(i => (byte)i).ToArray(); // two q8_0 blocks of 32 values
        int[] ints = [1, -2, 3, int.MinValue];

        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.architecture", GgufValue.FromString("test"));
            writer.AddTensor("matrix", GgmlType.F32, [5, 3]);
            writer.AddTensor("vector", GgmlType.F32, [3]);
            writer.AddTensor("half", GgmlType.F16, [3, 2]);
            writer.AddTensor("brain", GgmlType.BF16, [2, 1, 1, 3]);
            writer.AddTensor("quant", GgmlType.Q8_0, [64]);
            writer.AddTensor("ints", GgmlType.I32, [4]);

            // Chunked writes of one tensor are allowed.
            writer.WriteTensorData(matrix.AsSpan(0, 7));
            writer.WriteTensorData(matrix.AsSpan(7));
            writer.WriteTensorData(vector);
            writer.WriteTensorData(halfSource);
            writer.WriteTensorData(halfSource);
            writer.WriteTensorBytes(q8);
            writer.WriteTensorBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ints.AsSpan()));
            writer.Complete();
        }

        var file = GgufFile.Read(path);
        Assert.Equal(["matrix", "vector", "half", "brain", "quant", "ints"], file.Tensors.Select(t => t.Name));
        Assert.Equal(0, file.DataOffset % 32);
        foreach (var tensor in file.Tensors)
        {
            Assert.Equal(0ul, tensor.Offset % 32);
        }

        var m = file.GetTensor("matrix");
        Assert.Equal([5ul, 3ul], m.Dimensions);
        Assert.Equal(GgmlType.F32, m.Type);
        Assert.Equal(15ul, m.ElementCount);
        Assert.Equal(60ul, m.ByteSize);
        Assert.Equal(matrix, file.ReadTensorAsSingles(m));
        Assert.Equal(vector, file.ReadTensorAsSingles(file.GetTensor("vector")));

        var half = file.GetTensor("half");
        Assert.Equal(12ul, half.ByteSize);
        Assert.Equal(halfSource.Select(v => (float)(Half)v), file.ReadTensorAsSingles(half));

        var brain = file.GetTensor("brain");
        Assert.Equal([2ul, 1ul, 1ul, 3ul], brain.Dimensions);
        float[] widened = file.ReadTensorAsSingles(brain);
        for (int i = 0; i < halfSource.Length; i++)
        {
            Assert.Equal(halfSource[i], widened[i], Math.Abs(halfSource[i]) / 128 + 1e-30f);
        }

        var quant = file.GetTensor("quant");
        Assert.Equal(68ul, quant.ByteSize);
        var quantBytes = new byte[68];
        file.ReadTensorBytes(quant, quantBytes);
        Assert.Equal(q8, quantBytes);

        var intBytes = new byte[16];
        file.ReadTensorBytes(file.GetTensor("ints"), intBytes);
        Assert.Equal(ints, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(intBytes).ToArray());
    }

    [Fact]
    public void CopyingAReadModelThroughTheWriterReproducesItByteForByte()
    {
        using var temp = new TempDirectory();
        var original = UQEngine.Models.SyntheticLlamaModel.Write(new UQEngine.Models.SyntheticLlamaOptions { OutputPath = temp.File("original.gguf"), WeightType = GgmlType.F16 });
        string copyPath = temp.File("copy.gguf");
        using (var writer = new GgufWriter(copyPath))
        {
            foreach (var (key, value) in original.Metadata)
            {
                writer.AddMetadata(key, value);
            }

            foreach (var tensor in original.Tensors)
            {
                writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions.AsSpan());
            }

            foreach (var tensor in original.Tensors)
            {
                var data = new byte[tensor.ByteSize];
                original.ReadTensorBytes(tensor, data);
                writer.WriteTensorBytes(data);
            }

            writer.Complete();
        }

        Assert.Equal(File.ReadAllBytes(original.Path), File.ReadAllBytes(copyPath));
    }

    [Fact]
    public void CustomAlignmentIsHonouredAndReadBack()
    {
        using var temp = new TempDirectory();
        string path = temp.File("aligned.gguf");
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.alignment", GgufValue.FromUInt32(256));
            writer.AddTensor("a", GgmlType.F32, [3]);
            writer.AddTensor("b", GgmlType.F32, [3]);
            writer.WriteTensorData([1f, 2f, 3f]);
            writer.WriteTensorData([4f, 5f, 6f]);
            writer.Complete();
        }

        var file = GgufFile.Read(path);
        Assert.Equal(256u, file.Alignment);
        Assert.Equal(0, file.DataOffset % 256);
        Assert.Equal(256ul, file.GetTensor("b").Offset);
        Assert.Equal([4f, 5f, 6f], file.ReadTensorAsSingles(file.GetTensor("b")));
    }

    [Fact]
    public void WriterRefusesMisuseAndLeavesNoFileWithoutComplete()
    {
        using var temp = new TempDirectory();
        string path = temp.File("misuse.gguf");
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("k", GgufValue.FromUInt32(1));
            Assert.Throws<ArgumentException>(() => writer.AddMetadata("k", GgufValue.FromUInt32(2)));
            Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromUInt32(48)));
            Assert.Throws<ArgumentException>(() => writer.AddTensor("q", GgmlType.Q4_K, [100])); // not whole blocks
            Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('x', 64), GgmlType.F32, [1]));
            Assert.Throws<ArgumentException>(() => writer.AddTensor("five", GgmlType.F32, [1, 1, 1, 1, 1]));
            Assert.Throws<ArgumentException>(() => writer.AddTensor("gone", (GgmlType)4, [32]));
            writer.AddTensor("t", GgmlType.F32, [4]);
            Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [4]));
            Assert.Throws<ArgumentException>(() => writer.WriteTensorData([1f, 2f, 3f, 4f, 5f]));
            writer.WriteTensorData([1f, 2f]);
            Assert.Throws<InvalidOperationException>(() => writer.AddMetadata("late", GgufValue.FromBool(true)));
            var incomplete = Assert.Throws<InvalidOperationException>(writer.Complete);
            Assert.Contains("'t'", incomplete.Message);
        }

        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(temp.Path));
    }

    [Fact]
    public void CompleteReplacesAnExistingFile()
    {
        using var temp = new TempDirectory();
        string path = temp.File("replace.gguf");
        File.WriteAllText(path, "not a model");
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.name", GgufValue.FromString("new"));
            writer.Complete();
        }

        Assert.Equal("new", GgufFile.Read(path).Metadata.GetString("general.name"));
    }

    [Fact]
    public void ValuesCompareStructurallyAndDisplayReadably()
    {
        Assert.Equal(GgufValue.FromArray(new[] { 1, 2 }), GgufValue.FromArray(new[] { 1, 2 }));
        Assert.NotEqual(GgufValue.FromArray(new[] { 1, 2 }), GgufValue.FromArray(new uint[] { 1, 2 }));
        Assert.NotEqual(GgufValue.FromUInt32(1), GgufValue.FromInt32(1));
        Assert.Equal(GgufValue.FromFloat32(float.NaN), GgufValue.FromFloat32(float.NaN));
        Assert.Equal("arr[i32] x 3 [1, 2, 3]", GgufValue.FromArray(new[] { 1, 2, 3 }).ToString());
        Assert.Equal("\"a\\nb\"", GgufValue.FromString("a\nb").ToString());
        Assert.Equal("arr[str] x 3 [\"x\", \"y\", ...]", GgufValue.FromStringArray(["x", "y", "z"]).ToDisplayString(maxArrayElements: 2));
        Assert.Equal("0.25", GgufValue.FromFloat32(0.25f).ToString());
        Assert.Throws<InvalidOperationException>(() => GgufValue.FromUInt8(1).AsInt8());
    }
}
