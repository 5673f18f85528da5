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
            EarlyExit = options.EarlyExit || layer is not null, // the relevance pass stops the graph at the layer read
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
        ["sampling.cluster_threshold"] = ClusterThreshold.ToString("R", CultureInfo.InvariantCulture),
        ["sampling.sar_temperature"] = SarTemperature.ToString("R", CultureInfo.InvariantCulture),
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

/// <summary>K sampled answers to one prompt with their token log-probabilities.</summary>
/// <param name="Answers">The answers (text cut at the stop string, tokens that reach into the text).</param>
/// <param name="Generations">The raw generations.</param>
/// <param name="TokenLogProbabilities">Per answer, log p of each kept token.</param>
/// <param name="LogLikelihoods">Per answer, log P(answer | prompt) = Σ of its kept tokens' log p.</param>
public sealed record SampleSet(AnswerSet Answers, IReadOnlyList<GenerationResult> Generations, double[][] TokenLogProbabilities, double[] LogLikelihoods)
{
    public IReadOnlyList<string> Texts => [.. Answers.Answers.Select(a => a.Text)];

    /// <summary>
    /// The answer as the methods see it: the tokens whose text starts before the cut (a stop string is cut from the
    /// text; the token that held it is dropped when it starts at or after the cut). An answer left with no token
    /// (the model stopped at once) keeps the log-probability of that first token in its likelihood, so stopping
    /// is not "certain".
    /// </summary>
    public static (AnswerTokens Answer, double[] TokenLogProbabilities, double LogLikelihood) Trim(GenerationResult generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        var ids = new List<int>();
        var pieces = new List<string>();
        var logp = new List<double>();
        int offset = 0;
        foreach (var token in generation.Tokens)
        {
            if (offset >= generation.Text.Length) break;
            int take = Math.Min(token.Text.Length, generation.Text.Length - offset);
            ids.Add(token.TokenId);
            pieces.Add(generation.Text.Substring(offset, take));
            logp.Add(token.LogProbability);
            offset += token.Text.Length;
        }
        double likelihood = logp.Count > 0 ? logp.Sum() : generation.Tokens.Count > 0 ? generation.Tokens[0].LogProbability : 0;
        string text = string.Concat(pieces);
        return (new AnswerTokens(text, [.. ids], [.. pieces]) { Cache = generation.Cache }, [.. logp], likelihood);
    }

    public static SampleSet From(string prompt, int[] promptTokens, IReadOnlyList<GenerationResult> generations)
    {
        var answers = new AnswerTokens[generations.Count];
        var tokenLogP = new double[generations.Count][];
        var likelihood = new double[generations.Count];
        for (int i = 0; i < generations.Count; i++) (answers[i], tokenLogP[i], likelihood[i]) = Trim(generations[i]);
        return new SampleSet(new AnswerSet(prompt, promptTokens, answers), generations, tokenLogP, likelihood);
    }
}

/// <summary>Names of the sampling statistics.</summary>
public static class SampleStatisticNames
{
    /// <summary><see cref="SampleSet"/>: K samples of the answer prompt at the sampling temperature.</summary>
    public const string Samples = "samples";

    /// <summary><see cref="SentenceSimilarityResult"/>: the K×K similarity of the samples (computed once, shared).</summary>
    public const string SampleSimilarity = "sample_similarity";

    /// <summary><see cref="SentenceSimilarityResult"/>: the similarity matrix plus every sample's token-ablation similarities (SAR).</summary>
    public const string SampleRelevance = "sample_relevance";

    /// <summary><see cref="SentenceSimilarityResult"/>: token-ablation similarities of the greedy answer (TokenSAR).</summary>
    public const string GreedyRelevance = "greedy_relevance";

    /// <summary><see cref="InvEntropyResult"/>: paraphrased inputs, responses, and the dual random walk.</summary>
    public const string InvEntropyWalk = "inv_entropy_walk";
}

