using UQEngine.Methods;
using Parquet.Serialization;
using UQEngine.Evaluation.Datasets;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Evaluation.Datasets;

public sealed class DatasetTests
{
    private const string Valid = """
        {"id":"o1","question":"Who wrote Hamlet?","answer":"William Shakespeare","aliases":["Shakespeare"],"family":"authors","exposure":3}

        {"id":"m1","question":"2+2?","options":["3","4","5"],"answer":"b","category":"math","metadata":{"exposure":1,"family":"arith"}}
        {"id":"m2","question":"Pick C","options":["x","y","z"],"answer_index":2}
        """;

    private static EvaluationDataset Parse(string text, OnBadLine onBadLine = OnBadLine.Stop) =>
        JsonlDatasetReader.Parse(new StringReader(text), "data.jsonl", "data", new DatasetReadOptions { OnBadLine = onBadLine });

    [Fact]
    public void Jsonl_items_are_read_with_kind_answer_aliases_options_and_metadata()
    {
        var d = Parse(Valid);
        Assert.True(d.IsComplete);
        Assert.Equal(["o1", "m1", "m2"], d.Items.Select(i => i.Id));
        var open = d.Items[0];
        Assert.Equal(EvaluationItemKind.OpenAnswer, open.Kind);
        Assert.Equal(["William Shakespeare", "Shakespeare"], open.AcceptedAnswers());
        Assert.Equal("3", open.Metadata["exposure"]); // unknown top-level fields are metadata
        Assert.Equal("authors", open.Metadata["family"]);
        var mc = d.Items[1];
        Assert.Equal(EvaluationItemKind.MultipleChoice, mc.Kind);
        Assert.Equal("B", mc.Answer); // letters are upper-cased
        Assert.Equal("math", mc.Category);
        Assert.Equal("1", mc.Metadata["exposure"]);
        Assert.Equal("C", d.Items[2].Answer);
    }

