using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Tests.Gguf;
using UQEngine.Training;

namespace UQEngine.Tests.Training;

/// <summary>llama.cpp's training API through LlamaTrainer, on a tiny model so it takes a second or two.</summary>
[Trait("Category", "Integration")]
public sealed class LlamaTrainerTests
{
    [Fact]
    public void Training_lowers_the_loss_and_the_saved_model_loads_and_has_learned()
    {
        using var dir = new TempDirectory();
        string init = dir.File("init.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = init, Seed = 3, ContextLength = 64 });
        var options = new TrainingOptions { ContextLength = 256, Epochs = 30, LearningRate = 3e-3f, WarmupSteps = 2, Threads = 1 };
        var epochs = new List<TrainingEpochResult>();
        var steps = new List<TrainingProgress>();
        using (var trainer = LlamaTrainer.Open(init, options))
        {
            var doc = trainer.Tokenize("Hello world. The world is uncertain.");
            var docs = Enumerable.Repeat(doc, 12).ToList();
            for (int e = 0; e < options.Epochs; e++)
                epochs.Add(trainer.TrainEpoch(e, docs, new Progress(steps)));
            trainer.Save(dir.File("trained.gguf"));
        }

        Assert.True(epochs[^1].Loss < epochs[0].Loss * 0.7, $"loss {epochs[0].Loss:F3} -> {epochs[^1].Loss:F3}");
        Assert.Equal(epochs.Sum(e => e.Datapoints), steps.Count); // one report per optimizer step
        Assert.True(steps.Max(s => s.LearningRate) <= options.LearningRate);

        // llama.cpp's saver leaves out the chat template; the project re-exports with full metadata.
        var saved = GgufFile.Read(dir.File("trained.gguf"));
        Assert.Equal(GgufModelFacts.From(GgufFile.Read(init)).ParameterCount, GgufModelFacts.From(saved).ParameterCount);
        using var model = LlamaModel.Load(dir.File("trained.gguf"));
        using var context = model.CreateContext(new ContextOptions { ContextSize = 64, Threads = 1 });
        using var generator = new Generator(context);
        var scored = generator.Score("Hello world. The", " world", new GenerationOptions { AddSpecialTokens = false });
        Assert.True(scored.Tokens[0].Probability > 0.5, $"p(' world') = {scored.Tokens[0].Probability:F3} after training on it");
    }

    private sealed class Progress(List<TrainingProgress> sink) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => sink.Add(value);
    }
}
