using UQEngine.Methods;
using System.Collections;
using System.Globalization;
using System.Text.Json;
using Parquet.Serialization;

namespace UQEngine.Evaluation.Datasets;

/// <summary>
/// MMLU-Pro from a user-supplied file: parquet (the published test/validation splits), a JSON array, or JSONL, each
/// record with "question", "options" (list of strings), "answer" (letter) or "answer_index", and "category";
/// "question_id" (when present) becomes the item id, "src" and other scalar fields become metadata.
/// </summary>
public static class MmluProImporter
{
    private static readonly HashSet<string> Known = ["question_id", "question", "options", "answer", "answer_index", "category", "cot_content"];

    public static EvaluationDataset Import(string path, DatasetReadOptions? options = null)
    {
        var collector = new ItemCollector(path, options ?? DatasetReadOptions.Default);
        foreach (var (number, record) in RecordSources.Read(path))
            collector.Add(number, () => FromRecord(record(), number));
        return collector.ToDataset(Path.GetFileNameWithoutExtension(path));
    }

    private static EvaluationItem FromRecord(IReadOnlyDictionary<string, object?> r, int number)
    {
        string id = r.TryGetValue("question_id", out var qid) && qid is not null ? RecordSources.Text(qid) : $"mmlu-pro-{number}";
        string question = RecordSources.Text(r.GetValueOrDefault("question") ?? throw new FormatException("missing \"question\""));
        var options = RecordSources.Strings(r.GetValueOrDefault("options") ?? throw new FormatException("missing \"options\""), "options");
        string answer;
        if (r.GetValueOrDefault("answer") is { } a && RecordSources.Text(a).Trim() is { Length: 1 } letter) answer = letter.ToUpperInvariant();
        else if (r.GetValueOrDefault("answer_index") is { } ai && int.TryParse(RecordSources.Text(ai), NumberStyles.Integer, CultureInfo.InvariantCulture, out int index) && index is >= 0 and < EvaluationItem.MaxOptions)
            answer = EvaluationItem.LetterOf(index).ToString();
        else throw new FormatException("needs \"answer\" (a letter) or \"answer_index\"");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in r)
            if (!Known.Contains(key) && value is string scalar) metadata[key] = scalar; // e.g. "src"; lists and records are not metadata
        return new EvaluationItem
        {
            Id = id, Question = question, Kind = EvaluationItemKind.MultipleChoice, Answer = answer, Options = options,
            Category = r.GetValueOrDefault("category") is { } c ? RecordSources.Text(c) : null, Metadata = metadata,
        };
    }
}

/// <summary>
/// TriviaQA from a user-supplied file: the no-context JSON release
/// (<c>{"Data":[{"Question","QuestionId","Answer":{"Value","Aliases","NormalizedAliases"}}]}</c>) or the parquet
/// export (columns question, question_id, answer{value, aliases, normalized_aliases}). Open-answer items whose
/// accepted answers are the value plus all aliases.
/// </summary>
public static class TriviaQaImporter
{
    public static EvaluationDataset Import(string path, DatasetReadOptions? options = null)
    {
        var collector = new ItemCollector(path, options ?? DatasetReadOptions.Default);
        IEnumerable<(int, Func<IReadOnlyDictionary<string, object?>>)> records = Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase)
            ? RecordSources.Read(path)
            : ReadJsonData(path);
        foreach (var (number, record) in records)
            collector.Add(number, () => FromRecord(record(), number));
        return collector.ToDataset(Path.GetFileNameWithoutExtension(path));
    }

    private static IEnumerable<(int, Func<IReadOnlyDictionary<string, object?>>)> ReadJsonData(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        JsonDocument doc;
        using (var stream = File.OpenRead(path))
        {
            try { doc = JsonDocument.Parse(stream); }
            catch (JsonException e) { throw new DatasetFormatException(path, (int)(e.LineNumber ?? -1) + 1, $"invalid JSON: {e.Message}"); }
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("Data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new DatasetFormatException(path, 0, "expected TriviaQA JSON: an object with a \"Data\" array");
            int number = 0;
            foreach (var e in data.EnumerateArray())
            {
                number++;
                var record = RecordSources.FromJson(e);
                yield return (number, () => record);
            }
        }
    }

    private static EvaluationItem FromRecord(IReadOnlyDictionary<string, object?> r, int number)
    {
        string question = RecordSources.Text(Get(r, "Question", "question") ?? throw new FormatException("missing \"Question\""));
        string id = Get(r, "QuestionId", "question_id") is { } qid ? RecordSources.Text(qid) : $"triviaqa-{number}";
        if (Get(r, "Answer", "answer") is not IReadOnlyDictionary<string, object?> answer) throw new FormatException("missing \"Answer\" object");
        string value = Get(answer, "Value", "value") is { } v ? RecordSources.Text(v) : "";
        var aliases = new List<string>();
        foreach (var key in new[] { "Aliases", "aliases", "NormalizedAliases", "normalized_aliases" })
            if (answer.TryGetValue(key, out var list) && list is not null) aliases.AddRange(RecordSources.Strings(list, key));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Get(r, "QuestionSource", "question_source") is { } source) metadata["source"] = RecordSources.Text(source);
        return new EvaluationItem
        {
            Id = id, Question = question, Kind = EvaluationItemKind.OpenAnswer, Answer = value,
            Aliases = [.. aliases.Distinct(StringComparer.Ordinal).Where(a => a != value)], Metadata = metadata,
        };
    }

    private static object? Get(IReadOnlyDictionary<string, object?> r, string a, string b) => r.TryGetValue(a, out var x) && x is not null ? x : r.GetValueOrDefault(b);
}

