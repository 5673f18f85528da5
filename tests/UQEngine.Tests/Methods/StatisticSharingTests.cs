using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Runner;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;
using UQEngine.Methods;

namespace UQEngine.Tests.Methods;

/// <summary>The greedy answer and the option-letter distribution of one item come from one prompt decode.</summary>
[Trait("Category", "Integration")]
public sealed class StatisticSharingTests
{
    private const string Items = """
        {"id":"m1","question":"What is 2+2?","options":["3","4","5","6"],"answer":"B"}
        {"id":"m2","question":"Capital of France?","options":["Paris","Rome","Berlin"],"answer":"A"}
        {"id":"m3","question":"Largest planet?","options":["Mars","Jupiter","Venus","Earth","Saturn"],"answer":"B"}
        """;

    private static EvaluationRunResult Run(string folder, string[] methods, MultipleChoiceRoute route)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 1024, Threads = 1 });
        using var generator = new Generator(context);
        var data = JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");
        return new EvaluationRunner(generator, UncertaintyMethodRegistry.CreateDefault()).Run(data, new EvaluationRunOptions
        {
            OutputFolder = folder, Methods = methods, MultipleChoiceRoute = route, BootstrapResamples = 10,
            Statistics = new StatisticSettings { AnswerMaxTokens = 4 },
        });
    }

    [Fact]
    public void Option_probabilities_read_from_the_greedy_answer_equal_a_separate_read_and_the_prompt_is_decoded_once()
    {
        using var dir = new TempDirectory();
        // Alone: one prompt decode and one step per item, no generation.
        var alone = Run(dir.File("alone"), ["option_prob"], MultipleChoiceRoute.OptionProbability);
        // Together with the greedy answer (option_prob listed first, so it is asked for before the answer exists).
        var shared = Run(dir.File("shared"), ["option_prob", "msp"], MultipleChoiceRoute.Generated);

        for (int i = 0; i < 3; i++)
        {
            var a = alone.Items[i].OptionProbabilities!;
            var b = shared.Items[i].OptionProbabilities!;
            Assert.Equal(a.Count, b.Count);
            for (int k = 0; k < a.Count; k++) Assert.Equal(a[k], b[k], 12);
            Assert.Equal(alone.Items[i].Methods["option_prob"], shared.Items[i].Methods["option_prob"]);
        }
        // Each item's prompt went through llama_decode once in both runs; the shared run only adds generation steps.
        var d1 = alone.Summary.Timing.Decode!;
        var d2 = shared.Summary.Timing.Decode!;
        Assert.Equal(d1.PromptTokens, d2.PromptTokens);
        Assert.Equal(0, d1.GeneratedTokens);
        Assert.True(d2.GeneratedTokens > 0);
    }
}

/// <summary>Option-probability prompts of several items in one llama_decode, one sequence each.</summary>
[Trait("Category", "Integration")]
public sealed class OptionLogitsBatchTests
{
    private const string Items = """
        {"id":"m1","question":"What is 2+2?","options":["3","4","5","6"],"answer":"B"}
        {"id":"m2","question":"Capital of France?","options":["Paris","Rome","Berlin"],"answer":"A"}
        {"id":"m3","question":"Largest planet?","options":["Mars","Jupiter","Venus","Earth","Saturn"],"answer":"B"}
        {"id":"m4","question":"Smallest prime?","options":["1","2","3"],"answer":"B"}
        {"id":"m5","question":"Colour of grass?","options":["green","red"],"answer":"A"}
        """;

    private static EvaluationRunResult Run(string folder, int sequences)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 2048, BatchSize = 2048, Threads = 1, MaxSequences = sequences });
        using var generator = new Generator(context);
        var data = JsonlDatasetReader.Parse(new StringReader(Items), "tiny.jsonl", "tiny");
        return new EvaluationRunner(generator, UncertaintyMethodRegistry.CreateDefault()).Run(data, new EvaluationRunOptions
        {
            OutputFolder = folder, Methods = ["option_prob"], MultipleChoiceRoute = MultipleChoiceRoute.OptionProbability, BootstrapResamples = 10,
        });
    }

    [Fact]
    public void Batched_option_prompts_give_the_one_at_a_time_probabilities_in_fewer_decodes()
    {
        using var dir = new TempDirectory();
        var single = Run(dir.File("single"), 1);
        var batched = Run(dir.File("batched"), 4);
        for (int i = 0; i < 5; i++)
        {
            var a = single.Items[i].OptionProbabilities!;
            var b = batched.Items[i].OptionProbabilities!;
            for (int k = 0; k < a.Count; k++) Assert.Equal(a[k], b[k], 5);
            Assert.Equal(single.Items[i].Prediction, batched.Items[i].Prediction);
        }
        var d1 = single.Summary.Timing.Decode!;
        var d2 = batched.Summary.Timing.Decode!;
        Assert.Equal(d1.PromptTokens, d2.PromptTokens); // the same tokens went through llama_decode
        Assert.Equal(5, d1.Calls);                        // one decode per item (no generation step follows)
        Assert.Equal(2, d2.Calls);                        // 4 items in the first decode, the fifth in the second
        Assert.Equal(5, batched.Summary.Timing.Statistics[StatisticNames.OptionLogits].Items);
    }
}
