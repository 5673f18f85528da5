using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Models;
using UQEngine.Training;

namespace UQEngine.Demo;

/// <summary>Everything that determines the demo model: world, tokenizer, shape, initial weights, training, shipping.</summary>
public sealed record DemoRecipe
{
    public string Name { get; init; } = "uqengine-demo";
    public DemoWorldOptions World { get; init; } = new();

    /// <summary>Most BPE merges learned from the tokenizer texts.</summary>
    public int TokenizerMaxMerges { get; init; } = 1500;

    /// <summary>A pair must occur this often to be merged.</summary>
    public int TokenizerMinPairCount { get; init; } = 1;

    public int EmbeddingLength { get; init; } = 256;
    public int LayerCount { get; init; } = 4;
    public int HeadCount { get; init; } = 4;
    public int HeadCountKv { get; init; } = 4;
    public int FeedForwardLength { get; init; } = 768;

    /// <summary>Seed of the initial weights.</summary>
    public ulong InitSeed { get; init; } = 7;

    /// <summary>Standard deviation of the initial matrices (token embeddings: 1; norms: 1).</summary>
    public double InitStandardDeviation { get; init; } = 0.02;

    /// <summary>
    /// Standard deviation of attn_k and attn_v. llama.cpp v0.5.0 never trains them (attention reads K and V from the
    /// KV cache tensor, which the backward graph does not connect to the projections), so they stay fixed random
    /// projections; 1/sqrt(width) keeps them full-scale and nearly orthogonal, so trained Q and output projections
    /// can still shape attention.
    /// </summary>
    public double KeyValueStandardDeviation { get; init; } = 0.0625;

    /// <remarks>
    /// One thread: on a shared 2-core machine ggml's spinning barriers make two threads about 6x slower than one
    /// during training (measured: 1.1 s vs 0.19 s per 256-token step).
    /// </remarks>
    public TrainingOptions Training { get; init; } = new() { ContextLength = 256, Epochs = 25, LearningRate = 3e-4f, WarmupSteps = 300, FinalLearningRateFraction = 0.05f, WeightDecay = 0.1f, Threads = 1 };

    /// <summary>
    /// Which trainer makes the shipped model: "torch" (src/UQEngine.Training.Torch, every weight trained; what the
    /// committed model was made with) or "llama" (llama.cpp's llama_opt_epoch, which in v0.5.0 cannot train
    /// token_embd, attn_k or attn_v; see models/README.md).
    /// </summary>
    public string Trainer { get; init; } = "torch";

    /// <summary>Settings of the TorchSharp trainer (used when <see cref="Trainer"/> is "torch").</summary>
    public TorchTrainingOptions Torch { get; init; } = new();

    /// <summary>Type the shipped model is quantized to by llama.cpp.</summary>
    public string ShippedType { get; init; } = "F16";

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static DemoRecipe FromJson(string json) => JsonSerializer.Deserialize<DemoRecipe>(json, JsonOptions) ?? throw new JsonException("empty recipe");

    internal LlamaHyperparameters Hyperparameters(int vocabularySize) => new()
    {
        VocabularySize = vocabularySize,
        EmbeddingLength = EmbeddingLength,
        LayerCount = LayerCount,
        HeadCount = HeadCount,
        HeadCountKv = HeadCountKv,
        FeedForwardLength = FeedForwardLength,
        ContextLength = Training.ContextLength,
    };
}

/// <summary>
/// The TorchSharp trainer's settings: AdamW (decoupled weight decay on matrices only), linear warm-up then cosine
/// to <see cref="FinalLearningRateFraction"/> over all steps, gradient norm clipped, documents packed whole into
/// windows of the recipe's context length, a fresh corpus every epoch.
/// </summary>
public sealed record TorchTrainingOptions
{
    /// <summary>Epochs; a fact on rung k of the ladder is seen k times per epoch.</summary>
    public int Epochs { get; init; } = 8;
    public double LearningRate { get; init; } = 1.5e-3;
    public double FinalLearningRateFraction { get; init; } = 0.05;
    public int WarmupSteps { get; init; } = 100;
    public int BatchSize { get; init; } = 4;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Standard deviation of the initial matrices (attn_output and ffn_down scaled by 1/sqrt(2 x layers)).</summary>
    public double InitStandardDeviation { get; init; } = 0.02;

    /// <summary>Seed of the initial weights and of the window order.</summary>
    public long Seed { get; init; } = 7;

    /// <summary>CPU threads (libtorch); 2 on this project's 2-core machines.</summary>
    public int Threads { get; init; } = 2;
}
