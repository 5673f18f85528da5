using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Gguf;

/// <summary>
/// Parses the header, metadata and tensor table of a GGUF file through a small buffer, checking every
/// count and length against the bytes that remain so that corrupt input fails with a
/// <see cref="GgufFormatException"/> instead of a huge allocation or a crash. Tensor data is never read.
/// </summary>
internal sealed class GgufReader : IDisposable
{
    internal const int HeaderSize = 24; // magic, version, tensor count, key/value count
    internal const uint DefaultAlignment = 32;
    internal const string AlignmentKey = "general.alignment";

    // Limits of the bundled llama.cpp; a file beyond them would be rejected there anyway.
    internal const ulong MaxStringBytes = 1UL << 30;
    internal const ulong MaxArrayElements = 1UL << 30;
    internal const int MaxTensorNameBytes = 63;
    internal const int MaxDimensions = 4;

    // Smallest possible encodings, used to reject counts that the rest of the file cannot hold.
    private const int MinMetadataEntryBytes = 8 + 1 + 4 + 1; // key length, one key byte, type, one value byte
    private const int MinTensorEntryBytes = 8 + 1 + 4 + 4 + 8; // name length, one name byte, n_dims, type, offset

    private const int BufferSize = 64 * 1024;
    private const int InitialCapacityCap = 4096;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly string _path;
    private readonly FileStream _stream;
    private readonly long _fileSize;
    private readonly byte[] _buffer = new byte[BufferSize];
    private long _bufferFileOffset; // file offset of _buffer[0]
    private int _bufferPosition;
    private int _bufferEnd;

    // What is being read, for error messages; formatted only when an error is reported.
    private ReadingPart _readingPart = ReadingPart.Header;
    private int _readingIndex;
    private string? _readingName;

    private GgufReader(string path, FileStream stream)
    {
        _path = path;
        _stream = stream;
        _fileSize = stream.Length;
    }

    private long Position => _bufferFileOffset + _bufferPosition;

    private long Remaining => _fileSize - Position;

    public void Dispose() => _stream.Dispose();

    private const string EmptyProblem = "0 bytes (an empty file, a pipe or a device), not a GGUF file";

