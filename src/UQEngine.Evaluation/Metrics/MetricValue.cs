using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace UQEngine.Evaluation.Metrics;

/// <summary>
/// The result of one metric: either a finite number or "undefined" with a reason (for example AUROC on data with one
/// class only). A <see cref="MetricValue"/> never holds NaN or an infinity, so nothing undefined can leak into
/// reports or JSON: <see cref="ToString()"/> prints <c>undefined (one class only)</c>, and JSON writes <c>null</c>.
/// </summary>
/// <remarks>
/// <c>default(MetricValue)</c> is undefined with the reason <see cref="UndefinedReasons.NotComputed"/>.
/// Containers that serialize a metric put the reason in a sibling property (see <see cref="BootstrapInterval.Reason"/>),
/// because the JSON form of the value itself is just a number or <c>null</c>.
/// </remarks>
[JsonConverter(typeof(MetricValueJsonConverter))]
public readonly struct MetricValue : IEquatable<MetricValue>
{
    private readonly double _value;
    private readonly string? _reason;

    private MetricValue(double value, string? reason, bool defined)
    {
        _value = value;
        _reason = reason;
        IsDefined = defined;
    }

    /// <summary>True when the metric has a finite value.</summary>
    public bool IsDefined { get; }

    /// <summary>The value; throws <see cref="InvalidOperationException"/> when undefined.</summary>
    public double Value => IsDefined ? _value : throw new InvalidOperationException($"The metric is undefined ({UndefinedReason}).");

    /// <summary>Why the metric is undefined, or null when it is defined.</summary>
    public string? UndefinedReason => IsDefined ? null : _reason ?? UndefinedReasons.NotComputed;

    /// <summary>The value, or null when undefined.</summary>
    public double? AsNullable => IsDefined ? _value : null;

    /// <summary>A defined metric. <paramref name="value"/> must be finite.</summary>
    public static MetricValue Defined(double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "A defined metric must be finite; use MetricValue.Undefined.");
        return new MetricValue(value, null, true);
    }

    /// <summary>An undefined metric with a short human-readable reason (see <see cref="UndefinedReasons"/>).</summary>
    public static MetricValue Undefined(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new MetricValue(0, reason, false);
    }

    /// <summary>Gets the value when defined.</summary>
    public bool TryGetValue(out double value)
    {
        value = IsDefined ? _value : 0;
        return IsDefined;
    }

    /// <summary>The value when defined, otherwise <paramref name="fallback"/>.</summary>
    public double GetValueOrDefault(double fallback) => IsDefined ? _value : fallback;

    /// <summary>Applies <paramref name="map"/> to a defined value; an undefined value keeps its reason. A non-finite result becomes undefined.</summary>
    public MetricValue Select(Func<double, double> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (!IsDefined) return this;
        double y = map(_value);
        return double.IsFinite(y) ? Defined(y) : Undefined(UndefinedReasons.NotFinite);
    }

    /// <summary>Invariant "G6" number, or <c>undefined (reason)</c>.</summary>
    public override string ToString() => ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>The value formatted with <paramref name="format"/>, or <c>undefined (reason)</c>.</summary>
    public string ToString(string? format, IFormatProvider? provider = null) =>
        IsDefined ? _value.ToString(format, provider ?? CultureInfo.InvariantCulture) : $"undefined ({UndefinedReason})";

    public bool Equals(MetricValue other) =>
        IsDefined == other.IsDefined && (IsDefined ? _value.Equals(other._value) : UndefinedReason == other.UndefinedReason);

    public override bool Equals(object? obj) => obj is MetricValue other && Equals(other);

    public override int GetHashCode() => IsDefined ? _value.GetHashCode() : HashCode.Combine(false, UndefinedReason);

    public static bool operator ==(MetricValue left, MetricValue right) => left.Equals(right);

    public static bool operator !=(MetricValue left, MetricValue right) => !left.Equals(right);
}

/// <summary>The reasons this namespace gives for undefined metrics.</summary>
public static class UndefinedReasons
{
    /// <summary>Labels of one class only: a ranking metric needs at least one positive and one negative.</summary>
    public const string OneClassOnly = "one class only";

    /// <summary>There were no items.</summary>
    public const string NoItems = "no items";

    /// <summary>Every item has the same quality, so the oracle and random rejection curves coincide (PRR is 0/0).</summary>
    public const string ConstantQuality = "quality is constant";

    /// <summary>Every bootstrap resample made the metric undefined, or no resamples were asked for.</summary>
    public const string NoValidResamples = "no valid resamples";

    /// <summary>A computation produced a non-finite number.</summary>
    public const string NotFinite = "not finite";

    /// <summary>The value of <c>default(MetricValue)</c>.</summary>
    public const string NotComputed = "not computed";
}

/// <summary>
/// JSON form of <see cref="MetricValue"/>: a number when defined, <c>null</c> when undefined. Reading <c>null</c>
/// gives an undefined value whose reason is <see cref="UndefinedReasons.NotComputed"/> (the reason is not in the number).
/// </summary>
public sealed class MetricValueJsonConverter : JsonConverter<MetricValue>
{
    public override bool HandleNull => true;

    public override MetricValue Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Null => default,
            JsonTokenType.Number => MetricValue.Defined(reader.GetDouble()),
            _ => throw new JsonException($"Expected a number or null for a metric value, found {reader.TokenType}."),
        };

    public override void Write(Utf8JsonWriter writer, MetricValue value, JsonSerializerOptions options)
    {
        if (value.TryGetValue(out double v)) writer.WriteNumberValue(v);
        else writer.WriteNullValue();
    }
}
