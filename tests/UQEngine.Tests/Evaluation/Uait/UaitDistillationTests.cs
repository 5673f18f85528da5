using UQEngine.Methods;
using System.Text.Json;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Tests.Gguf;
using UQEngine.Evaluation.Uait;

namespace UQEngine.Tests.Evaluation.Uait;

public sealed class UaitDistillationTests
{
    private static ItemResult Result(string id, bool correct, double uncertainty, double? confidence = null, string response = "Paris") => new()
    {
        Id = id, Index = 0, Kind = "open_answer", Reference = "x", Response = response, Correct = correct,
        Methods = new Dictionary<string, MethodResult> { ["sar"] = new(uncertainty, confidence, false, null) },
    };

    private static readonly Dictionary<string, EvaluationItem> Items = Enumerable.Range(0, 6).ToDictionary(
        i => $"q{i}", i => new EvaluationItem { Id = $"q{i}", Kind = EvaluationItemKind.OpenAnswer, Question = $"Question {i}?", Answer = "Paris" });

    [Fact]
    public void An_uncertainty_without_confidence_becomes_a_rank_confidence()
    {
        // Uncertainties 5, 1, 3, 3: confidence = (share of others with higher uncertainty, ties half) = for 5: 0/3;
        // for 1: 3/3; for each 3: (1 + 0.5)/3 = 0.5.
        var c = UaitDistillation.TeacherConfidence([Result("a", true, 5), Result("b", true, 1), Result("c", false, 3), Result("d", false, 3)], "sar");
        Assert.Equal(0, c["a"], 12);
        Assert.Equal(1, c["b"], 12);
        Assert.Equal(0.5, c["c"], 12);
        Assert.Equal(0.5, c["d"], 12);
        Assert.Contains("'nope'", Assert.Throws<ArgumentException>(() => UaitDistillation.TeacherConfidence([Result("a", true, 1)], "nope")).Message);
    }

    [Fact]
    public void Sure_correct_and_doubted_wrong_answers_are_kept_with_the_confidence_in_the_target()
    {
        using var dir = new TempDirectory();
        ItemResult[] results =
        [
            Result("q0", true, 0, confidence: 0.9),   // correct and sure: kept
            Result("q1", true, 0, confidence: 0.5),   // correct, unsure: dropped
            Result("q2", false, 0, confidence: 0.2),  // wrong and doubted: kept
            Result("q3", false, 0, confidence: 0.8),  // wrong but sure: dropped (a confident error must not be taught)
            Result("q4", true, 0, confidence: 0.7),   // at the threshold: kept
            Result("q5", false, 0, confidence: 0.1, response: "  "), // no answer text: dropped
        ];
        var kept = UaitDistillation.Select(results, Items, new UaitOptions { Method = "sar" });
        Assert.Equal(["q0", "q2", "q4"], kept.Select(k => k.Id));
        Assert.Equal("Paris\nConfidence: 90%", kept[0].Target);
        Assert.Equal("Paris\nConfidence: 20%", kept[1].Target);
        Assert.Contains("Question: Question 0?", kept[0].Instruction);

        string path = dir.File("uait.jsonl");
        UaitDistillation.WriteJsonl(path, kept);
        var lines = File.ReadAllLines(path);
        Assert.Equal(3, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        var messages = first.RootElement.GetProperty("messages");
        Assert.Equal("user", messages[0].GetProperty("role").GetString());
        Assert.Equal("Paris\nConfidence: 90%", messages[1].GetProperty("content").GetString());
        Assert.Equal(0.9, first.RootElement.GetProperty("teacher_confidence").GetDouble());

        Assert.Throws<ArgumentException>(() => UaitDistillation.Select(results, Items, new UaitOptions { Method = "sar", KeepCorrectAtLeast = 0.3, KeepWrongAtMost = 0.5 }));
        Assert.Contains("'q0'", Assert.Throws<ArgumentException>(() => UaitDistillation.Select(results, new Dictionary<string, EvaluationItem>(), new UaitOptions { Method = "sar" })).Message);
    }

    [Fact]
    public void Results_are_read_from_an_eval_folder_and_bad_lines_name_the_file_and_line()
    {
        using var dir = new TempDirectory();
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        File.WriteAllText(dir.File("items.jsonl"), JsonSerializer.Serialize(Result("q0", true, 0.4, 0.6), options) + "\n");
        var read = UaitDistillation.ReadResults(dir.Path);
        Assert.Equal(0.6, read.Single().Methods["sar"].Confidence);
        File.AppendAllText(dir.File("items.jsonl"), "{not json\n");
        Assert.Contains("items.jsonl:2", Assert.Throws<InvalidDataException>(() => UaitDistillation.ReadResults(dir.File("items.jsonl"))).Message);
    }
}
