using System.Buffers.Binary;
using UQEngine.Gguf;

namespace UQEngine.Tests.ModelCheck;

/// <summary>Generators of damaged copies of the synthetic model (F32 weights) for the isolation and NaN tests.</summary>
internal static class BrokenModels
{
    /// <summary>
    /// The synthetic model with the first <paramref name="count"/> values (default: all) of <paramref name="tensor"/> set
    /// to NaN (or ±∞), patched in place. All of output_norm makes every logit NaN; the first 64 of output.weight (token
    /// 0's row) only token 0's logit.
    /// </summary>
    public static string WithNonFiniteTensor(string path, string tensor = "output_norm.weight", float value = float.NaN, int? count = null)
    {
        var file = GgufFile.Read(TestModels.SyntheticPath);
        var info = file.GetTensor(tensor);
        Assert.Equal(GgmlType.F32, info.Type);
        byte[] bytes = File.ReadAllBytes(TestModels.SyntheticPath);
        long start = file.DataStartOf(info);
        long end = count is { } n ? start + 4L * n : start + (long)info.ByteSize;
        for (long at = start; at < end; at += 4) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)at), value);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// The synthetic model rewritten with 'general.alignment' = 4: the reader accepts it, the validator refuses it, and
    /// llama.cpp aborts on it (ggml-backend.cpp: GGML_ASSERT(... % TENSOR_ALIGNMENT == 0 && "buffer pointer must be aligned")).
    /// </summary>
    public static string WithSmallAlignment(string path)
    {
        var source = GgufFile.Read(TestModels.SyntheticPath);
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.alignment", GgufValue.FromUInt32(4));
            foreach (var (key, value) in source.Metadata.Where(kv => kv.Key != "general.alignment")) writer.AddMetadata(key, value);
            foreach (var t in source.Tensors) writer.AddTensor(t.Name, t.Type, t.Dimensions.AsSpan());
            foreach (var t in source.Tensors)
            {
                byte[] data = new byte[t.ByteSize];
                source.ReadTensorBytes(t, data);
                writer.WriteTensorBytes(data);
            }

            writer.Complete();
        }

        return path;
    }
}
