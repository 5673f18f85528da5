using System.Globalization;
using System.Text;
using System.Text.Json;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Uait;

/// <summary>Which answers become UaIT training data.</summary>
public sealed record UaitOptions
{
    /// <summary>The teacher: a method in the results (e.g. "sar").</summary>
    public required string Method { get; init; }

    /// <summary>Keep correct answers whose teacher confidence is at least this.</summary>
    public double KeepCorrectAtLeast { get; init; } = 0.7;

    /// <summary>Keep wrong answers whose teacher confidence is at most this.</summary>
    public double KeepWrongAtMost { get; init; } = 0.3;
}

/// <summary>One instruction example: the question, and the target "answer + stated confidence".</summary>
public sealed record UaitExample(string Id, string Instruction, string Answer, bool Correct, double TeacherConfidence, string Target);

/// <summary>
/// Uncertainty-aware instruction tuning (UaIT) data, distilled from a teacher's per-item scores in an evaluation's
/// items.jsonl: correct answers the teacher was sure of and wrong answers it doubted are kept, and each target is the
/// model's own answer followed by "Confidence: N%", the teacher's confidence. A method without a confidence (SAR
/// is an unbounded uncertainty) is turned into one by rank: the share of items with a higher uncertainty (ties
/// count half), so the most uncertain answer gets 0 and the least uncertain about 1.
/// </summary>
public static class UaitDistillation
{
    private static readonly JsonSerializerOptions LineOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Reads an evaluation's items.jsonl; errors name the file and line.</summary>
    public static List<ItemResult> ReadResults(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, EvaluationRunner.ItemsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"results file '{path}' does not exist (give a uqengine eval results folder or its items.jsonl)", path);
        var list = new List<ItemResult>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0) continue;
            try { list.Add(JsonSerializer.Deserialize<ItemResult>(line, LineOptions) ?? throw new JsonException("empty line")); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{number}: not a result line ({e.Message})"); }
        }
        return list;
    }

    /// <summary>The teacher's confidence per item id (its own confidence, or the rank transform of its uncertainty).</summary>
    public static Dictionary<string, double> TeacherConfidence(IReadOnlyList<ItemResult> results, string method)
    {
        var rows = results.Where(r => r.Methods.ContainsKey(method)).ToList();
        if (rows.Count == 0)
        {
            var known = results.SelectMany(r => r.Methods.Keys).Distinct().Order();
            throw new ArgumentException($"no item has method '{method}'; the results hold: {string.Join(", ", known)}");
        }
        if (rows.All(r => r.Methods[method].Confidence is not null))
            return rows.ToDictionary(r => r.Id, r => r.Methods[method].Confidence!.Value, StringComparer.Ordinal);
        double[] u = [.. rows.Select(r => r.Methods[method].Uncertainty)];
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int i = 0; i < rows.Count; i++)
        {
            int higher = 0, ties = 0;
            for (int j = 0; j < u.Length; j++) if (j != i) { if (u[j] > u[i]) higher++; else if (u[j] == u[i]) ties++; }
            result[rows[i].Id] = rows.Count == 1 ? 0.5 : (higher + 0.5 * ties) / (rows.Count - 1);
        }
        return result;
    }

    /// <summary>The stated-confidence target: the answer, a newline, "Confidence: N%" (N rounded to a whole percent).</summary>
    public static string Target(string answer, double confidence) =>
        $"{answer.Trim()}\nConfidence: {Math.Round(100 * Math.Clamp(confidence, 0, 1)).ToString(CultureInfo.InvariantCulture)}%";

    /// <summary>The kept examples, in results order. Items missing from <paramref name="items"/> are an error.</summary>
    public static List<UaitExample> Select(IReadOnlyList<ItemResult> results, IReadOnlyDictionary<string, EvaluationItem> items, UaitOptions options)
    {
        if (!(options.KeepWrongAtMost < options.KeepCorrectAtLeast))
            throw new ArgumentException($"the wrong-answer threshold ({options.KeepWrongAtMost}) must be below the correct-answer threshold ({options.KeepCorrectAtLeast})");
        var confidence = TeacherConfidence(results, options.Method);
        var kept = new List<UaitExample>();
        foreach (var r in results)
        {
            if (!confidence.TryGetValue(r.Id, out double c)) continue;
            bool keep = r.Correct ? c >= options.KeepCorrectAtLeast : c <= options.KeepWrongAtMost;
            if (!keep || string.IsNullOrWhiteSpace(r.Response)) continue;
            if (!items.TryGetValue(r.Id, out var item)) throw new ArgumentException($"item '{r.Id}' of the results is not in the dataset; give the dataset the evaluation ran on");
            kept.Add(new UaitExample(r.Id, ItemPrompts.AnswerInstruction(item).TrimEnd(), r.Response.Trim(), r.Correct, c, Target(r.Response, c)));
        }
        return kept;
    }

    /// <summary>
    /// One chat example per line: {"messages": [{"role": "user", ...}, {"role": "assistant", "content": target}],
    /// "id", "correct", "teacher_confidence"}, the shape most fine-tuning stacks read.
    /// </summary>
    public static void WriteJsonl(string path, IEnumerable<UaitExample> examples)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        foreach (var e in examples)
        {
            writer.Write(JsonSerializer.Serialize(new
            {
                messages = new[] { new { role = "user", content = e.Instruction }, new { role = "assistant", content = e.Target } },
                id = e.Id, correct = e.Correct, teacher_confidence = e.TeacherConfidence,
            }));
            writer.Write('\n');
        }
    }
}
