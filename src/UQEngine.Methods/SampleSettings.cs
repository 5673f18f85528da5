using System.Globalization;
using UQEngine.Inference;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods;

/// <summary>Which notion of "same meaning" the sampling methods use.</summary>
public enum SimilarityBackend
{
    /// <summary>Mean-pooled hidden states of the generating model itself (the middle layer's input by default), cosine (no extra model).</summary>
    Hidden,
    /// <summary>A GGUF embedding model through llama.cpp's pooling, cosine (<see cref="SampleSettings.EmbeddingModel"/>).</summary>
    Embedding,
    /// <summary>ROUGE-L F1 over words.</summary>
    RougeL,
    /// <summary>Jaccard overlap of word sets.</summary>
    Jaccard,
    /// <summary>
    /// all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2 normalised) through ONNX Runtime, cosine. The embedder
    /// lives in the UQEngine.MiniLM assembly and is passed in by the host (<see cref="SampleMethods.Register"/>).
    /// </summary>
    MiniLm,
}

/// <summary>
/// Hyperparameters of the sampling-based methods (all exposed on the CLI: <c>--samples</c>, <c>--sample-temperature</c>,
/// <c>--similarity</c>, <c>--cluster-threshold</c>, <c>--sar-temperature</c>, ...).
/// </summary>
public sealed record SampleSettings
{
    /// <summary>K: samples per question, decoded together in one batch sharing the prompt's KV cache.</summary>
    public int Samples { get; init; } = 5;

    /// <summary>Sampling temperature of the K samples.</summary>
    public float Temperature { get; init; } = 1.0f;

    /// <summary>Nucleus mass of the samples (1 = off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Top-k of the samples (0 = off).</summary>
    public int TopK { get; init; }

    /// <summary>Most tokens per sample; null = the run's answer length (<see cref="StatisticSettings.AnswerMaxTokens"/>).</summary>
    public int? MaxTokens { get; init; }

    public SimilarityBackend Similarity { get; init; } = SimilarityBackend.Hidden;

    /// <summary>
    /// <see cref="SimilarityBackend.Hidden"/>: read the state entering this layer (the context must expose it). Null
    /// (default): the middle layer's input, n_layer / 2, where llama.cpp reports layer inputs for the architecture,
    /// else the final state. Layer inputs come for every token without an LM-head row, and the token-relevance
    /// pass stops the graph there (<see cref="LlamaContext.DecodeThroughLayer"/>), so the layers above cost nothing:
    /// the middle layer halves that pass, and mid-depth states are commonly at least as good sentence
    /// representations as the last one (docs/SAMPLING.md has the measurements on the demo world).
    /// </summary>
    public int? HiddenLayer { get; init; }

    /// <summary><see cref="SimilarityBackend.Hidden"/>: read the final hidden state (after the output norm) instead of a layer's input.</summary>
    public bool FinalHiddenState { get; init; }

    /// <summary>
    /// A context for these settings on this model: enough sequences (<see cref="SequencesNeeded"/>, at least
    /// <paramref name="atLeastSequences"/>), and the hidden state the hidden-state backend reads, kept alongside
    /// what <paramref name="options"/> already exposes (a probe's layer, say).
    /// </summary>
    public ContextOptions ContextOptionsFor(ContextOptions options, ModelFacts facts, int atLeastSequences = 1)
    {
        ArgumentNullException.ThrowIfNull(options);
        int? layer = Similarity == SimilarityBackend.Hidden ? ReadLayer(facts) : null;
        bool final = Similarity == SimilarityBackend.Hidden && layer is null;
        return options with
        {
            MaxSequences = Math.Max(Math.Max(atLeastSequences, options.MaxSequences), SequencesNeeded),
            FinalHiddenState = options.FinalHiddenState || final,
            HiddenLayers = layer is int l ? [.. options.HiddenLayers.Append(l).Distinct().Order()] : options.HiddenLayers,
            EarlyExit = options.EarlyExit || layer is not null || final, // the relevance pass stops the graph at the state read
        };
    }

    /// <summary>The layer whose input the hidden-state backend reads for this model, or null for the final state.</summary>
    public int? ReadLayer(ModelFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        if (FinalHiddenState) return null;
        if (HiddenLayer is int layer) return layer;
        return facts.LayerCount >= 2 && LlamaContext.ExposesLayerInputs(facts.Architecture) ? facts.LayerCount / 2 : null;
    }