/// <summary>
/// The sampling-based methods of the evaluation harness: statistics (samples, similarity matrices, token relevance,
/// the Inv-Entropy walk) and the estimators over them. <see cref="Register"/> adds them to a registry with given
/// settings (re-registering replaces the previous settings).
/// </summary>
public static class SampleMethods
{
    /// <summary>Names of the sampling estimators, for listings.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["sar", "token_sar", "sentence_sar", "semantic_entropy", "num_sem_sets", "eigv_laplacian", "degmat", "eccentricity", "lexical_similarity", "inv_entropy"];

    /// <param name="registry">Where to add them.</param>
    /// <param name="settings">Hyperparameters (validated here).</param>
    /// <param name="embedder">The embedding model of <see cref="SimilarityBackend.Embedding"/> (owned by the caller).</param>
    public static void Register(UncertaintyMethodRegistry registry, SampleSettings settings, ITextEmbedder? embedder = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Similarity != SimilarityBackend.Embedding || embedder is null) settings.Validate();
        else (settings with { EmbeddingModel = settings.EmbeddingModel ?? "(given)" }).Validate();
        var backend = new BackendFactory(settings, embedder);

        registry.Register(new SamplesStatistic(settings));
        registry.Register(new SimilarityStatistic(SampleStatisticNames.SampleSimilarity, backend, tokens: false));
        registry.Register(new SimilarityStatistic(SampleStatisticNames.SampleRelevance, backend, tokens: true));
        registry.Register(new GreedyRelevanceStatistic(backend));
        registry.Register(new InvEntropyStatistic(settings, backend));

