using System.Text.Json;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Tests.Evaluation.Metrics;

public class MetricValueTests
{
    [Fact]
    public void Defined_value_round_trips_and_prints_invariantly()
    {
        var v = MetricValue.Defined(0.125);
        Assert.True(v.IsDefined);
        Assert.Equal(0.125, v.Value);
        Assert.Equal(0.125, v.AsNullable);
        Assert.Null(v.UndefinedReason);
        Assert.Equal("0.125", v.ToString());
    }

    [Fact]
    public void Undefined_value_prints_its_reason_and_refuses_its_value()
    {
        var v = MetricValue.Undefined(UndefinedReasons.OneClassOnly);
        Assert.False(v.IsDefined);
        Assert.Null(v.AsNullable);
        Assert.Equal("undefined (one class only)", v.ToString());
        Assert.Throws<InvalidOperationException>(() => v.Value);
        Assert.False(v.TryGetValue(out _));
        Assert.Equal(-1, v.GetValueOrDefault(-1));
    }

    [Fact]
    public void Default_is_undefined_not_computed()
    {
        MetricValue v = default;
        Assert.False(v.IsDefined);
        Assert.Equal(UndefinedReasons.NotComputed, v.UndefinedReason);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_values_cannot_be_defined(double x) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MetricValue.Defined(x));

    [Fact]
    public void Select_maps_defined_values_and_turns_non_finite_results_undefined()
    {
        Assert.Equal(0.75, MetricValue.Defined(0.25).Select(x => 1 - x).Value);
        Assert.Equal(UndefinedReasons.NotFinite, MetricValue.Defined(0).Select(x => 1 / x).UndefinedReason);
        Assert.Equal(UndefinedReasons.NoItems, MetricValue.Undefined(UndefinedReasons.NoItems).Select(x => x).UndefinedReason);
    }

    [Fact]
    public void Json_writes_a_number_or_null_and_never_NaN()
    {
        var payload = new { a = MetricValue.Defined(0.5), b = MetricValue.Undefined(UndefinedReasons.OneClassOnly), c = default(MetricValue) };
        string json = JsonSerializer.Serialize(payload);
        Assert.Equal("""{"a":0.5,"b":null,"c":null}""", json);
        var back = JsonSerializer.Deserialize<MetricValue[]>("[0.25,null]")!;
        Assert.Equal(0.25, back[0].Value);
        Assert.False(back[1].IsDefined);
    }
}