    /// <summary>The GGUF embedding model of <see cref="SimilarityBackend.Embedding"/>.</summary>
    public string? EmbeddingModel { get; init; }

    /// <summary>Whether the backend reads a text embedder the host passes in (<see cref="SimilarityBackend.Embedding"/>, <see cref="SimilarityBackend.MiniLm"/>).</summary>
    public bool NeedsTextEmbedder => Similarity is SimilarityBackend.Embedding or SimilarityBackend.MiniLm;

    /// <summary>How a cosine becomes a similarity in [0, 1] (embedding backends).</summary>
    public CosineMapping Cosine { get; init; } = CosineMapping.ClampNegative;

    /// <summary>Two samples are "the same meaning" when their similarity is at least this (semantic entropy, NumSemSets).</summary>
    public double ClusterThreshold { get; init; } = SemanticSets.DefaultSimilarityThreshold;

    /// <summary>SAR's temperature t (SentenceSAR and SAR).</summary>
    public double SarTemperature { get; init; } = Sar.DefaultTemperature;

    /// <summary>Semantic entropy's class probability (default: LM-Polygraph's summed likelihoods).</summary>
    public ClassProbability ClassProbability { get; init; } = ClassProbability.Sum;

    /// <summary>Semantic entropy's estimator (default: Monte-Carlo mean over samples).</summary>
    public EntropyEstimator EntropyEstimator { get; init; } = EntropyEstimator.Mean;

    /// <summary>Eccentricity keeps eigenvectors with eigenvalue below this; null = all.</summary>
    public double? EccentricityThreshold { get; init; } = GraphUncertainty.DefaultEccentricityThreshold;

    /// <summary>Inv-Entropy: paraphrases of the question the model writes (inputs = the question + these).</summary>
    public int Paraphrases { get; init; } = 4;

    /// <summary>Inv-Entropy: responses sampled per input.</summary>
    public int ResponsesPerInput { get; init; } = 3;

    /// <summary>
    /// Inv-Entropy's input perturbations: the model's paraphrases as they come (the authors' evaluate.py), or GAAP,
    /// which evolves a pool of <see cref="GaapPoolFactor"/> x <see cref="Paraphrases"/> model paraphrases and keeps the
    /// <see cref="Paraphrases"/> most diverse (Sampling/Gaap.cs, ROUGE-L similarity).
    /// </summary>
    public InputPerturbation Perturbation { get; init; } = InputPerturbation.Paraphrase;

    /// <summary>GAAP: paraphrases sampled into the pool per paraphrase kept.</summary>
    public int GaapPoolFactor { get; init; } = 2;

    /// <summary>Inv-Entropy: temperature of the paraphrasing.</summary>
    public float ParaphraseTemperature { get; init; } = 1.0f;

    /// <summary>Inv-Entropy: random one-response-per-input draws averaged (the reference's protocol).</summary>
    public int InvEntropyDraws { get; init; } = 20;

    /// <summary>Sequences a context needs for these settings (samples decoded together; token ablation wants more).</summary>
    /// <remarks>One more than the samples, so the relevance pass always has a sequence of its own beside them and can reuse their cells.</remarks>
    public int SequencesNeeded => Math.Max(32, Math.Max(Math.Min(Samples + 1, ContextOptions.SequenceLimit), Math.Max(PerturbationPool, ResponsesPerInput)));

    /// <summary>Paraphrases the model writes per question: <see cref="Paraphrases"/>, or GAAP's larger pool.</summary>
    public int PerturbationPool => Perturbation == InputPerturbation.Gaap ? Paraphrases * GaapPoolFactor : Paraphrases;

    /// <summary>The <see cref="Describe"/> key of <see cref="ClusterThreshold"/>.</summary>
    public const string ClusterThresholdKey = "sampling.cluster_threshold";

    /// <summary>The <see cref="Describe"/> key of <see cref="SarTemperature"/>.</summary>
    public const string SarTemperatureKey = "sampling.sar_temperature";

