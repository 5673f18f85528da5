using UQEngine.Demo;

namespace UQEngine.Tests.Demo;

public sealed class DemoWorldTests
{
    private static readonly DemoWorldOptions Small = new() { PersonCount = 21, ArithmeticMax = 8 };

    [Fact]
    public void Same_seed_gives_the_same_world_and_corpus()
    {
        var a = DemoWorld.Generate(Small);
        var b = DemoWorld.Generate(Small);
        Assert.Equal(a.People, b.People);
        Assert.Equal(a.Items.Select(i => (i.Id, i.Answer, i.Exposure, i.Split, i.AnswerIndex, string.Join("|", i.Options))),
                     b.Items.Select(i => (i.Id, i.Answer, i.Exposure, i.Split, i.AnswerIndex, string.Join("|", i.Options))));
        Assert.Equal(a.Corpus(0), b.Corpus(0));
        Assert.Equal(a.Corpus(3), b.Corpus(3));
        Assert.NotEqual(a.Corpus(0), a.Corpus(1)); // each epoch reshuffles documents and statement templates
    }

    [Fact]
    public void A_different_seed_gives_a_different_world()
    {
        var a = DemoWorld.Generate(Small);
        var b = DemoWorld.Generate(Small with { Seed = Small.Seed + 1 });
        Assert.NotEqual(a.People, b.People);
    }

    [Fact]
    public void Each_fact_is_stated_as_often_as_its_exposure_and_held_out_questions_never_appear()
    {
        var world = DemoWorld.Generate(Small);
        var corpus = world.Corpus(0);
        var statements = corpus.Where(d => !d.Contains("<|im_start|>")).ToList();
        foreach (var item in world.Items.Where(i => i.Family == DemoFamily.Recall))
        {
            var relation = world.Relations.Single(r => r.Name == item.Relation);
            // A statement of this fact: one of the relation's templates filled with this subject and value.
            var forms = relation.Statements.Select(t => string.Format(t, item.Subject, item.Answer)).ToHashSet();
            Assert.Equal(item.Exposure, statements.Sum(d => forms.Count(d.Contains)));
            bool asked = corpus.Any(d => d.Contains("user\n" + item.Question));
            Assert.Equal(item.Split == DemoSplit.Train, asked);
        }
        foreach (var item in world.Items.Where(i => i.Family == DemoFamily.Arithmetic))
            Assert.Equal(item.Split == DemoSplit.Train, corpus.Any(d => d.Contains(item.Question)));
    }

    [Fact]
    public void Items_come_in_open_and_ten_option_forms_with_a_ladder_of_exposures()
    {
        var world = DemoWorld.Generate(Small);
        Assert.All(world.Items, i =>
        {
            Assert.Equal(10, i.Options.Length);
            Assert.Equal(10, i.Options.Distinct().Count());
            Assert.Equal(i.Answer, i.Options[i.AnswerIndex]);
            Assert.Contains($"\n{i.AnswerLetter}. {i.Answer}\n", i.ChoiceQuestion);
        });
        var recall = world.Items.Where(i => i.Family == DemoFamily.Recall).ToList();
        Assert.Equal(Small.ExposureLadder.Order(), recall.Select(i => i.Exposure).Distinct().Order());
        Assert.All(recall.Where(i => i.Exposure == 0), i => Assert.Equal(DemoSplit.Eval, i.Split));
        Assert.All(Small.ExposureLadder.Where(e => e > 0), e =>
        {
            Assert.Contains(recall, i => i.Exposure == e && i.Split == DemoSplit.Eval);
            Assert.Contains(recall, i => i.Exposure == e && i.Split == DemoSplit.Train);
        });
        Assert.Contains(world.Items, i => i.Family == DemoFamily.Arithmetic && i.Split == DemoSplit.Eval);
    }

    [Fact]
    public void Jsonl_export_has_one_line_per_item_with_exposure_and_family()
    {
        var world = DemoWorld.Generate(Small);
        var writer = new StringWriter();
        world.WriteJsonl(writer);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(world.Items.Length, lines.Length);
        using var first = System.Text.Json.JsonDocument.Parse(lines[0]);
        Assert.True(first.RootElement.TryGetProperty("exposure", out _));
        Assert.Equal("Recall", first.RootElement.GetProperty("family").GetString());
        Assert.Equal(10, first.RootElement.GetProperty("options").GetArrayLength());
    }
}
