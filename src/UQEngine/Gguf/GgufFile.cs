using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace UQEngine.Gguf;

/// <summary>
/// The header, metadata and tensor table of a GGUF file, validated so that a file that passes
/// <see cref="Read"/> has sound structure for llama.cpp: known version, bounded counts, unique keys and
/// tensor names, known tensor types, tensor data packed and aligned as llama.cpp expects, and every
/// tensor's data inside the file. Reading is cheap: tensor data is never touched unless asked for.
/// </summary>
public sealed class GgufFile
{
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    internal GgufFile(string path, uint version, GgufMetadata metadata, ImmutableArray<GgufTensorInfo> tensors, uint alignment, long dataOffset, long fileSize)
    {
        Path = path;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
        FileSize = fileSize;
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(tensors.Length, StringComparer.Ordinal);
        ulong dataBytes = 0;
        foreach (var tensor in tensors)
        {
            _tensorsByName.Add(tensor.Name, tensor);
            dataBytes += tensor.ByteSize;
        }

        TensorDataBytes = dataBytes;
    }

    /// <summary>The path the file was read from, as given.</summary>
    public string Path { get; }

    /// <summary>GGUF format version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>All key/value pairs in file order.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>Tensor descriptions in file order.</summary>
    public ImmutableArray<GgufTensorInfo> Tensors { get; }

    /// <summary>Alignment of tensor data (from "general.alignment", default 32).</summary>
    public uint Alignment { get; }

    /// <summary>Absolute file offset of the tensor data section.</summary>
    public long DataOffset { get; }

    /// <summary>Size of the file in bytes when it was read.</summary>
    public long FileSize { get; }

    /// <summary>Sum of the tensors' data sizes, without padding.</summary>
    public ulong TensorDataBytes { get; }

    /// <summary>
    /// Reads and validates the header, metadata and tensor table of <paramref name="path"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="GgufFormatException">The path is not a valid GGUF file; the message says why.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public static GgufFile Read(string path) => GgufReader.ReadFile(path);

    /// <summary>
    /// Like <see cref="Read"/> but reports problems as text instead of throwing: missing files and
    /// format problems give false and a message naming the path.
    /// </summary>
    public static bool TryRead(string path, [NotNullWhen(true)] out GgufFile? file, [NotNullWhen(false)] out string? error)
    {
        try
        {
            file = Read(path);
            error = null;
            return true;
        }
        catch (Exception e) when (e is GgufFormatException or IOException or UnauthorizedAccessException)
        {
            file = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public GgufTensorInfo GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var tensor) ? tensor : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    public bool TryGetTensor(string name, [NotNullWhen(true)] out GgufTensorInfo? tensor) => _tensorsByName.TryGetValue(name, out tensor);

    /// <summary>Absolute file offset of a tensor's first data byte.</summary>
    public long DataStartOf(GgufTensorInfo tensor) => checked(DataOffset + (long)tensor.Offset);

    /// <summary>Reads a tensor's raw bytes from disk (the only member that touches tensor data).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not exactly the tensor's size.</exception>
    public void ReadTensorBytes(GgufTensorInfo tensor, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if ((ulong)destination.Length != tensor.ByteSize)
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has {tensor.ByteSize} bytes but the destination holds {destination.Length}", nameof(destination));
        }

        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        stream.Position = DataStartOf(tensor);
        stream.ReadExactly(destination);
    }

    /// <summary>Reads an F32, F16 or BF16 tensor and widens it to floats, innermost dimension first.</summary>
    /// <exception cref="NotSupportedException">The tensor has another type.</exception>
    public float[] ReadTensorAsSingles(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
        {
            throw new NotSupportedException($"tensor '{tensor.Name}' is {GgmlTypeTraits.Name(tensor.Type)}; only f32, f16 and bf16 can be widened");
        }

        var values = new float[checked((int)tensor.ElementCount)];
        if (tensor.Type == GgmlType.F32)
        {
            ReadTensorBytes(tensor, MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }

        var halves = new ushort[values.Length];
        ReadTensorBytes(tensor, MemoryMarshal.AsBytes(halves.AsSpan()));
        if (tensor.Type == GgmlType.F16)
        {
            for (int i = 0; i < halves.Length; i++)
            {
                values[i] = (float)BitConverter.UInt16BitsToHalf(halves[i]);
            }
        }
        else
        {
            // bf16 is the upper half of an f32.
            for (int i = 0; i < halves.Length; i++)
            {
                values[i] = BitConverter.UInt32BitsToSingle((uint)halves[i] << 16);
            }
        }

        return values;
    }

    public override string ToString() => $"{Path}: GGUF v{Version}, {Metadata.Count} metadata keys, {Tensors.Length} tensors, {FileSize} bytes";
}
