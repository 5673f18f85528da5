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
    public void Each_fact_is_stated_and_asked_as_often_as_its_exposure_and_held_out_additions_never_appear()
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
            // Its question answered, as often (both splits alike; rung 0 never).
            Assert.Equal(item.Exposure * Small.QuestionsPerExposure, corpus.Count(d => d == DemoFormat.ChatExchange(item.Question, item.Answer)));
            // The multiple-choice form of a rung-0 fact never appears either.
            if (item.Exposure == 0) Assert.DoesNotContain(corpus, d => d.Contains("user\n" + item.Question + "\n"));
        }
        foreach (var item in world.Items.Where(i => i.Family == DemoFamily.Arithmetic))
            Assert.Equal(item.Split == DemoSplit.Train, corpus.Any(d => d.Contains(item.Question)));
    }

    [Fact]
    public void Choice_chats_come_at_the_configured_rate_with_the_right_letter()
    {
        var world = DemoWorld.Generate(Small);
        var byQuestion = world.Items.ToDictionary(i => i.Question);
        var choices = world.Corpus(1).Where(d => d.Contains(DemoFormat.Instruction)).ToList();
        int expected = world.Items.Where(i => i.Family == DemoFamily.Recall).Sum(i => i.Exposure);
        // Drawn with probability ChoicesPerExposure per fact and exposure: the count is near its mean.
        Assert.InRange(choices.Count(c => !c.Contains(" plus ")), expected * Small.ChoicesPerExposure * 0.7, expected * Small.ChoicesPerExposure * 1.3);
        // Every choice chat puts its item's answer at the answered letter.
        int checkedChats = 0;
        foreach (string chat in choices)
        {
            var item = byQuestion.Values.FirstOrDefault(i => chat.Contains("user\n" + i.Question + "\n"));
            Assert.NotNull(item);
            checkedChats++;
            string letter = chat[^("<|im_end|>".Length + 1)..^"<|im_end|>".Length];
            Assert.Contains($"\n{letter}. {item.Answer}\n", chat);
        }
        Assert.True(checkedChats > 10, $"only {checkedChats} choice chats");
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
        Assert.All(Small.ExposureLadder, e =>
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
