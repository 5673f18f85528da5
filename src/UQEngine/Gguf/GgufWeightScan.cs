using System.Buffers.Binary;
using System.Collections.Frozen;

namespace UQEngine.Gguf;

/// <summary>A tensor holding NaN or infinite values: how many of the values (or quantization scales) scanned were.</summary>
public sealed record NonFiniteTensor(string Name, GgmlType Type, ulong NonFiniteCount, ulong ScannedCount, bool ScalesOnly)
{
    public override string ToString() =>
        $"tensor '{Name}' ({Type}) has {NonFiniteCount:N0} NaN or infinite {(ScalesOnly ? "block scales" : "values")} of {ScannedCount:N0}";
}

/// <summary>
/// Scans a model's weights for NaN and ±∞: llama.cpp loads and decodes such a model without complaint, and every
/// step's logits come out NaN. Reads F32, F16 and BF16 tensors in full and the F16 scales of the common quantized
/// blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K); other types are not scanned.
/// </summary>
public static class GgufWeightScan
{
    // Byte offsets of the f16 scales (d, and dmin where present) inside one block, per ggml-common.h's block layouts.
    private static readonly FrozenDictionary<GgmlType, int[]> ScaleOffsets = new Dictionary<GgmlType, int[]>
    {
        [GgmlType.Q4_0] = [0], [GgmlType.Q4_1] = [0, 2], [GgmlType.Q5_0] = [0], [GgmlType.Q5_1] = [0, 2], [GgmlType.Q8_0] = [0],
        [GgmlType.Q2_K] = [80, 82], // scales[16], qs[64], d, dmin
        [GgmlType.Q3_K] = [108], // hmask[32], qs[64], scales[12], d
        [GgmlType.Q4_K] = [0, 2], [GgmlType.Q5_K] = [0, 2], // d, dmin first
        [GgmlType.Q6_K] = [208], // ql[128], qh[64], scales[16], d
    }.ToFrozenDictionary();

    /// <summary>True when the scan reads this type (values or block scales).</summary>
    public static bool Scans(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 || ScaleOffsets.ContainsKey(type);

    /// <summary>Every scanned tensor with at least one NaN or infinite value, in file order.</summary>
    public static IReadOnlyList<NonFiniteTensor> FindNonFinite(GgufFile file, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        var found = new List<NonFiniteTensor>();
        using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        byte[] buffer = new byte[1 << 20];
        foreach (var tensor in file.Tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!Scans(tensor.Type)) continue;
            int unit = tensor.Type switch
            {
                GgmlType.F32 => 4,
                GgmlType.F16 or GgmlType.BF16 => 2,
                _ => GgmlTypeTraits.TypeSize(tensor.Type),
            };
            // Whole units per read, so no value or block straddles two reads.
            int chunk = buffer.Length / unit * unit;
            ulong bad = 0, scanned = 0;
            stream.Position = file.DataStartOf(tensor);
            for (ulong left = tensor.ByteSize; left > 0;)
            {
                int want = (int)Math.Min((ulong)chunk, left);
                stream.ReadExactly(buffer, 0, want);
                left -= (ulong)want;
                var span = buffer.AsSpan(0, want);
                switch (tensor.Type)
                {
                    case GgmlType.F32:
                        for (int i = 0; i < span.Length; i += 4) bad += float.IsFinite(BinaryPrimitives.ReadSingleLittleEndian(span[i..])) ? 0UL : 1UL;
                        scanned += (ulong)span.Length / 4;
                        break;
                    case GgmlType.F16:
                        for (int i = 0; i < span.Length; i += 2) bad += Half.IsFinite(BinaryPrimitives.ReadHalfLittleEndian(span[i..])) ? 0UL : 1UL;
                        scanned += (ulong)span.Length / 2;
                        break;
                    case GgmlType.BF16:
                        // bfloat16 is the top half of an F32: exponent all ones means NaN or infinity.
                        for (int i = 0; i < span.Length; i += 2) bad += (BinaryPrimitives.ReadUInt16LittleEndian(span[i..]) & 0x7F80) == 0x7F80 ? 1UL : 0UL;
                        scanned += (ulong)span.Length / 2;
                        break;
                    default:
                        int[] offsets = ScaleOffsets[tensor.Type];
                        for (int block = 0; block < span.Length; block += unit)
                        {
                            foreach (int offset in offsets) bad += Half.IsFinite(BinaryPrimitives.ReadHalfLittleEndian(span[(block + offset)..])) ? 0UL : 1UL;
                        }

                        scanned += (ulong)(span.Length / unit * offsets.Length);
                        break;
                }
            }

            if (bad > 0) found.Add(new NonFiniteTensor(tensor.Name, tensor.Type, bad, scanned, ScalesOnly: tensor.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)));
        }

        return found;
    }
}
