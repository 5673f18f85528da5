using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using UQEngine.Gguf;
using UQEngine.Models;
using UQEngine.Training;

namespace UQEngine.Demo;

/// <summary>What the builder is doing, for a progress display.</summary>
public abstract record DemoBuildEvent
{
    public sealed record Stage(string Text) : DemoBuildEvent;
    public sealed record Step(TrainingProgress Progress) : DemoBuildEvent;
    public sealed record EpochDone(TrainingEpochResult Result) : DemoBuildEvent;
}

/// <summary>The files a build produced and how long training took.</summary>
public sealed record DemoBuildResult(string ModelPath, string F32Path, string Sha256, long SizeBytes, int VocabularySize, long ParameterCount, TimeSpan TrainingTime, IReadOnlyList<TrainingEpochResult> Epochs);

/// <summary>
/// Builds the demo model from a <see cref="DemoRecipe"/>: generates the world, learns a BPE vocabulary from its corpus,
/// writes seeded initial weights with <see cref="LlamaGgufExporter"/>, trains all of them with llama.cpp's training
/// API, saves with llama.cpp, re-exports the trained weights with full tokenizer metadata and chat template (which
/// llama.cpp's saver leaves out), and quantizes to the shipped type with llama_model_quantize.
/// </summary>
public static class DemoModelBuilder
{
    public static readonly string[] SpecialTokens = [ByteLevelBpeVocabulary.EndOfText, ByteLevelBpeVocabulary.ImStart, ByteLevelBpeVocabulary.ImEnd];

    /// <summary>The vocabulary the recipe's tokenizer texts give.</summary>
    public static ByteLevelBpeVocabulary BuildVocabulary(DemoRecipe recipe, DemoWorld world)
    {
        var splitter = new Regex(string.Join("|", SpecialTokens.Select(Regex.Escape)));
        var texts = world.TokenizerTexts().SelectMany(t => splitter.Split(t)).Where(t => t.Length > 0).Select(t => (t, 1));
        var merges = ByteLevelBpeTrainer.Train(texts, recipe.TokenizerMaxMerges, recipe.TokenizerMinPairCount);
        return ByteLevelBpeVocabulary.Create(merges, SpecialTokens);
    }

    public static LlamaGgufExportOptions ExportOptions(DemoRecipe recipe, ByteLevelBpeVocabulary vocabulary, GgmlType matrixType = GgmlType.F32) => new()
    {
        Hyperparameters = recipe.Hyperparameters(vocabulary.Count),
        Vocabulary = vocabulary,
        ModelName = recipe.Name,
        MatrixType = matrixType,
        AddBosToken = true,
    };

    /// <summary>Runs the whole recipe. Intermediate files go to <paramref name="workDirectory"/>; the shipped model to <paramref name="outputPath"/>.</summary>
    public static DemoBuildResult Build(DemoRecipe recipe, string outputPath, string workDirectory, Action<DemoBuildEvent>? report = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(workDirectory);
        report?.Invoke(new DemoBuildEvent.Stage("generating the world"));
        var world = DemoWorld.Generate(recipe.World);
        report?.Invoke(new DemoBuildEvent.Stage("learning the BPE vocabulary"));
        var vocabulary = BuildVocabulary(recipe, world);
        var export = ExportOptions(recipe, vocabulary);
        string init = Path.Combine(workDirectory, "init-f32.gguf");
        LlamaGgufExporter.Write(init, export, (tensor, destination) => InitialWeights(recipe, tensor, destination));
        long parameters = new LlamaGgufLayout(export.Hyperparameters).ParameterCount;
        report?.Invoke(new DemoBuildEvent.Stage($"vocabulary {vocabulary.Count} tokens ({vocabulary.Merges.Length} merges); model {parameters:N0} parameters"));

        var epochs = new List<TrainingEpochResult>();
        var clock = Stopwatch.StartNew();
        string raw = Path.Combine(workDirectory, "trained-llama-saver.gguf");
        using (var trainer = LlamaTrainer.Open(init, recipe.Training))
        {
            var progress = new SynchronousProgress<TrainingProgress>(p => report?.Invoke(new DemoBuildEvent.Step(p)));
            for (int epoch = 0; epoch < recipe.Training.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var docs = world.Corpus(epoch).Select(trainer.Tokenize).ToList();
                if (epoch == 0) trainer.TotalSteps = (long)trainer.Pack(docs).Count * recipe.Training.Epochs;
                var result = trainer.TrainEpoch(epoch, docs, progress);
                epochs.Add(result);
                report?.Invoke(new DemoBuildEvent.EpochDone(result));
            }
            trainer.Save(raw);
        }
        clock.Stop();

        report?.Invoke(new DemoBuildEvent.Stage("re-exporting the trained weights with tokenizer metadata"));
        string f32 = Path.Combine(workDirectory, "trained-f32.gguf");
        Reexport(raw, f32, export);
        report?.Invoke(new DemoBuildEvent.Stage($"quantizing to {recipe.ShippedType} with llama_model_quantize"));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
        LlamaQuantizer.Quantize(f32, outputPath, QuantizationType.Parse(recipe.ShippedType));
        return new DemoBuildResult(outputPath, f32, ModelFiles.Sha256(outputPath), new FileInfo(outputPath).Length, vocabulary.Count, parameters, clock.Elapsed, epochs);
    }

    /// <summary>Copies the weights llama.cpp saved into a file written by the project's exporter (chat template, BOS flag, name).</summary>
    public static void Reexport(string savedByLlama, string output, LlamaGgufExportOptions export)
    {
        var saved = GgufFile.Read(savedByLlama);
        LlamaGgufExporter.Write(output, export, (tensor, destination) =>
        {
            var info = saved.GetTensor(tensor.Name);
            if (info.ElementCount != (ulong)destination.Length)
                throw new InvalidDataException($"tensor {tensor.Name} has {info.ElementCount} elements in '{savedByLlama}', expected {destination.Length}");
            saved.ReadTensorAsSingles(info).CopyTo(destination);
        });
    }

    /// <summary>Norms 1; token embeddings N(0, 1) and attn_k/attn_v N(0, KeyValueStandardDeviation) (llama.cpp v0.5.0 trains neither); other matrices N(0, InitStandardDeviation).</summary>
    private static void InitialWeights(DemoRecipe recipe, LlamaTensorSpec tensor, Span<float> destination)
    {
        if (tensor.IsVector) { destination.Fill(1f); return; }
        double sd = tensor.Role switch
        {
            LlamaTensorRole.TokenEmbedding => 1.0,
            LlamaTensorRole.AttentionKey or LlamaTensorRole.AttentionValue => recipe.KeyValueStandardDeviation,
            _ => recipe.InitStandardDeviation,
        };
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(tensor.Name)) hash = (hash ^ b) * 1099511628211UL;
        new SplitMix64Random(recipe.InitSeed ^ hash).FillNormal(destination, sd);
    }

    private sealed class SynchronousProgress<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }
}
