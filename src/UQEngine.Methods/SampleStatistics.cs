using UQEngine.Methods.Samples.LinearAlgebra;
using System.Globalization;
using UQEngine.Inference;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Methods;

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

    /// <summary>Samples known by their texts and likelihoods alone (a cache; no tokens, so no token relevance).</summary>
    public static SampleSet FromTexts(IReadOnlyList<string> texts, double[] logLikelihoods)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(logLikelihoods);
        if (texts.Count != logLikelihoods.Length) throw new ArgumentException($"{texts.Count} texts but {logLikelihoods.Length} likelihoods");
        var answers = texts.Select(t => new AnswerTokens(t, [], [])).ToList();
        return new SampleSet(new AnswerSet("", [], answers), [], [.. texts.Select(_ => Array.Empty<double>())], logLikelihoods);
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

    /// <summary>Every statistic above: a method reading any of them needs a context set up for samples.</summary>
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Samples, SampleSimilarity, SampleRelevance, GreedyRelevance, InvEntropyWalk };
}

/// <summary>
/// The statistics of the sample-consistency methods (samples, similarity matrices, token relevance, the Inv-Entropy
/// walk). <see cref="Register"/> adds them to a registry with given settings and binds the registry's methods to
/// those settings (re-registering replaces the previous ones). The methods themselves are SampleConsistencyMethods.cs.
/// </summary>
public static class SampleMethods
{
    /// <param name="registry">Where to add them.</param>
    /// <param name="settings">Hyperparameters (validated here).</param>
    /// <param name="embedder">The text embedder of <see cref="SimilarityBackend.Embedding"/> (the GGUF model) or <see cref="SimilarityBackend.MiniLm"/> (owned by the caller).</param>
    public static void Register(UncertaintyMethodRegistry registry, SampleSettings settings, ITextEmbedder? embedder = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(settings);
        if (!settings.NeedsTextEmbedder || embedder is null) settings.Validate();
        else (settings with { EmbeddingModel = settings.EmbeddingModel ?? "(given)" }).Validate();
        var backend = new BackendFactory(settings, embedder);

        registry.Register(new SamplesStatistic(settings));
        registry.Register(new SimilarityStatistic(SampleStatisticNames.SampleSimilarity, backend, tokens: false));
        registry.Register(new SimilarityStatistic(SampleStatisticNames.SampleRelevance, backend, tokens: true));
        registry.Register(new GreedyRelevanceStatistic(backend));
        registry.Register(new InvEntropyStatistic(settings, backend));

        registry.Settings = settings;
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
                case SimilarityBackend.MiniLm:
                    e = embedder ?? throw new InvalidOperationException("the minilm similarity backend has no embedder (the host passes UQEngine.MiniLM's MiniLmEmbedder to SampleMethods.Register)");
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

/// <summary>K samples of the answer prompt, decoded together (Generator.Sample: one llama_decode per step, the prompt's KV shared).</summary>
internal sealed class SamplesStatistic(SampleSettings settings) : IItemStatistic
{
    public string Name => SampleStatisticNames.Samples;
    public IReadOnlyList<string> Dependencies => [];
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
    public IReadOnlyList<string> Dependencies { get; } = [SampleStatisticNames.Samples];
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
    public IReadOnlyList<string> Dependencies { get; } = [StatisticNames.GreedyGeneration];
    public bool AppliesTo(EvaluationItem item) => true;

    public object Compute(StatisticContext context)
    {
        var greedy = context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
        string prompt = context.Prompts.Answer(context.Item);
        // As the greedy answer was prompted; only the hidden-state backend reads them, and it needs a local model anyway.
        int[] tokens = context.HasGenerator ? context.Generator.TokenizePrompt(prompt, GreedyGenerationStatistic.AnswerOptions(context.Settings.AnswerMaxTokens)) : [];
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
    public IReadOnlyList<string> Dependencies => [];
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
