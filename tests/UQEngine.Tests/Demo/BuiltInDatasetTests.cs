using System.Text.Json;
using Parquet.Serialization;
using UQEngine.Demo;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;
using UQEngine.Methods;

namespace UQEngine.Tests.Demo;

/// <summary>The demo world as a built-in dataset, and a TriviaQA parquet file in the published rc.nocontext layout.</summary>
[Trait("Category", "Integration")]
public sealed class BuiltInDatasetTests
{
    private static string WorldFile => Path.Combine(DemoDataset.FindFolder() ?? throw new InvalidOperationException("models/demo not found from the test folder"), DemoDataset.WorldFileName);

    [Fact]
    public void Demo_datasets_read_the_committed_world_with_forms_splits_and_metadata()
    {
        var registry = new DatasetRegistry();
        DemoDataset.RegisterAll(registry);
        Assert.Equal(9, registry.BuiltIn.Count);

        // Expected values straight from world.jsonl, read here with a plain JSON parser.
        var lines = File.ReadAllLines(WorldFile).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var evalLines = lines.Where(l => l.GetProperty("split").GetString() == "Eval").ToList();

        var mcEval = registry.Open("demo:mc:eval");
        Assert.Equal(evalLines.Count, mcEval.Items.Count);
        Assert.Equal(evalLines.Select(l => "mc:" + l.GetProperty("id").GetString()), mcEval.Items.Select(i => i.Id));
        Assert.Equal(evalLines.Select(l => l.GetProperty("answer_letter").GetString()), mcEval.Items.Select(i => i.Answer));
        Assert.All(mcEval.Items, i => Assert.Equal(EvaluationItemKind.MultipleChoice, i.Kind));
        var first = mcEval.Items[0];
        Assert.Equal(evalLines[0].GetProperty("exposure").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), first.Metadata["exposure"]);
        Assert.Equal(evalLines[0].GetProperty("relation").GetString(), first.Metadata["relation"]);
        Assert.Equal(evalLines[0].GetProperty("relation").GetString(), first.Category);
        Assert.Equal(evalLines[0].GetProperty("family").GetString()!.ToLowerInvariant(), first.Metadata["family"]);
        Assert.Equal("eval", first.Metadata["split"]);
        // The prompt is the wording the demo model was trained on.
        Assert.Equal(evalLines[0].GetProperty("choice_question").GetString(), first.Prompt);

        var open = registry.Open("demo:open");
        Assert.Equal(lines.Count, open.Items.Count);
        Assert.Equal(lines[0].GetProperty("answer").GetString(), open.Items[0].Answer);
        Assert.All(open.Items, i => Assert.Equal(EvaluationItemKind.OpenAnswer, i.Kind));
        Assert.Equal(2 * lines.Count, registry.Open("demo").Items.Count);
        Assert.Equal(lines.Count - evalLines.Count, registry.Open("demo:mc:train").Items.Count);
        Assert.Equal(WorldFile, registry.Open("demo:mc").Source);
    }

    [Fact]
    public void Without_world_jsonl_the_world_is_regenerated_from_the_recipe_and_bad_lines_are_named()
    {
        using var dir = new TempDirectory();
        var regenerated = new DemoDataset("mc", null, dir.Path).Load(DatasetReadOptions.Default);
        var world = DemoWorld.Generate(new DemoRecipe().World);
        Assert.Equal(world.Items.Select(i => "mc:" + i.Id), regenerated.Items.Select(i => i.Id));
        Assert.Equal(world.Items.Select(i => i.AnswerLetter), regenerated.Items.Select(i => i.Answer));
        Assert.StartsWith("regenerated", regenerated.Source);

        string[] two = File.ReadLines(WorldFile).Take(2).ToArray();
        File.WriteAllLines(dir.File(DemoDataset.WorldFileName), [two[0], "{\"id\":\"broken\"}", two[1]]);
        var e = Assert.Throws<DatasetFormatException>(() => new DemoDataset("mc", null, dir.Path).Load(DatasetReadOptions.Default));
        Assert.Equal(2, e.Line);
        Assert.EndsWith(DemoDataset.WorldFileName, e.File);
        var skipped = new DemoDataset("mc", null, dir.Path).Load(new DatasetReadOptions { OnBadLine = OnBadLine.Skip });
        Assert.Equal(2, skipped.Items.Count);
        Assert.Equal(1, skipped.SkippedCount);
    }

    [Fact]
    public void Demo_items_are_prompted_in_the_trained_format_and_metadata_reaches_the_breakdowns()
    {
        using var dir = new TempDirectory();
        var registry = new DatasetRegistry();
        DemoDataset.RegisterAll(registry);
        var data = registry.Open("demo:mc:eval");
        using var model = LlamaModel.Load(TestModels.SyntheticPath); // ChatML template, as the demo model has
        var prompts = new ItemPrompts(model);
        Assert.Equal(DemoFormat.ChatPrompt(data.Items[0].Prompt!), prompts.Answer(data.Items[0]));

        using var context = model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = 1 });
        using var generator = new Generator(context);
        var run = new EvaluationRunner(generator, UncertaintyMethodRegistry.CreateDefault()).Run(data, new EvaluationRunOptions
        {
            OutputFolder = dir.Path, Methods = ["option_prob"], Limit = 6, MultipleChoiceRoute = MultipleChoiceRoute.OptionProbability,
            BreakdownFields = ["exposure", "family"], BootstrapResamples = 20,
        });
        var expectedExposures = data.Items.Take(6).Select(i => i.Metadata["exposure"]).Distinct().Order().ToList();
        var byExposure = run.Summary.Breakdowns.Single(b => b.Field == "exposure");
        Assert.Equal(expectedExposures, byExposure.Groups.Select(g => g.Value).Order());
        Assert.Equal(6, byExposure.Groups.Sum(g => g.Count));
        Assert.Contains(run.Summary.Breakdowns, b => b.Field == "family" && b.Groups.All(g => g.Value is "recall" or "arithmetic"));
    }