/// <summary>Turns parquet rows, JSON arrays and JSONL lines into uniform records (name → string, number, list or nested record).</summary>
internal static class RecordSources
{
    /// <summary>Records of a parquet, JSON-array or JSONL file, each with its 1-based row / element / line number.</summary>
    public static IEnumerable<(int Number, Func<IReadOnlyDictionary<string, object?>> Record)> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".parquet") return ReadParquet(path);
        if (ext == ".json") return ReadJsonArray(path);
        return ReadJsonl(path);
    }

    private static IEnumerable<(int, Func<IReadOnlyDictionary<string, object?>>)> ReadParquet(string path)
    {
        IList<Dictionary<string, object>> rows;
        try
        {
            using var stream = File.OpenRead(path);
            rows = ParquetSerializer.DeserializeUntypedAsync(stream).GetAwaiter().GetResult().Data;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException || e.GetType().Namespace?.StartsWith("Parquet", StringComparison.Ordinal) == true)
        {
            throw new DatasetFormatException(path, 0, $"not a readable parquet file: {e.Message}");
        }
        int number = 0;
        foreach (var row in rows)
        {
            number++;
            var record = FromParquet(row);
            yield return (number, () => record);
        }
    }

    private static IReadOnlyDictionary<string, object?> FromParquet(IEnumerable<KeyValuePair<string, object>> row)
    {
        var d = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in row) d[k] = FromParquetValue(v);
        return d;
    }

    private static object? FromParquetValue(object? v) => v switch
    {
        null => null,
        string s => s,
        IDictionary<string, object> nested => FromParquet(nested),
        IEnumerable list and not byte[] => list.Cast<object?>().Select(FromParquetValue).ToList(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString(),
    };

    private static IEnumerable<(int, Func<IReadOnlyDictionary<string, object?>>)> ReadJsonArray(string path)
    {
        JsonDocument doc;
        using (var stream = File.OpenRead(path))
        {
            try { doc = JsonDocument.Parse(stream); }
            catch (JsonException e) { throw new DatasetFormatException(path, (int)(e.LineNumber ?? -1) + 1, $"invalid JSON: {e.Message}"); }
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new DatasetFormatException(path, 0, "expected a JSON array of records");
            int number = 0;
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                number++;
                var record = e.ValueKind == JsonValueKind.Object ? FromJson(e) : null;
                yield return (number, () => record ?? throw new FormatException("expected a JSON object"));
            }
        }
    }

    private static IEnumerable<(int, Func<IReadOnlyDictionary<string, object?>>)> ReadJsonl(string path)
    {
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return (number, () =>
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.ValueKind == JsonValueKind.Object ? FromJson(doc.RootElement) : throw new FormatException("expected a JSON object");
            });
        }
    }

    public static IReadOnlyDictionary<string, object?> FromJson(JsonElement e)
    {
        var d = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject()) d[p.Name] = FromJsonValue(p.Value);
        return d;
    }

    private static object? FromJsonValue(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => FromJson(v),
        JsonValueKind.Array => v.EnumerateArray().Select(FromJsonValue).ToList(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => JsonlDatasetReader.Scalar(v),
    };

    public static string Text(object value) => value switch
    {
        string s => s,
        IReadOnlyDictionary<string, object?> or IList => throw new FormatException("expected a text or number, found a nested value"),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    public static IReadOnlyList<string> Strings(object value, string name) =>
        value is IList list ? [.. list.Cast<object?>().Select(x => x is null ? throw new FormatException($"\"{name}\" has a null entry") : Text(x))]
        : throw new FormatException($"\"{name}\" must be a list of strings");
}
