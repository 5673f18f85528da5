using System.CommandLine;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Cli.Commands;

/// <summary>The hyperparameters of the sampling-based methods, shared by eval, generate and sensitivity.</summary>
internal sealed class SampleOptionsBinder
{
    private static readonly SampleSettings Defaults = new();

    public Option<int> Count { get; } = new("--sample-count") { Description = "K: samples per question for the sampling methods (decoded together)", DefaultValueFactory = _ => Defaults.Samples };
    public Option<float> Temperature { get; } = new("--sample-temperature") { Description = "Temperature of those samples", DefaultValueFactory = _ => Defaults.Temperature };
    public Option<float> TopP { get; } = new("--sample-top-p") { Description = "Nucleus mass of the samples (1 = off)", DefaultValueFactory = _ => Defaults.TopP };
    public Option<string> Similarity { get; } = new("--similarity") { Description = "hidden (the model's own hidden states, default), minilm (all-MiniLM-L6-v2 sentence embeddings, ONNX Runtime), embedding (a GGUF embedding model, --embedding-model), rouge-l or jaccard", DefaultValueFactory = _ => "hidden" };
    public Option<string> HiddenLayer { get; } = new("--hidden-layer") { Description = "--similarity hidden: which state to read: middle (the input of layer n_layer/2, default; final where the architecture reports no layer inputs), final (after the output norm: an LM-head row per token, slower relevance), or a layer index N (the state entering layer N)", DefaultValueFactory = _ => "middle" };
    public Option<string?> EmbeddingModel { get; } = new("--embedding-model") { Description = "GGUF embedding model for --similarity embedding (llama.cpp pooling); minilm (or minilm-f16) = all-MiniLM-L6-v2 converted to GGUF on first use" };
    public Option<double> ClusterThreshold { get; } = new("--cluster-threshold") { Description = "Same meaning when similarity >= this (semantic entropy, num_sem_sets)", DefaultValueFactory = _ => Defaults.ClusterThreshold };
    public Option<double> SarTemperature { get; } = new("--sar-temperature") { Description = "SAR's temperature t", DefaultValueFactory = _ => Defaults.SarTemperature };
    public Option<int> Paraphrases { get; } = new("--paraphrases") { Description = "Inv-Entropy: paraphrases of the question the model writes", DefaultValueFactory = _ => Defaults.Paraphrases };
    public Option<string> Perturbation { get; } = new("--perturbation") { Description = "Inv-Entropy's input perturbations: paraphrase (the model's, as sampled) or gaap (the most diverse of a 2x larger pool, genetic algorithm)", DefaultValueFactory = _ => "paraphrase" };
    public Option<int> ResponsesPerInput { get; } = new("--responses-per-input") { Description = "Inv-Entropy: responses sampled per input", DefaultValueFactory = _ => Defaults.ResponsesPerInput };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Count, Temperature, TopP, Similarity, HiddenLayer, EmbeddingModel, ClusterThreshold, SarTemperature, Paraphrases, Perturbation, ResponsesPerInput }) command.Add(o);
    }

    public SampleSettings Settings(ParseResult result)
    {
        var settings = new SampleSettings
        {
            Samples = result.GetValue(Count),
            Temperature = result.GetValue(Temperature),
            TopP = result.GetValue(TopP),
            Similarity = ParseBackend(result.GetValue(Similarity)!),
            EmbeddingModel = result.GetValue(EmbeddingModel),
            HiddenLayer = ParseLayer(result.GetValue(HiddenLayer)!, out bool final),
            FinalHiddenState = final,
            ClusterThreshold = result.GetValue(ClusterThreshold),
            SarTemperature = result.GetValue(SarTemperature),
            Paraphrases = result.GetValue(Paraphrases),
            ResponsesPerInput = result.GetValue(ResponsesPerInput),
            Perturbation = result.GetValue(Perturbation)!.Trim().ToLowerInvariant() switch
            {
                "paraphrase" => InputPerturbation.Paraphrase,
                "gaap" => InputPerturbation.Gaap,
                var other => throw new CliException($"--perturbation: '{other}' is not one of paraphrase, gaap"),
            },
        };
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        return settings;
    }

    /// <summary>"middle" (null), "final" (null, final = true) or a layer index.</summary>
    public static int? ParseLayer(string text, out bool final)
    {
        final = false;
        switch (text.Trim().ToLowerInvariant())
        {
            case "middle" or "auto" or "": return null;
            case "final" or "last": final = true; return null;
            case var n when int.TryParse(n, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int layer): return layer;
            default: throw new CliException($"--hidden-layer must be middle, final or a layer index (0, 1, ...), not '{text}'");
        }
    }

    public static SimilarityBackend ParseBackend(string text) => text.Trim().ToLowerInvariant() switch
    {
        "hidden" or "hidden-states" => SimilarityBackend.Hidden,
        "embedding" or "embeddings" => SimilarityBackend.Embedding,
        "rouge-l" or "rougel" or "rouge" => SimilarityBackend.RougeL,
        "jaccard" => SimilarityBackend.Jaccard,
        "minilm" or "all-minilm-l6-v2" => SimilarityBackend.MiniLm,
        var other => throw new CliException($"--similarity must be hidden, minilm, embedding, rouge-l or jaccard, not '{other}'"),
    };

    /// <summary>
    /// The GGUF embedding model's path: a file, or "minilm" / "minilm-f16" for all-MiniLM-L6-v2 converted to llama.cpp's
    /// bert GGUF (converted once into the model cache, <c>uqengine model convert-minilm</c>).
    /// </summary>
    public static string ResolveEmbeddingModel(string model)
    {
        if (File.Exists(model)) return model;
        return model.Trim().ToLowerInvariant() switch
        {
            "minilm" or "all-minilm-l6-v2" => MiniLM.MiniLmGgufConverter.Ensure(f16: false),
            "minilm-f16" => MiniLM.MiniLmGgufConverter.Ensure(f16: true),
            _ => model,
        };
    }

    /// <summary>True when a chosen method reads a sampling statistic (so the context needs sequences and hidden states).</summary>
    public static bool Needed(IEnumerable<IUncertaintyEstimator> estimators) =>
        estimators.Any(e => e.Statistics.Any(SampleStatisticNames.All.Contains));

    /// <summary>Registers the sampling methods with these settings; loads the embedder when the backend needs one (the caller disposes it).</summary>
    public static TextEmbedderHandle? Register(UncertaintyMethodRegistry registry, SampleSettings settings, ModelOptions modelOptions, bool load, int threads = 0)
    {
        var embedder = load ? LoadEmbedder(settings, modelOptions, threads) : null;
        SampleMethods.Register(registry, settings, embedder?.Embedder);
        return embedder;
    }

    /// <summary>
    /// The text embedder the backend reads, or null: the GGUF embedding model (<c>--embedding-model</c>, llama.cpp) or
    /// all-MiniLM-L6-v2 through ONNX Runtime (<c>--similarity minilm</c>; <paramref name="threads"/> as the model's <c>-t</c>,
    /// 0 = <see cref="ContextOptions.DefaultThreads"/>).
    /// </summary>
    public static TextEmbedderHandle? LoadEmbedder(SampleSettings settings, ModelOptions modelOptions, int threads = 0) => settings.Similarity switch
    {
        SimilarityBackend.Embedding => new TextEmbedderHandle(new GgufTextEmbedder(ResolveEmbeddingModel(settings.EmbeddingModel!), modelOptions: modelOptions)),
        SimilarityBackend.MiniLm => new TextEmbedderHandle(new MiniLM.MiniLmEmbedder(threads: threads > 0 ? threads : ContextOptions.DefaultThreads)),
        _ => null,
    };
}

/// <summary>A loaded text embedder the command owns and disposes.</summary>
internal sealed class TextEmbedderHandle(ITextEmbedder embedder) : IDisposable
{
    public ITextEmbedder Embedder { get; } = embedder;

    public void Dispose() => (Embedder as IDisposable)?.Dispose();
}
