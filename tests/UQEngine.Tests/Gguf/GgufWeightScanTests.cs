using System.Buffers.Binary;
using UQEngine.Gguf;
using UQEngine.Tests.ModelCheck;

namespace UQEngine.Tests.Gguf;

/// <summary>`info --check`'s weight scan: NaN/∞ in float tensors and in the f16 scales of quantized blocks.</summary>
public sealed class GgufWeightScanTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_sound_model_has_no_non_finite_tensor()
    {
        Assert.Empty(GgufWeightScan.FindNonFinite(GgufFile.Read(TestModels.SyntheticPath)));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.NegativeInfinity)]
    public void A_poisoned_F32_tensor_is_reported_with_its_count(float value)
    {
        string path = BrokenModels.WithNonFiniteTensor(_temp.File("nan.gguf"), "blk.1.ffn_norm.weight", value);
        var file = GgufFile.Read(path);
        var found = Assert.Single(GgufWeightScan.FindNonFinite(file));
        var tensor = file.GetTensor("blk.1.ffn_norm.weight");
        Assert.Equal("blk.1.ffn_norm.weight", found.Name);
        Assert.Equal(tensor.ElementCount, found.NonFiniteCount);
        Assert.Equal(tensor.ElementCount, found.ScannedCount);
        Assert.False(found.ScalesOnly);
        Assert.StartsWith("tensor 'blk.1.ffn_norm.weight' (F32) has 64 NaN or infinite values of 64", found.ToString());
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void NaN_in_half_precision_values_and_in_quantization_scales_is_found(GgmlType type)
    {
        // One 512-element tensor whose second block (or value 300) has a NaN scale (value); everything else is 0.
        int blockBytes = GgmlTypeTraits.TypeSize(type), blockSize = GgmlTypeTraits.BlockSize(type);
        byte[] data = new byte[512 / blockSize * blockBytes];
        int scaleOffset = type switch { GgmlType.Q6_K => 208, _ => 0 };
        int at = blockSize == 1 ? 300 * blockBytes : blockBytes + scaleOffset;
        if (type == GgmlType.BF16) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at), 0x7FC0);
        else BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(at), Half.NaN);
        string path = _temp.File("q.gguf");
        using (var writer = new GgufWriter(path))
        {
            writer.AddTensor("blk.0.ffn_up.weight", type, [256, 2]);
            writer.AddTensor("blk.0.ffn_down.weight", type, [256, 2]);
            writer.WriteTensorBytes(new byte[data.Length]);
            writer.WriteTensorBytes(data);
            writer.Complete();
        }

        var found = Assert.Single(GgufWeightScan.FindNonFinite(GgufFile.Read(path)));
        Assert.Equal("blk.0.ffn_down.weight", found.Name);
        Assert.Equal(1UL, found.NonFiniteCount);
        Assert.Equal(blockSize > 1, found.ScalesOnly);
    }
}
