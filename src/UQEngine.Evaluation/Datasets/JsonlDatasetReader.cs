using UQEngine.Methods;
using System.Globalization;
using System.Text.Json;

namespace UQEngine.Evaluation.Datasets;

/// <summary>
/// Reads the project's own JSONL schema, one JSON object per line (blank lines are ignored):
/// <code>
/// {"id":"q1","question":"Capital of France?","answer":"Paris","aliases":["Paris, France"],"family":"geo"}
/// {"id":"m1","question":"2+2?","options":["3","4","5"],"answer":"B","category":"math","metadata":{"exposure":3}}
/// </code>
/// An item with "options" is multiple choice (its "answer" is a letter, or "answer_index" a 0-based index);
/// otherwise it is open answer. Fields under "metadata", and any top-level field the schema does not name, become
/// <see cref="EvaluationItem.Metadata"/>. Ids must be unique.
/// </summary>
public static class JsonlDatasetReader
{
    private static readonly HashSet<string> SchemaFields = ["id", "question", "answer", "answer_index", "aliases", "options", "category", "metadata", "kind"];

    /// <summary>Reads a JSONL file; the dataset is named after the file.</summary>
    public static EvaluationDataset Read(string path, DatasetReadOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        using var reader = new StreamReader(path);
        return Parse(reader, path, Path.GetFileNameWithoutExtension(path), options);
    }

    /// <summary>Parses JSONL text; <paramref name="source"/> names it in error messages.</summary>
    public static EvaluationDataset Parse(TextReader reader, string source, string name, DatasetReadOptions? options = null)
    {
        var collector = new ItemCollector(source, options ?? DatasetReadOptions.Default);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            collector.Add(lineNumber, () =>
            {
                using var doc = JsonDocument.Parse(line);
                return FromJson(doc.RootElement, lineNumber);
            });
        }
        return collector.ToDataset(name);
    }

    /// <summary>Builds an item from one JSON object of the schema above; throws <see cref="FormatException"/> with the reason.</summary>
    public static EvaluationItem FromJson(JsonElement e, int recordNumber)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException($"expected a JSON object, found {e.ValueKind}");
        string id = e.TryGetProperty("id", out var idValue) ? Scalar(idValue) : throw new FormatException("missing \"id\"");
        string question = RequiredString(e, "question");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (e.TryGetProperty("metadata", out var meta))
        {
            if (meta.ValueKind != JsonValueKind.Object) throw new FormatException("\"metadata\" must be an object");
            foreach (var p in meta.EnumerateObject()) metadata[p.Name] = Scalar(p.Value);
        }
        foreach (var p in e.EnumerateObject())
            if (!SchemaFields.Contains(p.Name)) metadata[p.Name] = Scalar(p.Value);
        string? category = e.TryGetProperty("category", out var c) && c.ValueKind != JsonValueKind.Null ? Scalar(c) : null;

        EvaluationItem item;
        if (e.TryGetProperty("options", out var opts))
        {
            var options = StringArray(opts, "options");
            string answer;
            if (e.TryGetProperty("answer", out var a) && a.ValueKind == JsonValueKind.String) answer = a.GetString()!.Trim().ToUpperInvariant();
            else if (e.TryGetProperty("answer_index", out var ai))
            {
                if (ai.ValueKind != JsonValueKind.Number || !ai.TryGetInt32(out int index))
                    throw new FormatException($"\"answer_index\" must be an integer (0-based), not {Describe(ai)}");
                if (index < 0 || index >= options.Count)
                    throw new FormatException($"\"answer_index\" {index} is outside the {options.Count} options (0..{options.Count - 1})");
                answer = EvaluationItem.LetterOf(index).ToString();
            }
            else throw new FormatException("a multiple-choice item needs \"answer\" (a letter) or \"answer_index\" (0-based)");
            item = new EvaluationItem { Id = id, Question = question, Kind = EvaluationItemKind.MultipleChoice, Answer = answer, Options = options, Category = category, Metadata = metadata };
        }
        else
        {
            string answer = e.TryGetProperty("answer", out var a) && a.ValueKind != JsonValueKind.Null ? Scalar(a) : "";
            var aliases = e.TryGetProperty("aliases", out var al) ? StringArray(al, "aliases") : [];
            item = new EvaluationItem { Id = id, Question = question, Kind = EvaluationItemKind.OpenAnswer, Answer = answer, Aliases = aliases, Category = category, Metadata = metadata };
        }
        return item;
    }

    private static string RequiredString(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) ? throw new FormatException($"missing string \"{name}\"")
        : v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw new FormatException($"\"{name}\" must be a string, not {Describe(v)}");

    /// <summary>A JSON value's kind and a short excerpt, for messages: "a number (123)".</summary>
    private static string Describe(JsonElement v)
    {
        string raw = v.GetRawText();
        if (raw.Length > 40) raw = raw[..40] + "…";
        return v.ValueKind switch
        {
            JsonValueKind.Number => $"a number ({raw})",
            JsonValueKind.String => $"a string ({raw})",
            JsonValueKind.True or JsonValueKind.False => $"a boolean ({raw})",
            JsonValueKind.Null => "null",
            JsonValueKind.Array => "an array",
            _ => "an object",
        };
    }

    private static IReadOnlyList<string> StringArray(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Array) throw new FormatException($"\"{name}\" must be an array of strings");
        var list = new List<string>(e.GetArrayLength());
        foreach (var v in e.EnumerateArray()) list.Add(v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new FormatException($"\"{name}\" must be an array of strings; item {list.Count} is {Describe(v)}"));
        return list;
    }

    /// <summary>A JSON value as metadata text: strings as they are, numbers and booleans in invariant form, the rest as compact JSON.</summary>
    public static string Scalar(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Number => v.TryGetInt64(out long l) ? l.ToString(CultureInfo.InvariantCulture) : v.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "",
        _ => v.GetRawText(),
    };
}

/// <summary>
/// Shared by every reader: validates each item, enforces unique ids, and applies <see cref="OnBadLine"/> so all
/// formats report malformed records the same way (file:line: reason).
/// </summary>
internal sealed class ItemCollector(string source, DatasetReadOptions options)
{
    private readonly List<EvaluationItem> _items = [];
    private readonly List<SkippedLine> _skipped = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    public void Add(int lineNumber, Func<EvaluationItem> parse)
    {
        string? problem;
        EvaluationItem? item = null;
        try
        {
            item = parse();
            problem = item.Validate() ?? (_ids.Contains(item.Id) ? $"duplicate id '{item.Id}'" : null);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidCastException)
        {
            problem = e is JsonException ? $"invalid JSON: {e.Message}" : e.Message;
        }
        if (problem is not null)
        {
            if (options.OnBadLine == OnBadLine.Stop) throw new DatasetFormatException(source, lineNumber, problem);
            _skipped.Add(new SkippedLine(lineNumber, problem));
            return;
        }
        _ids.Add(item!.Id);
        _items.Add(item);
    }

    /// <summary>The dataset; one without a single usable item is an error (an evaluation of nothing would look like a result).</summary>
    public EvaluationDataset ToDataset(string name)
    {
        if (_items.Count == 0)
            throw new DatasetFormatException(source, 0, _skipped.Count == 0 ? "no items (the file has no records)"
                : $"no items: all {_skipped.Count} record(s) were malformed (first: line {_skipped[0].LineNumber}: {_skipped[0].Reason})");
        return new(name, source, _items, _skipped);
    }
}
