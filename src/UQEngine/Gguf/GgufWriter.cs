using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Gguf;

/// <summary>
/// Writes a GGUF v3 file in one pass. First declare metadata (<see cref="AddMetadata"/>) and tensors
/// (<see cref="AddTensor"/>); then stream each tensor's data in declaration order, in as many chunks as
/// convenient (<see cref="WriteTensorData(ReadOnlySpan{float})"/> converts floats to the declared F32, F16
/// or BF16 type; <see cref="WriteTensorBytes"/> takes pre-encoded data of any type); finally call
/// <see cref="Complete"/>. The file is written under a temporary name and moved into place by
/// <see cref="Complete"/>, so a crash or a missing Complete never leaves a half-written model at the path.
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private const uint FormatVersion = 3;
    private const int ScratchBytes = 64 * 1024;

    private readonly string _path;
    private readonly string _temporaryPath;
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly HashSet<string> _metadataKeys = new(StringComparer.Ordinal);
    private readonly List<GgufTensorInfo> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private readonly byte[] _scratch = new byte[ScratchBytes];
    private FileStream? _stream;
    private State _state = State.Declaring;
    private uint _alignment = GgufReader.DefaultAlignment;
    private long _position;
    private ulong _nextOffset;
    private int _currentTensor;
    private ulong _currentTensorBytesWritten;

    /// <summary>Prepares to write <paramref name="path"/>; nothing appears at the path before <see cref="Complete"/>.</summary>
    public GgufWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF writing needs a little-endian host.");
        }

        _path = System.IO.Path.GetFullPath(path);
        _temporaryPath = _path + ".partial";
    }

    private enum State
    {
        Declaring,
        WritingData,
        Completed,
        Disposed,
    }

    /// <summary>Final path of the file.</summary>
    public string Path => _path;

    /// <summary>Tensors declared so far, with the data offsets they will have.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    /// <summary>Adds a metadata entry; keys are written in the order added. "general.alignment" (u32) sets the alignment.</summary>
    /// <exception cref="ArgumentException">The key is empty or already added, or an alignment value is invalid.</exception>
    /// <exception cref="InvalidOperationException">Tensor data has already started.</exception>
    public void AddMetadata(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        RequireState(State.Declaring, "add metadata");
        if (key == GgufReader.AlignmentKey)
        {
            if (_tensors.Count > 0)
            {
                throw new InvalidOperationException($"'{key}' must be added before any tensor, since it decides the tensor offsets.");
            }

            if (value.Type != GgufValueType.UInt32 || value.AsUInt32() == 0 || (value.AsUInt32() & (value.AsUInt32() - 1)) != 0)
            {
                throw new ArgumentException($"'{key}' must be a u32 power of two, got {value}.", nameof(value));
            }

            _alignment = value.AsUInt32();
        }

        if (!_metadataKeys.Add(key))
        {
            throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        }

        _metadata.Add(new(key, value));
    }

    /// <summary>Declares a tensor; its data must later be written in declaration order.</summary>
    /// <param name="name">Unique name of at most 63 UTF-8 bytes.</param>
    /// <param name="type">Storage type of the data.</param>
    /// <param name="dimensions">Extents, innermost first (1 to 4 of them).</param>
    /// <returns>The tensor as it will appear in the file.</returns>
    public GgufTensorInfo AddTensor(string name, GgmlType type, ReadOnlySpan<ulong> dimensions)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        RequireState(State.Declaring, "add a tensor");
        if (Encoding.UTF8.GetByteCount(name) > GgufReader.MaxTensorNameBytes)
        {
            throw new ArgumentException($"Tensor name '{name}' is longer than {GgufReader.MaxTensorNameBytes} UTF-8 bytes.", nameof(name));
        }

        if (dimensions.Length is 0 or > GgufReader.MaxDimensions)
        {
            throw new ArgumentException($"Tensor '{name}' needs 1 to {GgufReader.MaxDimensions} dimensions, got {dimensions.Length}.", nameof(dimensions));
        }

        string? problem = GgufTensorInfo.TryMeasure(dimensions, type, out ulong elementCount, out ulong byteSize);
        if (problem is not null)
        {
            throw new ArgumentException($"Tensor '{name}': {problem}.", nameof(dimensions));
        }

        if (!_tensorNames.Add(name))
        {
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        }

        var tensor = new GgufTensorInfo(name, dimensions.ToImmutableArray(), type, _nextOffset, elementCount, byteSize);
        _tensors.Add(tensor);
        _nextOffset = checked(_nextOffset + GgufReader.AlignUp(byteSize, _alignment));
        return tensor;
    }

    /// <summary>Appends values to the current tensor, converting to its type (F32, F16 or BF16).</summary>
    public void WriteTensorData(ReadOnlySpan<float> values)
    {
        var tensor = CurrentTensor();
        if (tensor.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
        {
            throw new InvalidOperationException($"Tensor '{tensor.Name}' is {GgmlTypeTraits.Name(tensor.Type)}; floats can only be written to f32, f16 or bf16 tensors (use WriteTensorBytes for encoded data).");
        }

        RequireRoom(tensor, values.Length);
        switch (tensor.Type)
        {
            case GgmlType.F32:
                AppendTensorBytes(MemoryMarshal.AsBytes(values));
                break;
            case GgmlType.F16:
                WriteConverted(values, sizeof(ushort), static (source, destination) =>
                {
                    var halves = MemoryMarshal.Cast<byte, Half>(destination);
                    for (int i = 0; i < source.Length; i++)
                    {
                        halves[i] = (Half)source[i];
                    }
                });
                break;
            case GgmlType.BF16:
                WriteConverted(values, sizeof(ushort), static (source, destination) =>
                {
                    var words = MemoryMarshal.Cast<byte, ushort>(destination);
                    for (int i = 0; i < source.Length; i++)
                    {
                        words[i] = ToBFloat16(source[i]);
                    }
                });
                break;
        }
    }

    /// <summary>Appends half-precision values to the current tensor, which must be F16.</summary>
    public void WriteTensorData(ReadOnlySpan<Half> values)
    {
        var tensor = CurrentTensor();
        if (tensor.Type != GgmlType.F16)
        {
            throw new InvalidOperationException($"Tensor '{tensor.Name}' is {GgmlTypeTraits.Name(tensor.Type)}, not f16.");
        }

        RequireRoom(tensor, values.Length);

        AppendTensorBytes(MemoryMarshal.AsBytes(values));
    }

    /// <summary>Appends already-encoded bytes of any type to the current tensor.</summary>
    public void WriteTensorBytes(ReadOnlySpan<byte> bytes)
    {
        var tensor = CurrentTensor();
        ulong room = tensor.ByteSize - _currentTensorBytesWritten;
        if ((ulong)bytes.Length > room)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has room for {room} more bytes, got {bytes.Length}.", nameof(bytes));
        }

        AppendTensorBytes(bytes);
    }

    /// <summary>
    /// Writes the header if no tensor data was written, checks that every tensor got all its data,
    /// and moves the file into place (replacing an existing file).
    /// </summary>
    /// <exception cref="InvalidOperationException">A tensor is missing data.</exception>
    public void Complete()
    {
        if (_state == State.Declaring)
        {
            BeginData();
        }

        RequireState(State.WritingData, "complete the file");
        if (_currentTensor < _tensors.Count)
        {
            var missing = _tensors[_currentTensor];
            throw new InvalidOperationException(
                $"Tensor '{missing.Name}' has {_currentTensorBytesWritten} of {missing.ByteSize} bytes; every declared tensor needs all its data before Complete.");
        }

        _stream!.Flush(flushToDisk: false);
        _stream.Dispose();
        _stream = null;
        File.Move(_temporaryPath, _path, overwrite: true);
        _state = State.Completed;
    }

    /// <summary>Releases the file; without <see cref="Complete"/> the partial output is deleted.</summary>
    public void Dispose()
    {
        if (_state == State.Disposed)
        {
            return;
        }

        bool abandoned = _state == State.WritingData; // also true when Complete failed to move the file
        _stream?.Dispose();
        _stream = null;
        if (abandoned)
        {
            File.Delete(_temporaryPath);
        }

        _state = State.Disposed;
    }

    #region Data

    private GgufTensorInfo CurrentTensor()
    {
        if (_state == State.Declaring)
        {
            BeginData();
        }

        RequireState(State.WritingData, "write tensor data");
        if (_currentTensor >= _tensors.Count)
        {
            throw new InvalidOperationException("All declared tensors already have their data.");
        }

        return _tensors[_currentTensor];
    }

    // Only for plain types (block size 1), where bytes divide evenly into elements.
    private void RequireRoom(GgufTensorInfo tensor, int elementCount)
    {
        ulong written = _currentTensorBytesWritten / (ulong)GgmlTypeTraits.TypeSize(tensor.Type);
        if ((ulong)elementCount > tensor.ElementCount - written)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has room for {tensor.ElementCount - written} more elements, got {elementCount}.");
        }
    }

    private void WriteConverted(ReadOnlySpan<float> values, int bytesPerElement, SpanConverter convert)
    {
        int chunk = _scratch.Length / bytesPerElement;
        while (!values.IsEmpty)
        {
            int take = Math.Min(chunk, values.Length);
            var destination = _scratch.AsSpan(0, take * bytesPerElement);
            convert(values[..take], destination);
            AppendTensorBytes(destination);
            values = values[take..];
        }
    }

    private delegate void SpanConverter(ReadOnlySpan<float> source, Span<byte> destination);

    // Callers have checked that the bytes fit in the current tensor.
    private void AppendTensorBytes(ReadOnlySpan<byte> bytes)
    {
        var tensor = _tensors[_currentTensor];
        Write(bytes);
        _currentTensorBytesWritten += (ulong)bytes.Length;
        if (_currentTensorBytesWritten == tensor.ByteSize)
        {
            PadToAlignment();
            _currentTensor++;
            _currentTensorBytesWritten = 0;
            SkipEmptyTensors();
        }
    }

    internal static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFF) > 0x7F800000)
        {
            return (ushort)((bits >> 16) | 0x40); // keep NaN a (quiet) NaN
        }

        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16); // round to nearest even
    }

    #endregion

    #region Header

    private void BeginData()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_path)!);
        _stream = new FileStream(_temporaryPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        _state = State.WritingData;
        // Tensors with no elements need no data; skip them so Complete does not wait for them.
        SkipEmptyTensors();

        Write("GGUF"u8);
        WriteUInt32(FormatVersion);
        WriteUInt64((ulong)_tensors.Count);
        WriteUInt64((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(key);
            WriteValue(value);
        }

        foreach (var tensor in _tensors)
        {
            WriteString(tensor.Name);
            WriteUInt32((uint)tensor.Dimensions.Length);
            foreach (ulong extent in tensor.Dimensions)
            {
                WriteUInt64(extent);
            }

            WriteUInt32((uint)tensor.Type);
            WriteUInt64(tensor.Offset);
        }

        if (_tensors.Count > 0)
        {
            PadToAlignment();
        }
    }

    private void SkipEmptyTensors()
    {
        while (_currentTensor < _tensors.Count && _tensors[_currentTensor].ByteSize == 0)
        {
            _currentTensor++;
        }
    }

    private void WriteValue(GgufValue value)
    {
        if (!value.IsArray)
        {
            WriteUInt32((uint)value.Type);
            WriteScalar(value);
            return;
        }

        WriteUInt32((uint)GgufValueType.Array);
        WriteUInt32((uint)value.ElementType);
        WriteUInt64((ulong)value.Count);
        if (value.ElementType == GgufValueType.String)
        {
            if (value.Utf8Strings is { } utf8)
            {
                // Copying a read file's vocabulary: its bytes go back out without a decode/encode round.
                for (int i = 0; i < utf8.Count; i++)
                {
                    var bytes = utf8.Utf8At(i);
                    WriteUInt64((ulong)bytes.Length);
                    Write(bytes);
                }
            }
            else
            {
                for (int i = 0; i < value.Count; i++)
                {
                    WriteString(value.StringAt(i));
                }
            }
        }
        else
        {
            Write(value.RawArrayBytes());
        }
    }

    private void WriteScalar(GgufValue value)
    {
        if (value.Type == GgufValueType.String)
        {
            WriteString(value.AsString());
            return;
        }

        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value.RawScalarBits);
        Write(bytes[..GgufValueTypes.FixedSize(value.Type)]);
    }

    private void WriteString(string text)
    {
        int byteCount = Encoding.UTF8.GetByteCount(text);
        WriteUInt64((ulong)byteCount);
        if (byteCount <= _scratch.Length)
        {
            int written = Encoding.UTF8.GetBytes(text, _scratch);
            Write(_scratch.AsSpan(0, written));
            return;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(byteCount);
        try
        {
            int written = Encoding.UTF8.GetBytes(text, rented);
            Write(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void WriteUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        Write(bytes);
    }

    private void WriteUInt64(ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        Write(bytes);
    }

    private void PadToAlignment()
    {
        int padding = (int)(GgufReader.AlignUp((ulong)_position, _alignment) - (ulong)_position);
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (padding > 0)
        {
            int take = Math.Min(padding, zeros.Length);
            Write(zeros[..take]);
            padding -= take;
        }
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _stream!.Write(bytes);
        _position += bytes.Length;
    }

    #endregion

    private void RequireState(State required, string action)
    {
        if (_state != required)
        {
            throw new InvalidOperationException(_state switch
            {
                State.Declaring => $"Cannot {action} before tensor data has started.",
                State.WritingData => $"Cannot {action} after tensor data has started.",
                State.Completed => $"Cannot {action}: the file is complete.",
                _ => $"Cannot {action}: the writer is disposed.",
            });
        }
    }
}
