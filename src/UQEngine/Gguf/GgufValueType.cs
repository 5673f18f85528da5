namespace UQEngine.Gguf;

/// <summary>Type tag of a GGUF metadata value, with the ids used on disk.</summary>
public enum GgufValueType
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Facts about <see cref="GgufValueType"/> values.</summary>
public static class GgufValueTypes
{
    /// <summary>True for the ids 0 to 12 defined by the format.</summary>
    public static bool IsDefined(uint typeId) => typeId <= (uint)GgufValueType.Float64;

    /// <summary>Bytes of one scalar on disk; 0 for <see cref="GgufValueType.String"/> and <see cref="GgufValueType.Array"/>.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The short name llama.cpp uses in its logs, e.g. "u32", "str", "arr".</summary>
    public static string ShortName(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "str",
        GgufValueType.Array => "arr",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        _ => $"type{(int)type}",
    };
}