        string s = SampleStatisticNames.Samples, sim = SampleStatisticNames.SampleSimilarity, rel = SampleStatisticNames.SampleRelevance;
        double t = settings.SarTemperature, threshold = settings.ClusterThreshold;
        registry.Register(new SampleEstimator("sar", "SAR (Duan et al.): SentenceSAR over the samples with relevance-weighted token probabilities", [s, rel], st =>
        {
            var set = st.Get<SampleSet>(s);
            var r = st.Get<SentenceSimilarityResult>(rel);
            var tokenSims = r.TokenSimilarity!.Select(ConventionalTokenSimilarity).ToList();
            return new(Sar.Compute(set.TokenLogProbabilities, tokenSims, r.Matrix, t));
        }));
        registry.Register(new SampleEstimator("token_sar", "TokenSAR: relevance-weighted −log p of the greedy answer's tokens (relevance = 1 − sim(answer, answer without the token))",
            [StatisticNames.GreedyGeneration, SampleStatisticNames.GreedyRelevance], st =>
            {
                var (_, logp, _) = SampleSet.Trim(st.Get<GenerationResult>(StatisticNames.GreedyGeneration));
                var r = st.Get<SentenceSimilarityResult>(SampleStatisticNames.GreedyRelevance);
                return new(Sar.TokenSar(logp, ConventionalTokenSimilarity(r.TokenSimilarity![0])));
            }));
        registry.Register(new SampleEstimator("sentence_sar", "SentenceSAR: −mean log(p_i + Σ_j sim_ij p_j / t) over the samples", [s, sim], st =>
            new(Sar.SentenceSar(st.Get<SampleSet>(s).LogLikelihoods, Matrix(st, sim), t))));
        registry.Register(new SampleEstimator("semantic_entropy", "Semantic entropy (Kuhn et al.): entropy over meaning classes (similarity ≥ threshold), class likelihood from the samples", [s, sim], st =>
        {
            var set = st.Get<SampleSet>(s);
            var clusters = SemanticClusters.Greedy(Matrix(st, sim), threshold);
            return new(SemanticEntropy.Compute(set.LogLikelihoods, clusters, settings.ClassProbability, settings.EntropyEstimator),
                Detail: string.Create(CultureInfo.InvariantCulture, $"{clusters.ClassCount} classes"));
        }));
        registry.Register(new SampleEstimator("num_sem_sets", "Number of semantic sets (Lin et al.): connected components of 'similarity ≥ threshold'", [s, sim], st =>
            new(SemanticSets.Count(Matrix(st, sim), threshold))));
        registry.Register(new SampleEstimator("eigv_laplacian", "EigValLaplacian (Lin et al.): Σ max(0, 1 − λ) of the sample graph's normalized Laplacian", [s, sim], st =>
            new(GraphUncertainty.EigValLaplacian(Matrix(st, sim)))));
        registry.Register(new SampleEstimator("degmat", "Degree matrix (Lin et al.): 1 − Σ_ij W_ij / K²", [s, sim], st =>
            new(GraphUncertainty.DegreeMatrix(Matrix(st, sim)))));
        registry.Register(new SampleEstimator("eccentricity", "Eccentricity (Lin et al.): spread of the samples' spectral embeddings", [s, sim], st =>
            new(GraphUncertainty.Eccentricity(Matrix(st, sim), settings.EccentricityThreshold))));
        registry.Register(new SampleEstimator("lexical_similarity", "Lexical similarity (Fomicheva et al.): −mean ROUGE-L F1 over sample pairs (independent of --similarity)", [s], st =>
            new(LexicalSimilarity.Compute(st.Get<SampleSet>(s).Texts) + 0.0))); // + 0.0 turns −0 (no overlap) into 0
        registry.Register(new SampleEstimator("inv_entropy", "Inv-Entropy (Song et al.): entropy of the inverse model p(x|y) of a random walk over paraphrased inputs and their responses",
            [SampleStatisticNames.InvEntropyWalk], st => new(st.Get<InvEntropyResult>(SampleStatisticNames.InvEntropyWalk).InvEntropy)));
    }

    private static SquareMatrix Matrix(IStatisticSource st, string name) => st.Get<SentenceSimilarityResult>(name).Matrix;

    /// <summary>LM-Polygraph's conventions on a copy (one-token answers: 0.5).</summary>
    private static double[] ConventionalTokenSimilarity(double[] raw)
    {
        var copy = (double[])raw.Clone();
        Sar.ApplyTokenConventions(copy, []);
        return copy;
    }

    /// <summary>Sampling options of the K samples.</summary>
    internal static GenerationOptions SampleOptions(SampleSettings settings, StatisticSettings run, float temperature, int? maxTokens = null) => new()
    {
        MaxTokens = maxTokens ?? settings.MaxTokens ?? run.AnswerMaxTokens,
        Stop = ["\n"],
        AddSpecialTokens = true,
        ParseSpecialTokens = true,
        Sampling = new SamplingOptions { Temperature = temperature, TopP = settings.TopP, TopK = settings.TopK, Seed = run.Seed },
    };

    /// <summary>Builds the configured backend for one computation (the hidden-state one reads the statistic's own context).</summary>
    internal sealed class BackendFactory(SampleSettings settings, ITextEmbedder? embedder)
    {
        public SentenceSimilarityResult Compute(StatisticContext context, AnswerSet answers, bool tokens)
        {
            switch (settings.Similarity)
            {
                case SimilarityBackend.Hidden:
                    int? layer = settings.ReadLayer(context.Generator.Context.Model.Facts);
                    using (var encoder = new AnswerEncoder(RequireHiddenStates(context.Generator.Context, layer), layer))
                        return new HiddenStateSimilarity(encoder, settings.Cosine).Compute(answers, tokens, context.CancellationToken);
                case SimilarityBackend.Embedding:
                    var e = embedder ?? throw new InvalidOperationException("the embedding similarity backend has no embedding model loaded (--embedding-model)");
                    return new TextEmbeddingSimilarity(e, settings.Cosine).Compute(answers, tokens, context.CancellationToken);
                case SimilarityBackend.RougeL:
                    return new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l").Compute(answers, tokens, context.CancellationToken);
                case SimilarityBackend.Jaccard:
                    return new LexicalSentenceSimilarity(new JaccardSimilarity(), "jaccard").Compute(answers, tokens, context.CancellationToken);
                default:
                    throw new ArgumentOutOfRangeException(nameof(settings), settings.Similarity, "unknown similarity backend");
            }
        }

        private static LlamaContext RequireHiddenStates(LlamaContext context, int? layer) =>
            context.ExposesHiddenState(layer) ? context
            : throw new InvalidOperationException(layer is null
                ? "the hidden-state similarity needs the model's context created with FinalHiddenState (the CLI does this when a sampling method is chosen); or pick --similarity rouge-l|jaccard|embedding"
                : $"the hidden-state similarity reads the input of layer {layer}, which the context does not expose (create it with SampleSettings.ContextOptionsFor, or choose the final state: --hidden-layer final)");
    }
}

