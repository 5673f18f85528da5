using System.Collections.Immutable;
using System.Globalization;

namespace UQEngine.Gguf;

/// <summary>
/// Describes one tensor of a GGUF file: its name, shape, element type and where its data lies.
/// Dimensions use ggml order: <c>Dimensions[0]</c> is the contiguous (innermost) axis, so a weight
/// matrix with Dimensions [in, out] holds out rows of in values each.
/// </summary>
public sealed class GgufTensorInfo
{
    internal GgufTensorInfo(string name, ImmutableArray<ulong> dimensions, GgmlType type, ulong offset, ulong elementCount, ulong byteSize)
    {
        Name = name;
        Dimensions = dimensions;
        Type = type;
        Offset = offset;
        ElementCount = elementCount;
        ByteSize = byteSize;
    }

    /// <summary>Tensor name, e.g. "blk.0.attn_q.weight".</summary>
    public string Name { get; }

    /// <summary>Extent of each axis, innermost first (at most four).</summary>
    public ImmutableArray<ulong> Dimensions { get; }

    /// <summary>Storage type of the elements.</summary>
    public GgmlType Type { get; }

    /// <summary>Start of the tensor's data relative to the start of the file's data section.</summary>
    public ulong Offset { get; }

    /// <summary>Product of the dimensions.</summary>
    public ulong ElementCount { get; }

    /// <summary>Exact bytes of data (without alignment padding).</summary>
    public ulong ByteSize { get; }

    /// <summary>Shape in ggml's notation, e.g. "[64, 300]".</summary>
    public string ShapeText => "[" + string.Join(", ", Dimensions.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    public override string ToString() => $"{Name} {GgmlTypeTraits.Name(Type)} {ShapeText} @{Offset}";

    /// <summary>
    /// Validates a shape/type pair and computes element count and byte size, without throwing on overflow.
    /// Returns null on success or a description of the problem.
    /// </summary>
    internal static string? TryMeasure(ReadOnlySpan<ulong> dimensions, GgmlType type, out ulong elementCount, out ulong byteSize)
    {
        elementCount = 0;
        byteSize = 0;
        if (!GgmlTypeTraits.IsKnown(type))
        {
            return $"unknown ggml type {(int)type}";
        }

        // ggml keeps extents and the element count in int64, so anything above long.MaxValue is unusable.
        ulong count = 1;
        foreach (ulong extent in dimensions)
        {
            if (extent > long.MaxValue)
            {
                return $"dimension {extent} is out of range";
            }

            if (extent != 0 && count > long.MaxValue / extent)
            {
                return "element count overflows 64 bits";
            }

            count *= extent;
        }

        ulong blockSize = (ulong)GgmlTypeTraits.BlockSize(type);
        ulong rowLength = dimensions.Length == 0 ? 1 : dimensions[0];
        if (rowLength % blockSize != 0)
        {
            return $"row length {rowLength} is not a multiple of the {GgmlTypeTraits.Name(type)} block size {blockSize}";
        }

        ulong blocks = count / blockSize;
        ulong typeSize = (ulong)GgmlTypeTraits.TypeSize(type);
        if (blocks > long.MaxValue / typeSize)
        {
            return "byte size overflows 64 bits";
        }

        elementCount = count;
        byteSize = blocks * typeSize;
        return null;
    }
}