    [Theory]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"options\":[\"a\",\"b\"],\"answer\":\"C\"}", "answer must be one letter A..B")]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"answer\":", "invalid JSON")]
    [InlineData("{\"question\":\"q\",\"answer\":\"a\"}", "missing \"id\"")]
    [InlineData("{\"id\":\"o1\",\"question\":\"q\",\"answer\":\"a\"}", "duplicate id 'o1'")]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"options\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"],\"answer\":\"A\"}", "2..10 options")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{\"id\":\"x\",\"question\":123,\"answer\":\"a\"}", "\"question\" must be a string, not a number (123)")]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"options\":[\"a\",\"b\"],\"answer_index\":\"B\"}", "\"answer_index\" must be an integer (0-based), not a string (\"B\")")]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"options\":[\"a\",\"b\"],\"answer_index\":2}", "\"answer_index\" 2 is outside the 2 options (0..1)")]
    [InlineData("{\"id\":\"x\",\"question\":\"q\",\"options\":[\"a\",7],\"answer\":\"A\"}", "\"options\" must be an array of strings; item 1 is a number (7)")]
    public void A_malformed_line_stops_with_file_and_line_number(string bad, string reason)
    {
        string text = Valid + "\n" + bad + "\n";
        var e = Assert.Throws<DatasetFormatException>(() => Parse(text));
        Assert.Equal("data.jsonl", e.File);
        Assert.Equal(5, e.Line);
        Assert.StartsWith("data.jsonl:5: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("", "no items (the file has no records)")]
    [InlineData("not json\n{\"id\":\"b\",\"question\":\"\",\"answer\":\"x\"}\n", "no items: all 2 record(s) were malformed (first: line 1: invalid JSON")]
    public void A_dataset_without_items_is_an_error_not_an_empty_report(string text, string reason)
    {
        var e = Assert.Throws<DatasetFormatException>(() => Parse(text, OnBadLine.Skip));
        Assert.StartsWith("data.jsonl:0: " + reason, e.Message);
    }

    [Fact]
    public void Skip_drops_bad_lines_and_records_how_many_with_their_numbers()
    {
        string text = "{\"id\":\"a\",\"question\":\"q\",\"answer\":\"x\"}\nnot json\n{\"id\":\"b\",\"question\":\"\",\"answer\":\"x\"}\n{\"id\":\"c\",\"question\":\"q\",\"answer\":\"y\"}\n";
        var d = Parse(text, OnBadLine.Skip);
        Assert.Equal(["a", "c"], d.Items.Select(i => i.Id));
        Assert.False(d.IsComplete);
        Assert.Equal(2, d.SkippedCount);
        Assert.Equal([2, 3], d.SkippedLines.Select(s => s.LineNumber));
        Assert.Contains("question is empty", d.SkippedLines[1].Reason);
    }

    [Fact]
    public void Take_limits_items_but_keeps_the_skip_record()
    {
        var d = Parse("{\"id\":\"a\",\"question\":\"q\",\"answer\":\"x\"}\nbad\n{\"id\":\"b\",\"question\":\"q\",\"answer\":\"x\"}", OnBadLine.Skip).Take(1);
        Assert.Single(d.Items);
        Assert.Equal(1, d.SkippedCount);
    }

    [Fact]
    public void Mmlu_pro_json_array_and_jsonl_import_with_letters_categories_and_ids()
    {
        using var dir = new TempDirectory();
        string json = dir.File("mmlu.json");
        File.WriteAllText(json, """
            [{"question_id":70,"question":"Q1?","options":["a","b","c","d"],"answer":"C","answer_index":2,"cot_content":"","category":"law","src":"ori_mmlu-law"},
             {"question_id":71,"question":"Q2?","options":["a","b"],"answer_index":1,"category":"math","src":"stemez"}]
            """);
        var d = DatasetRegistry.OpenFile(json);
        Assert.Equal(["70", "71"], d.Items.Select(i => i.Id));
        Assert.Equal(["C", "B"], d.Items.Select(i => i.Answer));
        Assert.Equal("law", d.Items[0].Category);
        Assert.Equal("ori_mmlu-law", d.Items[0].Metadata["src"]);
        Assert.Equal(4, d.Items[0].Options.Count);

        string jsonl = dir.File("mmlu.jsonl");
        File.WriteAllText(jsonl, "{\"question_id\":1,\"question\":\"Q\",\"options\":[\"x\",\"y\"],\"answer\":\"A\",\"category\":\"bio\"}\n{\"question\":\"no options\"}\n");
        var e = Assert.Throws<DatasetFormatException>(() => DatasetRegistry.OpenFile(jsonl, DatasetFormat.MmluPro));
        Assert.Equal(2, e.Line);
        var skipped = DatasetRegistry.OpenFile(jsonl, DatasetFormat.MmluPro, new DatasetReadOptions { OnBadLine = OnBadLine.Skip });
        Assert.Single(skipped.Items);
        Assert.Equal(1, skipped.SkippedCount);
    }

#pragma warning disable IDE1006 // parquet column names as MMLU-Pro spells them
    public sealed class MmluProRow
    {
        public long question_id { get; set; }
        public string question { get; set; } = "";
        public List<string> options { get; set; } = [];
        public string answer { get; set; } = "";
        public long answer_index { get; set; }
        public string category { get; set; } = "";
        public string src { get; set; } = "";
    }
#pragma warning restore IDE1006

    [Fact]
    public async Task Mmlu_pro_parquet_imports_list_options()
    {
        using var dir = new TempDirectory();
        string path = dir.File("test-00000-of-00001.parquet");
        await ParquetSerializer.SerializeAsync(new[]
        {
            new MmluProRow { question_id = 1, question = "Q1?", options = ["p", "q", "r"], answer = "B", answer_index = 1, category = "physics", src = "s1" },
            new MmluProRow { question_id = 2, question = "Q2?", options = ["p", "q"], answer = "A", answer_index = 0, category = "law", src = "s2" },
        }, path);
        Assert.Equal(DatasetFormat.MmluPro, DatasetRegistry.DetectFormat(path));
        var d = DatasetRegistry.OpenFile(path);
        Assert.Equal(["1", "2"], d.Items.Select(i => i.Id));
        Assert.Equal(["p", "q", "r"], d.Items[0].Options);
        Assert.Equal("B", d.Items[0].Answer);
        Assert.Equal("physics", d.Items[0].Category);
        Assert.Equal("s1", d.Items[0].Metadata["src"]);
    }

    [Fact]
    public void Trivia_qa_nocontext_json_imports_value_and_aliases()
    {
        using var dir = new TempDirectory();
        string path = dir.File("verified-web-dev.json");
        File.WriteAllText(path, """
            {"Data":[
              {"Question":"Which Lloyd Webber musical premiered in the US on 10th December 1993?","QuestionId":"tc_33","QuestionSource":"http://example/q",
               "Answer":{"Value":"Sunset Boulevard","Aliases":["Sunset Blvd","Sunset Boulevard"],"NormalizedAliases":["sunset boulevard","sunset blvd"],"Type":"WikipediaEntity"}},
              {"Question":"No answer object","QuestionId":"tc_34"}
            ],"Domain":"Web","Version":1.0}
            """);
        Assert.Equal(DatasetFormat.TriviaQa, DatasetRegistry.DetectFormat(path));
        var e = Assert.Throws<DatasetFormatException>(() => DatasetRegistry.OpenFile(path));
        Assert.Equal(2, e.Line);
        var d = DatasetRegistry.OpenFile(path, options: new DatasetReadOptions { OnBadLine = OnBadLine.Skip });
        var item = Assert.Single(d.Items);
        Assert.Equal("tc_33", item.Id);
        Assert.Equal("Sunset Boulevard", item.Answer);
        Assert.Contains("Sunset Blvd", item.Aliases);
        Assert.Contains("sunset blvd", item.Aliases);
        Assert.DoesNotContain("Sunset Boulevard", item.Aliases);
        Assert.Equal(EvaluationItemKind.OpenAnswer, item.Kind);
    }

    private sealed class TinyBuiltIn : IBuiltInDataset
    {
        public string Name => "tiny-world";
        public string Description => "two facts";
        public EvaluationDataset Load(DatasetReadOptions options) =>
            JsonlDatasetReader.Parse(new StringReader("{\"id\":\"a\",\"question\":\"q\",\"answer\":\"x\"}"), "built-in:tiny-world", Name, options);
    }

    [Fact]
    public void Registry_opens_a_file_or_a_registered_built_in_by_name()
    {
        var registry = new DatasetRegistry();
        var missing = Assert.Throws<FileNotFoundException>(() => registry.Open("tiny-world"));
        Assert.Contains("none are registered", missing.Message);
        registry.Register(new TinyBuiltIn());
        Assert.Equal("tiny-world", registry.Open("TINY-WORLD").Name);
        Assert.Contains("built-in: tiny-world", Assert.Throws<FileNotFoundException>(() => registry.Open("nope")).Message);
    }
}
