using System.Collections;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;

namespace UQEngine.Gguf;

/// <summary>
/// The immutable key/value metadata of a GGUF file. Enumerates in file order and offers typed getters
/// that name the key and the actual type when a value is missing or has another type.
/// </summary>
public sealed class GgufMetadata : IReadOnlyDictionary<string, GgufValue>
{
    private readonly Dictionary<string, GgufValue> _byKey;
    private readonly KeyValuePair<string, GgufValue>[] _inOrder;

    /// <summary>Builds metadata from pairs in order; keys must be unique and non-empty.</summary>
    /// <exception cref="ArgumentException">A key is empty or repeated.</exception>
    public GgufMetadata(IEnumerable<KeyValuePair<string, GgufValue>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _inOrder = entries.ToArray();
        _byKey = new Dictionary<string, GgufValue>(_inOrder.Length, StringComparer.Ordinal);
        foreach (var (key, value) in _inOrder)
        {
            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException("Metadata keys cannot be empty.", nameof(entries));
            }

            ArgumentNullException.ThrowIfNull(value);
            if (!_byKey.TryAdd(key, value))
            {
                throw new ArgumentException($"Duplicate metadata key '{key}'.", nameof(entries));
            }
        }
    }

    /// <summary>Metadata with no keys.</summary>
    public static GgufMetadata Empty { get; } = new([]);

    public int Count => _inOrder.Length;

    public GgufValue this[string key] =>
        _byKey.TryGetValue(key, out var value) ? value : throw Missing(key);

    /// <summary>Keys in file order.</summary>
    public IEnumerable<string> Keys => _inOrder.Select(pair => pair.Key);

    /// <summary>Values in file order.</summary>
    public IEnumerable<GgufValue> Values => _inOrder.Select(pair => pair.Value);

    public bool ContainsKey(string key) => _byKey.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out GgufValue value) => _byKey.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, GgufValue>>)_inOrder).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public string GetString(string key) => Get(key, GgufValueType.String).AsString();
    public uint GetUInt32(string key) => Get(key, GgufValueType.UInt32).AsUInt32();
    public int GetInt32(string key) => Get(key, GgufValueType.Int32).AsInt32();
    public ulong GetUInt64(string key) => Get(key, GgufValueType.UInt64).AsUInt64();
    public long GetInt64(string key) => Get(key, GgufValueType.Int64).AsInt64();
    public float GetFloat32(string key) => Get(key, GgufValueType.Float32).AsFloat32();
    public double GetFloat64(string key) => Get(key, GgufValueType.Float64).AsFloat64();
    public bool GetBool(string key) => Get(key, GgufValueType.Bool).AsBool();

    /// <summary>The elements of an array value; <typeparamref name="T"/> is the element's CLR type (string for str).</summary>
    public ImmutableArray<T> GetArray<T>(string key)
    {
        var value = this[key];
        try
        {
            return value.GetArray<T>();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"metadata key '{key}': {e.Message}", e);
        }
    }

    public bool TryGetString(string key, [NotNullWhen(true)] out string? value) => TryGet(key, GgufValueType.String, v => v.AsString(), out value);
    public bool TryGetUInt32(string key, out uint value) => TryGet(key, GgufValueType.UInt32, v => v.AsUInt32(), out value);
    public bool TryGetInt32(string key, out int value) => TryGet(key, GgufValueType.Int32, v => v.AsInt32(), out value);
    public bool TryGetUInt64(string key, out ulong value) => TryGet(key, GgufValueType.UInt64, v => v.AsUInt64(), out value);
    public bool TryGetInt64(string key, out long value) => TryGet(key, GgufValueType.Int64, v => v.AsInt64(), out value);
    public bool TryGetFloat32(string key, out float value) => TryGet(key, GgufValueType.Float32, v => v.AsFloat32(), out value);
    public bool TryGetFloat64(string key, out double value) => TryGet(key, GgufValueType.Float64, v => v.AsFloat64(), out value);
    public bool TryGetBool(string key, out bool value) => TryGet(key, GgufValueType.Bool, v => v.AsBool(), out value);

    /// <summary>An array value whose elements have CLR type <typeparamref name="T"/>; false if absent or of another type.</summary>
    public bool TryGetArray<T>(string key, out ImmutableArray<T> values)
    {
        if (_byKey.TryGetValue(key, out var value) && value.IsArray && GgufValue.ClrTypeOf(value.ElementType) == typeof(T))
        {
            values = value.GetArray<T>();
            return true;
        }

        values = default;
        return false;
    }

    /// <summary>Any integer scalar under <paramref name="key"/>, whatever its width or signedness.</summary>
    public bool TryGetInteger(string key, out long value)
    {
        value = 0;
        return _byKey.TryGetValue(key, out var v) && v.TryConvertToInt64(out value);
    }

    /// <summary>Any numeric scalar under <paramref name="key"/> as a double.</summary>
    public bool TryGetNumber(string key, out double value)
    {
        value = 0;
        return _byKey.TryGetValue(key, out var v) && v.TryConvertToDouble(out value);
    }

    private GgufValue Get(string key, GgufValueType expected)
    {
        var value = this[key];
        if (value.Type != expected)
        {
            throw new InvalidOperationException(
                $"metadata key '{key}' is {GgufValue.Describe(value.Type, value.ElementType)}, not {GgufValueTypes.ShortName(expected)}");
        }

        return value;
    }

    private bool TryGet<T>(string key, GgufValueType expected, Func<GgufValue, T> read, [MaybeNullWhen(false)] out T value)
    {
        if (_byKey.TryGetValue(key, out var v) && v.Type == expected)
        {
            value = read(v);
            return true;
        }

        value = default;
        return false;
    }

    private static KeyNotFoundException Missing(string key) => new($"metadata key '{key}' is not present");
}
