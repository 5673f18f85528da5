using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Gguf;

/// <summary>
/// One immutable GGUF metadata value: a scalar of one of the twelve scalar types, a string, or a
/// one-level array of those. Equality is structural (floats compare by bit pattern, so NaN equals itself).
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    // Scalars keep their raw little-endian bit pattern here; strings and arrays live in _reference.
    private readonly ulong _scalarBits;
    private readonly object? _reference;

    private GgufValue(GgufValueType type, GgufValueType elementType, ulong scalarBits, object? reference)
    {
        Type = type;
        ElementType = elementType;
        _scalarBits = scalarBits;
        _reference = reference;
    }

    /// <summary>The value's type tag; <see cref="GgufValueType.Array"/> for arrays.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays the type of the elements; for scalars the same as <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>True when this value is an array.</summary>
    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Number of elements of an array; 1 for a scalar.</summary>
    public int Count => _reference switch
    {
        Array array => array.Length,
        Utf8StringList strings => strings.Count,
        _ => 1,
    };

    /// <summary>The CLR type that holds one element of <paramref name="type"/> (byte for u8, string for str, ...).</summary>
    public static System.Type ClrTypeOf(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Arrays have no single CLR element type."),
    };

    #region Factories

    public static GgufValue FromUInt8(byte value) => Scalar(GgufValueType.UInt8, value);
    public static GgufValue FromInt8(sbyte value) => Scalar(GgufValueType.Int8, (byte)value);
    public static GgufValue FromUInt16(ushort value) => Scalar(GgufValueType.UInt16, value);
    public static GgufValue FromInt16(short value) => Scalar(GgufValueType.Int16, (ushort)value);
    public static GgufValue FromUInt32(uint value) => Scalar(GgufValueType.UInt32, value);
    public static GgufValue FromInt32(int value) => Scalar(GgufValueType.Int32, (uint)value);
    public static GgufValue FromFloat32(float value) => Scalar(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(value));
    public static GgufValue FromBool(bool value) => Scalar(GgufValueType.Bool, value ? 1UL : 0UL);
    public static GgufValue FromUInt64(ulong value) => Scalar(GgufValueType.UInt64, value);
    public static GgufValue FromInt64(long value) => Scalar(GgufValueType.Int64, (ulong)value);
    public static GgufValue FromFloat64(double value) => Scalar(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(value));

    /// <summary>A string value (stored as UTF-8 on disk).</summary>
    public static GgufValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new GgufValue(GgufValueType.String, GgufValueType.String, 0, value);
    }

    public static GgufValue FromArray(ReadOnlySpan<byte> values) => MakeArray(GgufValueType.UInt8, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<sbyte> values) => MakeArray(GgufValueType.Int8, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<ushort> values) => MakeArray(GgufValueType.UInt16, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<short> values) => MakeArray(GgufValueType.Int16, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<uint> values) => MakeArray(GgufValueType.UInt32, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<int> values) => MakeArray(GgufValueType.Int32, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<float> values) => MakeArray(GgufValueType.Float32, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<bool> values) => MakeArray(GgufValueType.Bool, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<ulong> values) => MakeArray(GgufValueType.UInt64, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<long> values) => MakeArray(GgufValueType.Int64, values.ToArray());
    public static GgufValue FromArray(ReadOnlySpan<double> values) => MakeArray(GgufValueType.Float64, values.ToArray());

    /// <summary>An array of strings; null elements are rejected.</summary>
    public static GgufValue FromStringArray(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        string[] copy = values.ToArray();
        foreach (string s in copy)
        {
            if (s is null)
            {
                throw new ArgumentException("String arrays cannot contain null.", nameof(values));
            }
        }

        return MakeArray(GgufValueType.String, copy);
    }

    /// <summary>Wraps an array that the caller hands over and will not modify again (used by the reader).</summary>
    internal static GgufValue OwnArray(GgufValueType elementType, Array values) => MakeArray(elementType, values);

    /// <summary>A string array whose elements stay UTF-8 until first asked for (used by the reader).</summary>
    internal static GgufValue OwnStringList(Utf8StringList values) => new(GgufValueType.Array, GgufValueType.String, 0, values);

    internal static GgufValue ScalarFromBits(GgufValueType type, ulong bits) => Scalar(type, bits);

    private static GgufValue Scalar(GgufValueType type, ulong bits) => new(type, type, bits, null);

    private static GgufValue MakeArray(GgufValueType elementType, Array values) => new(GgufValueType.Array, elementType, 0, values);

    #endregion

    #region Typed access

    public byte AsUInt8() => (byte)ScalarBits(GgufValueType.UInt8);
    public sbyte AsInt8() => (sbyte)(byte)ScalarBits(GgufValueType.Int8);
    public ushort AsUInt16() => (ushort)ScalarBits(GgufValueType.UInt16);
    public short AsInt16() => (short)(ushort)ScalarBits(GgufValueType.Int16);
    public uint AsUInt32() => (uint)ScalarBits(GgufValueType.UInt32);
    public int AsInt32() => (int)(uint)ScalarBits(GgufValueType.Int32);
    public float AsFloat32() => BitConverter.UInt32BitsToSingle((uint)ScalarBits(GgufValueType.Float32));
    public bool AsBool() => ScalarBits(GgufValueType.Bool) != 0;
    public ulong AsUInt64() => ScalarBits(GgufValueType.UInt64);
    public long AsInt64() => (long)ScalarBits(GgufValueType.Int64);
    public double AsFloat64() => BitConverter.UInt64BitsToDouble(ScalarBits(GgufValueType.Float64));

    /// <summary>The string of a <see cref="GgufValueType.String"/> scalar.</summary>
    /// <exception cref="InvalidOperationException">The value is not a string scalar.</exception>
    public string AsString() =>
        Type == GgufValueType.String ? (string)_reference! : throw WrongType(GgufValueType.String, isArray: false);

    /// <summary>
    /// The elements of an array without copying. <typeparamref name="T"/> must be the element's CLR type
    /// (see <see cref="ClrTypeOf"/>), e.g. <c>GetArray&lt;string&gt;()</c> for the token list.
    /// </summary>
    /// <exception cref="InvalidOperationException">The value is not an array of <typeparamref name="T"/>.</exception>
    public ImmutableArray<T> GetArray<T>()
    {
        // An exact type test: the runtime would let a uint[] pass as int[].
        if (IsArray && _reference?.GetType() == typeof(T[]))
        {
            return ImmutableCollectionsMarshal.AsImmutableArray((T[])_reference);
        }

        if (typeof(T) == typeof(string) && _reference is Utf8StringList lazy)
        {
            return ImmutableCollectionsMarshal.AsImmutableArray((T[])(object)lazy.Decoded());
        }

        throw new InvalidOperationException(
            $"value is {Describe(Type, ElementType)}, not an array of {typeof(T).Name}");
    }

    /// <summary>
    /// Reads any integer scalar (u8..i64) as a signed 64-bit number. Useful for keys that different
    /// converters store with different widths. False for non-integers and for u64 values above <see cref="long.MaxValue"/>.
    /// </summary>
    public bool TryConvertToInt64(out long value)
    {
        value = 0;
        switch (Type)
        {
            case GgufValueType.UInt8: value = AsUInt8(); return true;
            case GgufValueType.Int8: value = AsInt8(); return true;
            case GgufValueType.UInt16: value = AsUInt16(); return true;
            case GgufValueType.Int16: value = AsInt16(); return true;
            case GgufValueType.UInt32: value = AsUInt32(); return true;
            case GgufValueType.Int32: value = AsInt32(); return true;
            case GgufValueType.Int64: value = AsInt64(); return true;
            case GgufValueType.UInt64:
                if (_scalarBits > long.MaxValue)
                {
                    return false;
                }

                value = (long)_scalarBits;
                return true;
            default:
                return false;
        }
    }

    /// <summary>Reads any numeric scalar (integer or float) as a double; false for strings, bools and arrays. A float32 becomes the double with the same shortest decimal form.</summary>
    public bool TryConvertToDouble(out double value)
    {
        value = 0;
        switch (Type)
        {
            case GgufValueType.Float32:
                // Via the shortest round-trip text, so 1e-5f reads as 1e-05 rather than 9.99999974737875E-06.
                value = double.Parse(AsFloat32().ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                return true;
            case GgufValueType.Float64: value = AsFloat64(); return true;
            case GgufValueType.UInt64: value = _scalarBits; return true;
            default:
                if (TryConvertToInt64(out long integer))
                {
                    value = integer;
                    return true;
                }

                return false;
        }
    }

    private ulong ScalarBits(GgufValueType expected) =>
        Type == expected ? _scalarBits : throw WrongType(expected, isArray: false);

    private InvalidOperationException WrongType(GgufValueType expected, bool isArray) =>
        new($"value is {Describe(Type, ElementType)}, not {(isArray ? "an array of " : "")}{GgufValueTypes.ShortName(expected)}");

    internal static string Describe(GgufValueType type, GgufValueType elementType) =>
        type == GgufValueType.Array ? $"arr[{GgufValueTypes.ShortName(elementType)}]" : GgufValueTypes.ShortName(type);

    #endregion

    #region Equality and display

    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type || other.ElementType != ElementType || other._scalarBits != _scalarBits)
        {
            return false;
        }

        if (ElementType == GgufValueType.String && IsArray)
        {
            if (Count != other.Count)
            {
                return false;
            }

            for (int i = 0; i < Count; i++)
            {
                if (!string.Equals(StringAt(i), other.StringAt(i), StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        return (_reference, other._reference) switch
        {
            (null, null) => true,
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (Array a, Array b) => RawBytes(a).SequenceEqual(RawBytes(b)),
            _ => false,
        };
    }

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.Add(ElementType);
        hash.Add(_scalarBits);
        switch (_reference)
        {
            case string s:
                hash.Add(s, StringComparer.Ordinal);
                break;
            default:
                hash.Add(Count);
                break;
        }

        return hash.ToHashCode();
    }

    /// <summary>Short human-readable form: the scalar itself, or the array type, length and first elements.</summary>
    public override string ToString() => ToDisplayString();

    /// <summary>Human-readable form for listings; long strings and arrays are shortened.</summary>
    public string ToDisplayString(int maxArrayElements = 8, int maxStringLength = 120)
    {
        if (!IsArray)
        {
            return ElementToString(0, maxStringLength);
        }

        var text = new StringBuilder();
        text.Append(Describe(Type, ElementType)).Append(" x ").Append(Count.ToString(CultureInfo.InvariantCulture)).Append(" [");
        int shown = Math.Min(Count, maxArrayElements);
        for (int i = 0; i < shown; i++)
        {
            text.Append(i == 0 ? "" : ", ").Append(ElementToString(i, maxStringLength));
        }

        text.Append(Count > shown ? ", ...]" : "]");
        return text.ToString();
    }

    private string ElementToString(int index, int maxStringLength)
    {
        if (ElementType == GgufValueType.String)
        {
            return Quote(IsArray ? StringAt(index) : (string)_reference!, maxStringLength);
        }

        object boxed = _reference is Array array ? array.GetValue(index)! : ScalarAsObject();
        return boxed switch
        {
            bool b => b ? "true" : "false",
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => boxed.ToString() ?? "",
        };
    }

    private object ScalarAsObject() => Type switch
    {
        GgufValueType.UInt8 => AsUInt8(),
        GgufValueType.Int8 => AsInt8(),
        GgufValueType.UInt16 => AsUInt16(),
        GgufValueType.Int16 => AsInt16(),
        GgufValueType.UInt32 => AsUInt32(),
        GgufValueType.Int32 => AsInt32(),
        GgufValueType.Float32 => AsFloat32(),
        GgufValueType.Bool => AsBool(),
        GgufValueType.UInt64 => AsUInt64(),
        GgufValueType.Int64 => AsInt64(),
        GgufValueType.Float64 => AsFloat64(),
        _ => throw new InvalidOperationException("not a scalar"),
    };

    private static string Quote(string s, int maxLength)
    {
        var text = new StringBuilder(Math.Min(s.Length, maxLength) + 8).Append('"');
        int limit = Math.Min(s.Length, maxLength);
        for (int i = 0; i < limit; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                default:
                    if (char.IsControl(c))
                    {
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        text.Append('"');
        if (s.Length > limit)
        {
            text.Append("... (").Append(s.Length.ToString(CultureInfo.InvariantCulture)).Append(" chars)");
        }

        return text.ToString();
    }

    #endregion

    /// <summary>The array's elements as raw bytes (numeric and bool arrays only).</summary>
    internal ReadOnlySpan<byte> RawArrayBytes() =>
        _reference is Array array and not string[] ? RawBytes(array) : throw new InvalidOperationException("not a numeric array");

    /// <summary>The raw scalar payload, as stored on disk in the low bytes.</summary>
    internal ulong RawScalarBits => IsArray || Type == GgufValueType.String ? throw new InvalidOperationException("not a numeric scalar") : _scalarBits;

    /// <summary>Element <paramref name="index"/> of a string array, decoding only that element when still UTF-8.</summary>
    internal string StringAt(int index) => _reference switch
    {
        string[] strings => strings[index],
        Utf8StringList lazy => lazy[index],
        _ => throw new InvalidOperationException("not a string array"),
    };

    /// <summary>The UTF-8 form of a string array when it is still held as read from a file.</summary>
    internal Utf8StringList? Utf8Strings => _reference as Utf8StringList;

    private static ReadOnlySpan<byte> RawBytes(Array array) =>
        MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(array), checked(array.Length * ElementSizeOf(array)));

    private static int ElementSizeOf(Array array) => array switch
    {
        byte[] or sbyte[] or bool[] => 1,
        ushort[] or short[] => 2,
        uint[] or int[] or float[] => 4,
        ulong[] or long[] or double[] => 8,
        _ => throw new InvalidOperationException("not a numeric array"),
    };
}