/// <summary>An estimator over sampling statistics (open-answer and multiple-choice items alike).</summary>
public sealed class SampleEstimator(string name, string description, IReadOnlyList<string> statistics, Func<IStatisticSource, UncertaintyEstimate> estimate) : IUncertaintyEstimator
{
    public string Name { get; } = name;
    public string Description { get; } = description;
    public IReadOnlyList<string> Statistics { get; } = statistics;
    public bool AppliesTo(EvaluationItem item) => true;
    public UncertaintyEstimate Estimate(IStatisticSource statistics) => estimate(statistics);
}

/// <summary>K samples of the answer prompt, decoded together (Generator.Sample: one llama_decode per step, the prompt's KV shared).</summary>
internal sealed class SamplesStatistic(SampleSettings settings) : IItemStatistic
{
    public string Name => SampleStatisticNames.Samples;
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        string prompt = context.Prompts.Answer(context.Item);
        var options = SampleMethods.SampleOptions(settings, context.Settings, settings.Temperature);
        var generator = context.Generator;
        if (settings.Samples > generator.Context.MaxSequences)
            throw new InvalidOperationException($"{settings.Samples} samples need a context with at least {settings.Samples} sequences (it has {generator.Context.MaxSequences})");
        int[] tokens = generator.TokenizePrompt(prompt, options);
        // The hidden-state backend reads the samples' states as they are decoded, and their cells while they last.
        int? layer = settings.ReadLayer(generator.Context.Model.Facts);
        if (settings.Similarity == SimilarityBackend.Hidden && generator.Context.ExposesHiddenState(layer))
            options = options with { CaptureHiddenStates = true, HiddenStateLayer = layer };
        var generations = generator.Generate(tokens, settings.Samples, options, null, context.CancellationToken);
        return SampleSet.From(prompt, tokens, generations);
    }
}

/// <summary>The samples' similarity matrix (and, for SAR, their token-ablation similarities) from the configured backend.</summary>
internal sealed class SimilarityStatistic(string name, SampleMethods.BackendFactory backend, bool tokens) : IItemStatistic
{
    public string Name { get; } = name;
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        // The relevance pass computes the matrix too: reuse it when SAR ran first.
        if (!tokens && context.TryGetComputed<SentenceSimilarityResult>(SampleStatisticNames.SampleRelevance, out var withTokens))
            return withTokens with { TokenSimilarity = null };
        var set = context.Get<SampleSet>(SampleStatisticNames.Samples);
        return backend.Compute(context, set.Answers, tokens);
    }
}

/// <summary>Token-ablation similarities of the greedy answer (TokenSAR).</summary>
internal sealed class GreedyRelevanceStatistic(SampleMethods.BackendFactory backend) : IItemStatistic
{
    public string Name => SampleStatisticNames.GreedyRelevance;
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        var greedy = context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
        string prompt = context.Prompts.Answer(context.Item);
        int[] tokens = context.Generator.TokenizePrompt(prompt, GreedyGenerationStatistic.AnswerOptions(context.Settings.AnswerMaxTokens)); // as the greedy answer was prompted
        var (answer, _, _) = SampleSet.Trim(greedy);
        return backend.Compute(context, new AnswerSet(prompt, tokens, [answer]), tokens: true);
    }
}

/// <summary>
/// Inv-Entropy's data (authors' evaluate.py protocol): the question and <see cref="SampleSettings.Paraphrases"/>
/// paraphrases written by the model (sampled together), <see cref="SampleSettings.ResponsesPerInput"/> sampled
/// responses to each, input similarity S^X (each input's similarity repeated over its responses) and output
/// similarity S^Y from the configured backend, then <see cref="InvEntropy.Subsampled"/> (one response per input per
/// draw). The responses are compared as answers to the original question (the hidden-state backend reads them after
/// the original prompt); inputs are compared as continuations of "Question:". GAAP is not wired in here (the
/// algorithm is in <see cref="Gaap"/>).
/// </summary>
internal sealed class InvEntropyStatistic(SampleSettings settings, SampleMethods.BackendFactory backend) : IItemStatistic
{
    public string Name => SampleStatisticNames.InvEntropyWalk;
    public bool AppliesTo(EvaluationItem item) => true;

