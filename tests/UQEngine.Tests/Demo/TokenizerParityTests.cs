using UQEngine.Methods;
using System.Text.RegularExpressions;
using UQEngine.Demo;
using UQEngine.Gguf;
using UQEngine.Models;

namespace UQEngine.Tests.Demo;

/// <summary>The demo vocabulary gives the same token ids in Microsoft.ML.Tokenizers as in llama.cpp.</summary>
public sealed class TokenizerParityTests(DemoVocabularyFixture demo) : IClassFixture<DemoVocabularyFixture>
{
    /// <summary>The vocabulary as written to GGUF, rebuilt from its merges.</summary>
    private ByteLevelBpeVocabulary CommittedVocabulary()
    {
        var file = GgufFile.Read(demo.Path);
        var merges = file.Metadata.GetArray<string>("tokenizer.ggml.merges").Select(m => { var p = m.Split(' '); return (p[0], p[1]); });
        var vocabulary = ByteLevelBpeVocabulary.Create(merges, DemoModelBuilder.SpecialTokens);
        Assert.Equal(file.Metadata.GetArray<string>("tokenizer.ggml.tokens"), vocabulary.Tokens);
        return vocabulary;
    }

    [Fact]
    public void Managed_tokenizer_matches_llama_cpp_on_the_corpus()
    {
        var managed = CommittedVocabulary().CreateManagedTokenizer();
        var specials = new Regex(string.Join("|", DemoModelBuilder.SpecialTokens.Select(Regex.Escape)));
        // Every distinct text segment of one epoch of corpus (statements, questions, option lists, answers) and the held-out questions.
        var lines = demo.World.Corpus(0).SelectMany(d => specials.Split(d))
            .Concat(demo.World.EvaluationItems.SelectMany(i => new[] { i.Question, i.ChoiceQuestion }))
            .Where(s => s.Length > 0).Distinct().ToList();
        Assert.True(lines.Count > 500);
        int compared = 0;
        foreach (string line in lines)
        {
            int[] llama = demo.Model.Vocabulary.Tokenize(line, addSpecial: false, parseSpecial: false);
            var ours = managed.EncodeToIds(line);
            Assert.True(llama.SequenceEqual(ours), $"'{line}': llama.cpp [{string.Join(",", llama)}] vs Microsoft.ML.Tokenizers [{string.Join(",", ours)}]");
            compared++;
        }
        Assert.Equal(lines.Count, compared);
    }

    [Fact]
    public void Managed_tokenizer_maps_control_tokens_as_llama_cpp_does()
    {
        var managed = CommittedVocabulary().CreateManagedTokenizer();
        string prompt = DemoFormat.ChatPrompt(demo.World.EvaluationItems.First().Question);
        Assert.Equal(demo.Model.Vocabulary.Tokenize(prompt, addSpecial: false, parseSpecial: true), managed.EncodeToIds(prompt));
    }

    [Fact]
    public void Names_and_answers_are_single_tokens_whether_seen_or_not()
    {
        // The tokenizer also learns from a glossary, so a never-seen name does not stand out by being split up.
        var vocabulary = demo.Model.Vocabulary;
        foreach (string name in demo.World.People) Assert.Single(vocabulary.Tokenize(" " + name, false, false));
        foreach (var item in demo.World.Items.Where(i => i.Family == DemoFamily.Recall)) Assert.Single(vocabulary.Tokenize(item.Answer, false, false));
    }

    [Fact]
    public void The_bpe_trainer_is_deterministic_and_every_merge_builds_on_known_tokens()
    {
        var world = DemoWorld.Generate(new DemoWorldOptions { PersonCount = 14, ArithmeticMax = 6 });
        var texts = world.TokenizerTexts().Take(400).Select(t => (t, 1)).ToList();
        var a = ByteLevelBpeTrainer.Train(texts, 300);
        var b = ByteLevelBpeTrainer.Train(texts, 300);
        Assert.Equal(a, b);
        Assert.NotEmpty(a);
        var vocabulary = ByteLevelBpeVocabulary.Create(a, DemoModelBuilder.SpecialTokens); // throws if a merge used an unknown part
        Assert.Equal(256 + a.Count + 3, vocabulary.Count);
    }
}
