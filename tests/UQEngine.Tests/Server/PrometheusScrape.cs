using System.Globalization;
using System.Text.RegularExpressions;

namespace UQEngine.Tests.Server;

/// <summary>The samples of a Prometheus text exposition: name, labels, value (any timestamp ignored).</summary>
internal sealed partial class PrometheusScrape
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    private PrometheusScrape(string text) => Text = text;

    public string Text { get; }

    public static PrometheusScrape Parse(string text)
    {
        var scrape = new PrometheusScrape(text);
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = Sample().Match(line);
            Assert.True(m.Success, $"not a sample line: '{line}'");
            var labels = Label().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
            scrape._samples.Add((m.Groups["name"].Value, labels, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }
        return scrape;
    }

    /// <summary>The one sample of the name whose labels are exactly these ("label=value" pairs); null when absent.</summary>
    public double? Find(string name, params string[] labels)
    {
        var wanted = labels.Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var hits = _samples.Where(s => s.Name == name && s.Labels.Count == wanted.Count && wanted.All(w => s.Labels.TryGetValue(w.Key, out var v) && v == w.Value)).ToList();
        Assert.True(hits.Count <= 1, $"{hits.Count} samples of {name} {string.Join(",", labels)}");
        return hits.Count == 0 ? null : hits[0].Value;
    }

    /// <summary>The sample, which must be there.</summary>
    public double Value(string name, params string[] labels) =>
        Find(name, labels) ?? throw new Xunit.Sdk.XunitException($"/metrics has no {name} {{{string.Join(",", labels)}}}:\n{Text}");

    public bool HasMetric(string name) => _samples.Any(s => s.Name == name);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)( \d+)?$""")]
    private static partial Regex Sample();

    [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"[,]?""")]
    private static partial Regex Label();
}
