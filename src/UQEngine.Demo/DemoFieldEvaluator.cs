using System.Globalization;
using System.Text;
using System.Text.Json;
using UQEngine.Evaluation.Metrics;
using UQEngine.Inference;
using UQEngine.Structured;

namespace UQEngine.Demo;

/// <summary>
/// How the JSON answer is asked for. Free: the whole object decoded under the schema's grammar. Prefilled: the
/// assistant turn is written up to each field's value (key, colon and a string's opening quote; the earlier values as
/// the model gave them) and only the value's text is decoded, one of the field's values, so the model fills in words
/// it learned in plain text. Asked: as Prefilled, but each field's user turn is the world's own question for it (the
/// question the model was trained on), so only the answer's JSON frame is new to the model. Plain: each field asked
/// with its own question and answered as in training (the bare value, no JSON frame, under the field's values); the
/// caller assembles the object, so this is the model's in-distribution ceiling for the same fields.
/// </summary>
public enum DemoFieldMode { Free, Prefilled, Asked, Plain }

/// <summary>One field of one person's JSON answer, graded against the world.</summary>
/// <param name="Person">Whose facts were asked.</param>
/// <param name="Relation">The field (the world's relation name, also the JSON key).</param>
/// <param name="Expected">The world's value.</param>
/// <param name="Value">The value's JSON text as generated; null when the answer lacks the field.</param>
/// <param name="Correct">The value equals the world's (<see cref="DemoFieldEvaluator.Matches(string, string)"/>).</param>
/// <param name="LogProbability">Log of the product of the raw token probabilities of the value (−∞ when missing).
/// Logs, not products: a free answer's product underflows to 0 on this model, which would tie every answer.</param>
/// <param name="ConstrainedLogProbability">The same over the grammar-renormalised probabilities (−∞ when missing).</param>
/// <param name="AllowedMass">Mean raw mass on the grammar-allowed tokens over the value's steps (0 when missing).</param>
/// <param name="AnswerLogProbability">Log of the whole answer's probability (every generated token), the same for every field of the answer.</param>
/// <param name="Split">The fact's split: the evaluation counts Eval facts.</param>
/// <param name="Exposure">How often the fact was stated per training epoch.</param>
public sealed record DemoFieldResult(
    string Person, string Relation, string Expected, string? Value, bool Correct,
    double LogProbability, double ConstrainedLogProbability, double AllowedMass, double AnswerLogProbability, DemoSplit Split, int Exposure);

/// <summary>Accuracy and AUROCs (correct vs wrong fields, 95% bootstrap intervals) of one field, or of all pooled.</summary>
public sealed record DemoFieldSummary(
    string Field, int Count, BootstrapInterval Accuracy, BootstrapInterval ProbabilityAuroc, BootstrapInterval ConstrainedAuroc,
    BootstrapInterval AllowedMassAuroc, BootstrapInterval AnswerAuroc, double MedianLogProbability, double MeanAllowedMass);

/// <summary>
/// Structured extraction over the demo world: per person, the model is asked (ChatML) for all five facts as one JSON
/// object whose values are enums of the world's values (every field value is a legal answer), and each field is
/// graded against the world.
/// </summary>
public sealed class DemoFieldEvaluator : IDisposable
{
    private readonly DemoWorld _world;
    private readonly LlamaContext _context;
    private readonly Generator _generator;
    private readonly GenerationGrammar _objectGrammar;
    private readonly Dictionary<string, GenerationGrammar> _valueGrammars;
    private readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, DemoItem>> _factsByPerson;