    /// <summary>Opens and parses <paramref name="path"/>; see <see cref="GgufFile.Read"/>.</summary>
    public static GgufFile ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF reading needs a little-endian host.");
        }

        if (Directory.Exists(path))
        {
            throw new GgufFormatException(path, "is a directory, not a GGUF file");
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"GGUF file not found: {path}", path);
        }

        // A pipe or device reports 0 bytes and opening it can block forever (a FIFO waits for a writer): refuse
        // before opening. Only a regular file has a length here.
        if (new FileInfo(path).Length == 0)
        {
            throw new GgufFormatException(path, EmptyProblem, 0);
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"GGUF file not found: {path}", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new GgufFormatException(path, "cannot be read: permission denied", null, e);
        }
        catch (IOException e)
        {
            throw new GgufFormatException(path, $"cannot be opened: {e.Message}", null, e);
        }

        using var reader = new GgufReader(path, stream);
        try
        {
            return reader.Parse();
        }
        catch (Exception e) when (e is OverflowException or IndexOutOfRangeException or ArgumentException or OutOfMemoryException or InvalidCastException)
        {
            // A safety net: every known corruption has its own message; this keeps the contract if one slips through.
            throw new GgufFormatException(path, $"unreadable at byte {reader.Position} ({e.GetType().Name}: {e.Message})", reader.Position, e);
        }
    }

    private GgufFile Parse()
    {
        if (_fileSize == 0)
        {
            throw Fail(EmptyProblem, 0);
        }

        ReadMagic();
        uint version = ReadVersion();

        Reading(ReadingPart.Header);
        ulong tensorCount = ReadUInt64();
        ulong metadataCount = ReadUInt64();
        CheckCounts(tensorCount, metadataCount);
        if (tensorCount > int.MaxValue || metadataCount > int.MaxValue)
        {
            throw Fail($"header claims {tensorCount} tensors and {metadataCount} metadata entries, more than a reader can index", 8);
        }

        var metadata = ReadMetadata((int)metadataCount);
        uint alignment = ReadAlignment(metadata);
        var tensors = ReadTensorInfos((int)tensorCount, alignment);

        long dataOffset = Position;
        if (tensors.Length > 0)
        {
            // The data section starts at the next multiple of the alignment, even if the file ends there.
            ulong aligned = AlignUp((ulong)dataOffset, alignment);
            if (aligned > (ulong)_fileSize)
            {
                throw Fail($"truncated: the tensor data section starts at byte {aligned} but the file has {_fileSize} bytes", dataOffset);
            }

            dataOffset = (long)aligned;
        }

        CheckTensorDataInFile(tensors, (ulong)dataOffset);
        return new GgufFile(_path, version, metadata, tensors, alignment, dataOffset, _fileSize);
    }

    private void ReadMagic()
    {
        ReadOnlySpan<byte> expected = "GGUF"u8;
        if (_fileSize < expected.Length)
        {
            throw Fail($"not a GGUF file (only {_fileSize} bytes; a GGUF header has {HeaderSize})", 0);
        }

        Ensure(expected.Length);
        var magic = _buffer.AsSpan(_bufferPosition, expected.Length);
        if (!magic.SequenceEqual(expected))
        {
            throw Fail($"not a GGUF file (magic bytes '{Printable(magic)}', expected 'GGUF')", 0);
        }

        _bufferPosition += expected.Length;
    }

    private uint ReadVersion()
    {
        Reading(ReadingPart.Version);
        uint version = ReadUInt32();
        if (version is 2 or 3)
        {
            return version;
        }

        string problem = version switch
        {
            0 => "invalid GGUF version 0",
            1 => "GGUF version 1 is no longer supported (versions 2 and 3 are)",
            _ when (version & 0xFFFF) == 0 => $"GGUF version field reads 0x{version:X8}: the file is big-endian, only little-endian GGUF files are supported",
            _ => $"unsupported GGUF version {version} (versions 2 and 3 are supported)",
        };
        throw Fail(problem, 4);
    }

    private void CheckCounts(ulong tensorCount, ulong metadataCount)
    {
        ulong remaining = (ulong)Remaining;
        if (metadataCount > remaining / MinMetadataEntryBytes)
        {
            throw Fail($"header claims {metadataCount} metadata entries but the remaining {remaining} bytes can hold at most {remaining / MinMetadataEntryBytes}", 16);
        }

        if (tensorCount > remaining / MinTensorEntryBytes)
        {
            throw Fail($"header claims {tensorCount} tensors but the remaining {remaining} bytes can hold at most {remaining / MinTensorEntryBytes}", 8);
        }

        if (metadataCount * MinMetadataEntryBytes + tensorCount * MinTensorEntryBytes > remaining)
        {
            throw Fail($"header claims {metadataCount} metadata entries and {tensorCount} tensors, more than the remaining {remaining} bytes can hold", 8);
        }
    }

    private GgufMetadata ReadMetadata(int count)
    {
        // Capacities are capped: a count only proves itself as its entries are read.
        var entries = new List<KeyValuePair<string, GgufValue>>(Math.Min(count, InitialCapacityCap));
        var seen = new HashSet<string>(Math.Min(count, InitialCapacityCap), StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long entryStart = Position;
            Reading(ReadingPart.MetadataKey, i);
            string key = ReadString();
            if (key.Length == 0)
            {
                throw Fail($"metadata entry #{i} has an empty key", entryStart);
            }

            if (!seen.Add(key))
            {
                throw Fail($"duplicate metadata key '{key}'", entryStart);
            }

            Reading(ReadingPart.MetadataValue, i, key);
            entries.Add(new(key, ReadValue(key)));
        }

        return new GgufMetadata(entries);
    }

    private GgufValue ReadValue(string key)
    {
        long typeAt = Position;
        var type = ReadValueType(key, typeAt, "value type");
        if (type != GgufValueType.Array)
        {
            return type == GgufValueType.String
                ? GgufValue.FromString(ReadString())
                : GgufValue.ScalarFromBits(type, ReadScalarBits(type));
        }

        var elementType = ReadValueType(key, Position, "array element type");
        if (elementType == GgufValueType.Array)
        {
            throw Fail($"metadata key '{key}' is an array of arrays, which GGUF readers do not support", typeAt);
        }

        long countAt = Position;
        ulong count = ReadUInt64();
        ulong remaining = (ulong)Remaining;
        int minElementBytes = elementType == GgufValueType.String ? 8 : GgufValueTypes.FixedSize(elementType);
        if (count > MaxArrayElements || count > remaining / (ulong)minElementBytes || count > (ulong)(Array.MaxLength / minElementBytes))
        {
            throw Fail(
                $"metadata key '{key}' claims an array of {count} {GgufValueTypes.ShortName(elementType)} elements, " +
                $"but the remaining {remaining} bytes can hold at most {remaining / (ulong)minElementBytes}",
                countAt);
        }

        return elementType == GgufValueType.String
            ? GgufValue.OwnStringList(ReadStringArray((int)count))
            : GgufValue.OwnArray(elementType, ReadNumericArray(elementType, (int)count));
    }

    private GgufValueType ReadValueType(string key, long at, string what)
    {
        uint typeId = ReadUInt32();
        if (!GgufValueTypes.IsDefined(typeId))
        {
            throw Fail($"metadata key '{key}' has unknown {what} {(int)typeId}", at);
        }

        return (GgufValueType)typeId;
    }

    private ulong ReadScalarBits(GgufValueType type)
    {
        switch (GgufValueTypes.FixedSize(type))
        {
            case 1:
                Ensure(1);
                byte b = _buffer[_bufferPosition++];
                return type == GgufValueType.Bool ? (b != 0 ? 1UL : 0UL) : b;
            case 2:
                Ensure(2);
                ushort s = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_bufferPosition));
                _bufferPosition += 2;
                return s;
            case 4:
                return ReadUInt32();
            default:
                return ReadUInt64();
        }
    }

    private Array ReadNumericArray(GgufValueType elementType, int count)
    {
        Array array = elementType switch
        {
            GgufValueType.UInt8 => new byte[count],
            GgufValueType.Int8 => new sbyte[count],
            GgufValueType.Bool => new bool[count],
            GgufValueType.UInt16 => new ushort[count],
            GgufValueType.Int16 => new short[count],
            GgufValueType.UInt32 => new uint[count],
            GgufValueType.Int32 => new int[count],
            GgufValueType.Float32 => new float[count],
            GgufValueType.UInt64 => new ulong[count],
            GgufValueType.Int64 => new long[count],
            GgufValueType.Float64 => new double[count],
            _ => throw new InvalidOperationException($"not a numeric type: {elementType}"),
        };

        // The host is little-endian (checked on entry), so the file bytes are the array's memory image.
        int byteCount = count * GgufValueTypes.FixedSize(elementType);
        var destination = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(array), byteCount);
        ReadExactly(destination);

        if (elementType == GgufValueType.Bool)
        {
            // Any non-zero byte means true; store canonical 1 so the bool[] holds only valid values.
            foreach (ref byte b in destination)
            {
                b = b != 0 ? (byte)1 : (byte)0;
            }
        }

        return array;
    }

    private Utf8StringList ReadStringArray(int count)
    {
        // Buffers grow as strings arrive rather than trusting the count: each string proves its bytes exist first.
        var starts = new int[Math.Min(count, InitialCapacityCap) + 1];
        // Sixteen bytes per string covers typical vocabularies in one block; the cap bounds what a corrupt count can cost.
        var bytes = new byte[Math.Min(Math.Min(count * 16L, Remaining), 16 << 20)];
        int used = 0;
        for (int i = 0; i < count; i++)
        {
            int length = ReadStringLength();
            if (length > Array.MaxLength - used)
            {
                throw Fail($"the strings of {DescribeReading()} exceed {Array.MaxLength} bytes in total", Position);
            }

            if (used + length > bytes.Length)
            {
                Array.Resize(ref bytes, (int)Math.Min(Array.MaxLength, Math.Max(used + (long)length, bytes.Length * 2L)));
            }

            ReadExactly(bytes.AsSpan(used, length));
            used += length;
            if (i + 1 >= starts.Length)
            {
                Array.Resize(ref starts, (int)Math.Min(count + 1L, starts.Length * 2L));
            }

            starts[i + 1] = used;
        }

        if (bytes.Length - used > bytes.Length / 2)
        {
            Array.Resize(ref bytes, used);
        }

        return new Utf8StringList(bytes, starts);
    }

    private uint ReadAlignment(GgufMetadata metadata)
    {
        if (!metadata.TryGetValue(AlignmentKey, out var value))
        {
            return DefaultAlignment;
        }

        if (value.Type != GgufValueType.UInt32)
        {
            throw Fail($"metadata key '{AlignmentKey}' must be u32 but is {GgufValue.Describe(value.Type, value.ElementType)}", null);
        }

        uint alignment = value.AsUInt32();
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw Fail($"alignment {alignment} from '{AlignmentKey}' is not a power of two", null);
        }

        return alignment;
    }

    private ImmutableArray<GgufTensorInfo> ReadTensorInfos(int count, uint alignment)
    {
        var tensors = ImmutableArray.CreateBuilder<GgufTensorInfo>(Math.Min(count, InitialCapacityCap));
        var seen = new HashSet<string>(Math.Min(count, InitialCapacityCap), StringComparer.Ordinal);
        Span<ulong> dimensions = stackalloc ulong[MaxDimensions];
        ulong expectedOffset = 0;

        for (int i = 0; i < count; i++)
        {
            long entryStart = Position;
            Reading(ReadingPart.TensorName, i);
            long nameLength = PeekStringLength();
            string name = ReadString();
            if (name.Length == 0)
            {
                throw Fail($"tensor #{i} has an empty name", entryStart);
            }

            if (nameLength > MaxTensorNameBytes)
            {
                throw Fail($"tensor #{i} name is {nameLength} bytes long; llama.cpp allows at most {MaxTensorNameBytes}", entryStart);
            }

            if (!seen.Add(name))
            {
                throw Fail($"duplicate tensor name '{name}'", entryStart);
            }

            Reading(ReadingPart.TensorDescription, i, name);
            long dimsAt = Position;
            uint dimensionCount = ReadUInt32();
            if (dimensionCount > MaxDimensions)
            {
                throw Fail($"tensor '{name}' has {dimensionCount} dimensions; at most {MaxDimensions} are allowed", dimsAt);
            }

            for (int d = 0; d < dimensionCount; d++)
            {
                long extent = (long)ReadUInt64();
                if (extent < 0)
                {
                    throw Fail($"tensor '{name}' dimension {d} is negative ({extent})", dimsAt);
                }

                dimensions[d] = (ulong)extent;
            }

            long typeAt = Position;
            int typeId = (int)ReadUInt32();
            if (!GgmlTypeTraits.IsKnown(typeId))
            {
                throw Fail($"tensor '{name}' has unknown ggml type id {typeId}", typeAt);
            }

            var type = (GgmlType)typeId;
            var shape = dimensions[..(int)dimensionCount];
            string? shapeProblem = GgufTensorInfo.TryMeasure(shape, type, out ulong elementCount, out ulong byteSize);
            if (shapeProblem is not null)
            {
                throw Fail($"tensor '{name}': {shapeProblem}", dimsAt);
            }

            long offsetAt = Position;
            ulong offset = ReadUInt64();
            if (offset % alignment != 0)
            {
                throw Fail($"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}", offsetAt);
            }

            // llama.cpp requires the data to be packed in table order, each tensor padded to the alignment.
            if (offset != expectedOffset)
            {
                throw Fail($"tensor '{name}' data offset is {offset} but must be {expectedOffset} (tensor data packed in table order, padded to {alignment} bytes)", offsetAt);
            }

            ulong padded = AlignUp(byteSize, alignment);
            if (padded < byteSize || expectedOffset > ulong.MaxValue - padded)
            {
                throw Fail($"tensor '{name}' data size overflows 64 bits", dimsAt);
            }

            expectedOffset += padded;
            tensors.Add(new GgufTensorInfo(name, shape.ToImmutableArray(), type, offset, elementCount, byteSize));
        }

        return tensors.ToImmutable();
    }

    private void CheckTensorDataInFile(ImmutableArray<GgufTensorInfo> tensors, ulong dataOffset)
    {
        foreach (var tensor in tensors)
        {
            ulong start = dataOffset + tensor.Offset;
            ulong end = start + tensor.ByteSize;
            if (start < dataOffset || end < start || end > (ulong)_fileSize)
            {
                throw Fail($"truncated: tensor '{tensor.Name}' data ends at byte {end} but the file has {_fileSize} bytes", (long)Math.Min(start, long.MaxValue));
            }
        }
    }

    #region Primitive reads

    private uint ReadUInt32()
    {
        Ensure(4);
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_bufferPosition));
        _bufferPosition += 4;
        return value;
    }

    private ulong ReadUInt64()
    {
        Ensure(8);
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(_bufferPosition));
        _bufferPosition += 8;
        return value;
    }

    private long PeekStringLength()
    {
        Ensure(8);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(_bufferPosition));
        return length > long.MaxValue ? long.MaxValue : (long)length;
    }

    /// <summary>Reads a string's length prefix and checks that the file can hold it.</summary>
    private int ReadStringLength()
    {
        long lengthAt = Position;
        ulong length = ReadUInt64();
        if (length > (ulong)Remaining)
        {
            throw Fail($"string length {length} in {DescribeReading()} exceeds the {Remaining} bytes left in the file", lengthAt);
        }

        if (length > MaxStringBytes)
        {
            throw Fail($"string length {length} in {DescribeReading()} exceeds the 1 GiB limit", lengthAt);
        }

        return (int)length;
    }

    private string ReadString()
    {
        int byteCount = ReadStringLength();
        if (byteCount == 0)
        {
            return string.Empty;
        }

        if (byteCount <= _buffer.Length)
        {
            Ensure(byteCount);
            string text = Utf8.GetString(_buffer, _bufferPosition, byteCount);
            _bufferPosition += byteCount;
            return text;
        }

        var bytes = new byte[byteCount];
        ReadExactly(bytes);
        return Utf8.GetString(bytes);
    }

    private void ReadExactly(Span<byte> destination)
    {
        if (destination.Length > Remaining)
        {
            throw Truncated(destination.Length);
        }

        while (!destination.IsEmpty)
        {
            int available = _bufferEnd - _bufferPosition;
            if (available == 0)
            {
                Ensure(Math.Min(destination.Length, _buffer.Length));
                available = _bufferEnd - _bufferPosition;
            }

            int take = Math.Min(available, destination.Length);
            _buffer.AsSpan(_bufferPosition, take).CopyTo(destination);
            _bufferPosition += take;
            destination = destination[take..];
        }
    }

    /// <summary>Makes at least <paramref name="count"/> (at most the buffer size) unread bytes available in the buffer.</summary>
    private void Ensure(int count)
    {
        if (_bufferEnd - _bufferPosition >= count)
        {
            return;
        }

        if (Remaining < count)
        {
            throw Truncated(count);
        }

        // Move the unread tail to the front, then refill behind it.
        int unread = _bufferEnd - _bufferPosition;
        Buffer.BlockCopy(_buffer, _bufferPosition, _buffer, 0, unread);
        _bufferFileOffset += _bufferPosition;
        _bufferPosition = 0;
        _bufferEnd = unread;
        while (_bufferEnd < count)
        {
            int read = _stream.Read(_buffer, _bufferEnd, _buffer.Length - _bufferEnd);
            if (read == 0)
            {
                throw Truncated(count); // the file shrank while being read
            }

            _bufferEnd += read;
        }
    }

    #endregion

    private GgufFormatException Truncated(long needed) =>
        Fail($"truncated: the file ends at byte {_fileSize} while reading {DescribeReading()} ({needed} bytes needed at byte {Position})", Position);

    private void Reading(ReadingPart part, int index = 0, string? name = null)
    {
        _readingPart = part;
        _readingIndex = index;
        _readingName = name;
    }

    private string DescribeReading() => _readingPart switch
    {
        ReadingPart.Version => "the version",
        ReadingPart.MetadataKey => $"the key of metadata entry #{_readingIndex}",
        ReadingPart.MetadataValue => $"the value of metadata key '{_readingName}'",
        ReadingPart.TensorName => $"the name of tensor #{_readingIndex}",
        ReadingPart.TensorDescription => $"the description of tensor '{_readingName}'",
        _ => "the header",
    };

    private enum ReadingPart
    {
        Header,
        Version,
        MetadataKey,
        MetadataValue,
        TensorName,
        TensorDescription,
    }

    private GgufFormatException Fail(string problem, long? offset) => new(_path, problem, offset);

    internal static ulong AlignUp(ulong value, uint alignment)
    {
        ulong mask = alignment - 1UL;
        ulong sum = value + mask;
        return sum < value ? ulong.MaxValue & ~mask : sum & ~mask;
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length * 4);
        foreach (byte b in bytes)
        {
            if (b is >= 0x20 and < 0x7F and not (byte)'\\' and not (byte)'\'')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append("\\x").Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