#pragma warning disable IDE1006 // column names as the published TriviaQA rc.nocontext parquet spells them
    public sealed class TriviaAnswer
    {
        public List<string> aliases { get; set; } = [];
        public List<string> normalized_aliases { get; set; } = [];
        public string matched_wiki_entity_name { get; set; } = "";
        public string normalized_matched_wiki_entity_name { get; set; } = "";
        public string normalized_value { get; set; } = "";
        public string type { get; set; } = "";
        public string value { get; set; } = "";
    }

    public sealed class TriviaEntityPages
    {
        public List<string> doc_source { get; set; } = [];
        public List<string> filename { get; set; } = [];
        public List<string> title { get; set; } = [];
        public List<string> wiki_context { get; set; } = [];
    }

    public sealed class TriviaSearchResults
    {
        public List<string> description { get; set; } = [];
        public List<string> filename { get; set; } = [];
        public List<int> rank { get; set; } = [];
        public List<string> title { get; set; } = [];
        public List<string> url { get; set; } = [];
        public List<string> search_context { get; set; } = [];
    }

    public sealed class TriviaRow
    {
        public string question { get; set; } = "";
        public string question_id { get; set; } = "";
        public string question_source { get; set; } = "";
        public TriviaEntityPages entity_pages { get; set; } = new();
        public TriviaSearchResults search_results { get; set; } = new();
        public TriviaAnswer answer { get; set; } = new();
    }
#pragma warning restore IDE1006

    [Fact]
    public async Task Trivia_qa_rc_nocontext_parquet_imports_value_and_aliases()
    {
        using var dir = new TempDirectory();
        string path = dir.File("validation-00000-of-00001.parquet");
        await ParquetSerializer.SerializeAsync(new[]
        {
            new TriviaRow
            {
                question = "Which Lloyd Webber musical premiered in the US on 10th December 1993?", question_id = "tc_33", question_source = "http://www.quizballs.com/",
                answer = new TriviaAnswer
                {
                    aliases = ["Sunset Blvd", "Sunset Boulevard"], normalized_aliases = ["sunset boulevard", "sunset blvd"],
                    matched_wiki_entity_name = "", normalized_matched_wiki_entity_name = "", normalized_value = "sunset boulevard", type = "WikipediaEntity", value = "Sunset Boulevard",
                },
            },
            new TriviaRow
            {
                question = "Who was the man behind The Chipmunks?", question_id = "tc_40", question_source = "http://www.quizballs.com/",
                answer = new TriviaAnswer { aliases = ["David Seville"], normalized_aliases = ["david seville"], normalized_value = "david seville", type = "WikipediaEntity", value = "David Seville" },
            },
        }, path);

        Assert.Equal(DatasetFormat.TriviaQa, DatasetRegistry.DetectFormat(path));
        var d = DatasetRegistry.OpenFile(path);
        Assert.True(d.IsComplete);
        Assert.Equal(["tc_33", "tc_40"], d.Items.Select(i => i.Id));
        var item = d.Items[0];
        Assert.Equal(EvaluationItemKind.OpenAnswer, item.Kind);
        Assert.Equal("Sunset Boulevard", item.Answer);
        Assert.Equal(["Sunset Blvd", "sunset boulevard", "sunset blvd"], item.Aliases);
        Assert.Equal("http://www.quizballs.com/", item.Metadata["source"]);
        Assert.Equal(["David Seville", "david seville"], d.Items[1].AcceptedAnswers());
    }
}