    /// <summary>The settings as text, for run records (run.json): a resumed run must use the same ones.</summary>
    public IReadOnlyDictionary<string, string> Describe() => new Dictionary<string, string>
    {
        ["sampling.samples"] = Samples.ToString(CultureInfo.InvariantCulture),
        ["sampling.temperature"] = Temperature.ToString("R", CultureInfo.InvariantCulture),
        ["sampling.top_p"] = TopP.ToString("R", CultureInfo.InvariantCulture),
        ["sampling.top_k"] = TopK.ToString(CultureInfo.InvariantCulture),
        ["sampling.max_tokens"] = MaxTokens?.ToString(CultureInfo.InvariantCulture) ?? "",
        ["sampling.similarity"] = Similarity.ToString(),
        ["sampling.hidden_layer"] = FinalHiddenState ? "final" : HiddenLayer?.ToString(CultureInfo.InvariantCulture) ?? "middle",
        ["sampling.embedding_model"] = EmbeddingModel ?? "",
        [ClusterThresholdKey] = ClusterThreshold.ToString("R", CultureInfo.InvariantCulture),
        [SarTemperatureKey] = SarTemperature.ToString("R", CultureInfo.InvariantCulture),
        ["sampling.paraphrases"] = Paraphrases.ToString(CultureInfo.InvariantCulture),
        ["sampling.responses_per_input"] = ResponsesPerInput.ToString(CultureInfo.InvariantCulture),
        ["sampling.perturbation"] = Perturbation == InputPerturbation.Gaap ? $"gaap x{GaapPoolFactor}" : "paraphrase",
    };

    /// <summary>Throws ArgumentException naming the first bad setting.</summary>
    public void Validate()
    {
        if (HiddenLayer is < 0) throw new ArgumentException($"the hidden layer must be >= 0, not {HiddenLayer}");
        if (HiddenLayer is not null && FinalHiddenState) throw new ArgumentException("choose either a hidden layer or the final hidden state, not both");
        if (Samples < 1) throw new ArgumentException($"samples must be at least 1, not {Samples}");
        if (Samples > ContextOptions.SequenceLimit) throw new ArgumentException($"at most {ContextOptions.SequenceLimit} samples are decoded together (llama.cpp's sequence limit), not {Samples}");
        if (!(Temperature > 0) || !float.IsFinite(Temperature)) throw new ArgumentException($"the sampling temperature must be > 0 (samples at 0 are all the greedy answer), not {Temperature}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], not {TopP}");
        if (TopK < 0) throw new ArgumentException($"top-k must be >= 0, not {TopK}");
        if (MaxTokens is < 1) throw new ArgumentException($"the sample length must be at least 1 token, not {MaxTokens}");
        if (!(ClusterThreshold >= 0 && ClusterThreshold <= 1)) throw new ArgumentException($"the cluster threshold must be in [0, 1], not {ClusterThreshold}");
        if (!(SarTemperature > 0) || !double.IsFinite(SarTemperature)) throw new ArgumentException($"the SAR temperature must be > 0, not {SarTemperature}");
        if (Similarity == SimilarityBackend.Embedding && string.IsNullOrWhiteSpace(EmbeddingModel))
            throw new ArgumentException("the embedding similarity needs an embedding model (--embedding-model FILE.gguf)");
        if (Paraphrases < 1) throw new ArgumentException($"Inv-Entropy needs at least 1 paraphrase, not {Paraphrases}");
        if (ResponsesPerInput < 1) throw new ArgumentException($"Inv-Entropy needs at least 1 response per input, not {ResponsesPerInput}");
        if (!(ParaphraseTemperature > 0)) throw new ArgumentException($"the paraphrase temperature must be > 0, not {ParaphraseTemperature}");
        if (InvEntropyDraws < 1) throw new ArgumentException($"Inv-Entropy draws must be at least 1, not {InvEntropyDraws}");
        if (GaapPoolFactor < 1) throw new ArgumentException($"the GAAP pool factor must be at least 1, not {GaapPoolFactor}");
    }
}

/// <summary>How Inv-Entropy perturbs its input question.</summary>
public enum InputPerturbation
{
    /// <summary>The model's own paraphrases, as sampled (the reference implementation's protocol).</summary>
    Paraphrase,

    /// <summary>GAAP: a genetic algorithm over a larger pool of the model's paraphrases, keeping the most diverse.</summary>
    Gaap,
}