    public DemoFieldEvaluator(LlamaModel model, DemoWorld world, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        _world = world ?? throw new ArgumentNullException(nameof(world));
        _context = model.CreateContext(new ContextOptions { ContextSize = 256, BatchSize = 256, Threads = threads });
        _generator = new Generator(_context);
        _objectGrammar = JsonSchemaGrammar.FromSchema(Schema(world));
        // A value's bare text (a string's quotes are prefilled): one alternative per world value.
        _factsByPerson = world.Items.Where(i => i.Family == DemoFamily.Recall).GroupBy(i => i.Subject)
            .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, DemoItem>)g.ToDictionary(i => i.Relation));
        _valueGrammars = world.Relations.ToDictionary(r => r.Name,
            r => new GenerationGrammar("root ::= " + string.Join(" | ", r.Values.Select(v => JsonSerializer.Serialize(v))) + "\n"));
    }

    /// <summary>The user turn: all five facts of <paramref name="person"/> as JSON.</summary>
    public static string Question(string person) =>
        $"Give the city, favourite colour, pet, lucky number and birth month of {person} as JSON.";

    /// <summary>
    /// The object schema: one required property per relation (keys in the world's order), each an enum of the
    /// relation's values; lucky numbers are integers, the rest strings.
    /// </summary>
    public static string Schema(DemoWorld world)
    {
        ArgumentNullException.ThrowIfNull(world);
        var props = string.Join(",", world.Relations.Select(r => $"{JsonSerializer.Serialize(r.Name)}:{ValueSchema(r)}"));
        var required = string.Join(",", world.Relations.Select(r => JsonSerializer.Serialize(r.Name)));
        return $$"""{"type":"object","properties":{{{props}}},"required":[{{required}}],"additionalProperties":false}""";
    }

    private static string ValueSchema(DemoRelation relation) =>
        $$"""{"enum":[{{string.Join(",", relation.Values.Select(v => IsNumeric(relation) ? v : JsonSerializer.Serialize(v)))}}]}""";

    private static bool IsNumeric(DemoRelation relation) => relation.Name == "number";

    /// <summary>
    /// Whether a generated JSON value is the world's value: a string equal to it (ordinal, case and spaces count, as
    /// the open-answer grading does), or a number whose text in invariant culture is it (17 and "17" both match "17";
    /// 17.0 does not, as the world's numbers are integers). Null, booleans, objects and arrays never match.
    /// </summary>
    public static bool Matches(JsonElement value, string expected) => value.ValueKind switch
    {
        JsonValueKind.String => string.Equals(value.GetString(), expected, StringComparison.Ordinal),
        JsonValueKind.Number => value.TryGetInt64(out long n) && n.ToString(CultureInfo.InvariantCulture) == expected,
        _ => false,
    };

    /// <summary>Parses <paramref name="valueJson"/> (one JSON value) and grades it; text that is not JSON never matches.</summary>
    public static bool Matches(string? valueJson, string expected)
    {
        if (string.IsNullOrWhiteSpace(valueJson)) return false;
        try
        {
            using var doc = JsonDocument.Parse(valueJson);
            return Matches(doc.RootElement, expected);
        }
        catch (JsonException) { return false; }
    }

    /// <summary>
    /// Grades one answer's fields: each relation's field is found by its pointer ("/city", ...); a field the answer
    /// lacks is wrong with confidence 0. <paramref name="fields"/> come from <see cref="JsonFields.Analyze(GenerationResult)"/>.
    /// </summary>
    public static IReadOnlyList<DemoFieldResult> Grade(string person, IReadOnlyDictionary<string, DemoItem> facts, IReadOnlyList<JsonFieldUncertainty> fields, double answerLogProbability)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(fields);
        var byPointer = fields.GroupBy(f => f.Pointer).ToDictionary(g => g.Key, g => g.First());
        var results = new List<DemoFieldResult>(facts.Count);
        foreach (var (relation, item) in facts)
        {
            if (byPointer.TryGetValue("/" + relation.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal), out var f))
                results.Add(new DemoFieldResult(person, relation, item.Answer, f.Value, Matches(f.Value, item.Answer),
                    f.LogProbability, double.IsNaN(f.ConstrainedLogProbability) ? double.NegativeInfinity : f.ConstrainedLogProbability,
                    double.IsNaN(f.MeanAllowedMass) ? 0 : f.MeanAllowedMass, answerLogProbability, item.Split, item.Exposure));
            else
                results.Add(new DemoFieldResult(person, relation, item.Answer, null, false, double.NegativeInfinity, double.NegativeInfinity, 0, answerLogProbability, item.Split, item.Exposure));
        }
        return results;
    }

    /// <summary>The recall facts of each person, by relation.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, DemoItem>> FactsByPerson => _factsByPerson;

    /// <summary>Asks for one person's facts and grades every field (both splits; filter by <see cref="DemoFieldResult.Split"/>).</summary>
    public IReadOnlyList<DemoFieldResult> Evaluate(string person, DemoFieldMode mode)
    {
        if (!_factsByPerson.TryGetValue(person, out var facts)) throw new ArgumentException($"'{person}' is not a person of the world", nameof(person));
        string prompt = DemoFormat.ChatPrompt(Question(person));
        if (mode == DemoFieldMode.Free)
        {
            var result = _generator.Generate(prompt, new GenerationOptions { MaxTokens = 96, Grammar = _objectGrammar });
            return Grade(person, facts, JsonFields.Analyze(result), result.Tokens.Sum(t => (double)t.LogProbability));
        }

        // Prefilled: the structure is written for the model, so the answer's probability is the product of its values'.
        var text = new StringBuilder("{");
        var fields = new List<JsonFieldUncertainty>();
        double logAnswer = 0;
        foreach (var relation in _world.Relations)
        {
            if (fields.Count > 0) text.Append(',');
            string quote = IsNumeric(relation) ? "" : "\"";
            text.Append(JsonSerializer.Serialize(relation.Name)).Append(':').Append(quote);
            string turn = mode == DemoFieldMode.Prefilled ? prompt : DemoFormat.ChatPrompt(facts[relation.Name].Question);
            var value = _generator.Generate(mode == DemoFieldMode.Plain ? turn : turn + text, new GenerationOptions { MaxTokens = 16, Grammar = _valueGrammars[relation.Name] });
            // The value's tokens wrote its text only (the quotes are prefilled): score them as one field.
            string json = quote + value.Text + quote;
            var leaf = JsonFields.Analyze(json, [.. value.Tokens.Select((t, i) => i == 0 ? t with { Text = quote + t.Text } : t)]).FirstOrDefault();
            if (leaf is null) break; // cut short: the remaining fields count as missing
            fields.Add(leaf with { Pointer = "/" + relation.Name });
            logAnswer += value.Tokens.Sum(t => (double)t.LogProbability);
            text.Append(value.Text).Append(quote);
        }
        return Grade(person, facts, fields, logAnswer);
    }

    /// <summary>Every person with at least one evaluation-split fact, asked once; returns the evaluation-split fields.</summary>
    public IReadOnlyList<DemoFieldResult> EvaluateAll(DemoFieldMode mode, int limit = 0)
    {
        IEnumerable<string> people = _factsByPerson.Where(p => p.Value.Values.Any(i => i.Split == DemoSplit.Eval)).Select(p => p.Key).Order(StringComparer.Ordinal);
        if (limit > 0) people = people.Take(limit);
        return [.. people.SelectMany(p => Evaluate(p, mode)).Where(r => r.Split == DemoSplit.Eval)];
    }

    /// <summary>One row per field (the world's order), then "all fields" pooled.</summary>
    public static IReadOnlyList<DemoFieldSummary> Summarize(IReadOnlyList<DemoFieldResult> results, IEnumerable<string> fieldOrder, BootstrapOptions? options = null)
    {
        var rows = fieldOrder.Select(f => Summary(f, [.. results.Where(r => r.Relation == f)], options)).ToList();
        rows.Add(Summary("all fields", [.. results], options));
        return rows;
    }

    private static DemoFieldSummary Summary(string field, DemoFieldResult[] rows, BootstrapOptions? options)
    {
        bool[] correct = [.. rows.Select(r => r.Correct)];
        BootstrapInterval Auroc(Func<DemoFieldResult, double> score)
        {
            double[] s = [.. rows.Select(score)];
            return Bootstrap.Interval(rows.Length, sample =>
            {
                var ss = new double[sample.Length];
                var cc = new bool[sample.Length];
                sample.Gather<double>(s, ss);
                sample.Gather<bool>(correct, cc);
                return RankingMetrics.AurocCorrectness(ss, cc);
            }, options);
        }
        var accuracy = Bootstrap.Interval(rows.Length, sample =>
        {
            if (sample.Length == 0) return MetricValue.Undefined(UndefinedReasons.NoItems);
            int hits = 0;
            foreach (int i in sample.Indices) hits += correct[i] ? 1 : 0;
            return MetricValue.Defined((double)hits / sample.Length);
        }, options);
        return new DemoFieldSummary(field, rows.Length, accuracy, Auroc(r => r.LogProbability), Auroc(r => r.ConstrainedLogProbability),
            Auroc(r => r.AllowedMass), Auroc(r => r.AnswerLogProbability),
            rows.Length == 0 ? double.NaN : Bootstrap.Median(rows.Select(r => r.LogProbability)), rows.Length == 0 ? double.NaN : rows.Average(r => r.AllowedMass));
    }

    /// <summary>A Markdown table of summaries.</summary>
    public static string MarkdownTable(IReadOnlyList<DemoFieldSummary> rows)
    {
        var sb = new StringBuilder("| field | n | accuracy | AUROC field p (raw) | AUROC field p (constrained) | AUROC allowed mass | AUROC whole-answer p | median field p | mean allowed mass |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in rows)
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Field} | {r.Count} | {r.Accuracy} | {r.ProbabilityAuroc} | {r.ConstrainedAuroc} | {r.AllowedMassAuroc} | {r.AnswerAuroc} | {Math.Exp(r.MedianLogProbability):G2} | {r.MeanAllowedMass:G3} |\n");
        return sb.ToString();
    }

    public void Dispose()
    {
        _generator.Dispose();
        _context.Dispose();
    }
}