    /// <summary>
    /// The inputs Inv-Entropy walks over: the question, then <see cref="SampleSettings.Paraphrases"/> perturbations:
    /// the model's paraphrases as they come, or GAAP's most diverse selection from the pool. An empty paraphrase (the
    /// model stopped at once) stands for the question itself.
    /// </summary>
    internal static List<string> PerturbedInputs(string question, IReadOnlyList<string> paraphrases, SampleSettings settings, int seed)
    {
        var pool = paraphrases.Select(p => string.IsNullOrWhiteSpace(p) ? question : p.Trim()).ToList();
        var inputs = new List<string> { question };
        if (settings.Perturbation == InputPerturbation.Gaap)
            inputs.AddRange(Gaap.Select(question, pool, settings.Paraphrases, new RougeLSimilarity(), new GaapOptions(Seed: seed)).Selected);
        else inputs.AddRange(pool.Take(settings.Paraphrases));
        return inputs;
    }

    /// <summary>The instruction the model gets to paraphrase the question.</summary>
    public const string ParaphraseInstruction = "Rewrite the following question in different words, keeping its meaning. Reply with the rewritten question only.";

    public object Compute(StatisticContext context)
    {
        var generator = context.Generator;
        var model = generator.Context.Model;
        string question = context.Item.Question.Trim();
        string body = $"{ParaphraseInstruction}\n\nQuestion: {question}";
        string paraphrasePrompt = context.Settings.UseChatTemplate && model.ChatTemplate is not null
            ? ChatTemplate.Format(model, [ChatMessage.User(body)]) : body + "\nRewritten question:";
        var paraphraseOptions = SampleMethods.SampleOptions(settings, context.Settings, settings.ParaphraseTemperature, maxTokens: 48);
        var paraphrases = generator.Sample(paraphrasePrompt, settings.PerturbationPool, paraphraseOptions, context.CancellationToken);
        var inputs = PerturbedInputs(question, [.. paraphrases.Select(p => p.Text)], settings, unchecked((int)context.Settings.Seed));

        int r = settings.ResponsesPerInput;
        var responses = new List<AnswerTokens>();
        var answerOptions = SampleMethods.SampleOptions(settings, context.Settings, settings.Temperature);
        foreach (string input in inputs)
        {
            var item = context.Item with { Question = input };
            var generations = generator.Sample(context.Prompts.Answer(item), r, answerOptions, context.CancellationToken);
            responses.AddRange(generations.Select(g => SampleSet.Trim(g).Answer));
        }

        var vocab = model.Vocabulary;
        string originalPrompt = context.Prompts.Answer(context.Item);
        int[] originalTokens = generator.TokenizePrompt(originalPrompt, answerOptions);
        var outputs = backend.Compute(context, new AnswerSet(originalPrompt, originalTokens, responses), tokens: false).Matrix;

        int[] questionPrefix = vocab.Tokenize("Question:", addSpecial: true, parseSpecial: false);
        var inputAnswers = inputs.Select(x =>
        {
            int[] ids = vocab.Tokenize(" " + x, addSpecial: false, parseSpecial: false);
            return new AnswerTokens(x, ids, [.. ids.Select(id => vocab.TokenText(id))]);
        }).ToList();
        var inputMatrix = backend.Compute(context, new AnswerSet("Question:", questionPrefix, inputAnswers), tokens: false).Matrix;
        int n = inputs.Count * r;
        var sx = new SquareMatrix(n);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) sx[a, b] = inputMatrix[a / r, b / r];
        return InvEntropy.Subsampled(sx, outputs, r, settings.InvEntropyDraws, seed: unchecked((int)context.Settings.Seed));
    }
}
