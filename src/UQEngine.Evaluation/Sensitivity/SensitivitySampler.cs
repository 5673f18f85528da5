using UQEngine.Methods.Samples.Similarity;
using System.Text;
using System.Text.Json;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Grading;
using UQEngine.Inference;
using UQEngine.Methods;

namespace UQEngine.Evaluation.Sensitivity;

/// <summary>
/// Makes the cache the sensitivity report re-scores: per item, the greedy answer graded as <c>uqengine eval</c> grades
/// it (open answers: exact match; multiple choice: the letter in the answer), and at every temperature of the
/// grid K_max samples (one batch) with their likelihoods and the backend's similarity matrix. Lines are appended
/// to <c>samples.jsonl</c> as items finish; a rerun with the same settings (<c>sensitivity-run.json</c>) reuses them,
/// so a new grid of thresholds or K ≤ K_max costs no generation.
/// </summary>
public sealed class SensitivitySampler
{
    private readonly Generator? _generator;
    private readonly ITextEmbedder? _embedder;
    private readonly Func<SampleSettings, UncertaintyMethodRegistry>? _registryFor;

    /// <summary>Samples with a local model (the similarity backend's embedder, when it needs one).</summary>
    public SensitivitySampler(Generator generator, ITextEmbedder? embedder = null)
    {
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));
        _embedder = embedder;
    }

    /// <summary>
    /// Samples with no local model (a remote endpoint): <paramref name="registryFor"/> gives, for the settings of
    /// one temperature, a registry whose greedy answer, samples and similarity need no generator.
    /// </summary>
    public SensitivitySampler(Func<SampleSettings, UncertaintyMethodRegistry> registryFor) =>
        _registryFor = registryFor ?? throw new ArgumentNullException(nameof(registryFor));

    public const string SamplesFile = "samples.jsonl";
    public const string RunFile = "sensitivity-run.json";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The items (from the cache where present, otherwise sampled now and appended).</summary>
    public IReadOnlyList<SensitivityItem> Collect(EvaluationDataset dataset, string folder, IReadOnlyList<double> temperatures, int maxSamples, SampleSettings settings, StatisticSettings run, IReadOnlyDictionary<string, string> identity, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(folder);
        var key = new SortedDictionary<string, string>(identity.ToDictionary(), StringComparer.Ordinal)
        {
            ["temperatures"] = string.Join(",", temperatures.Order().Select(t => t.ToString("R", System.Globalization.CultureInfo.InvariantCulture))),
            ["max_samples"] = maxSamples.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["similarity"] = settings.Similarity.ToString(),
            ["embedding_model"] = settings.EmbeddingModel ?? "",
            ["answer_max_tokens"] = (settings.MaxTokens ?? run.AnswerMaxTokens).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["seed"] = run.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["chat_template"] = run.UseChatTemplate ? "true" : "false",
        };
        string runPath = Path.Combine(folder, RunFile), samplesPath = Path.Combine(folder, SamplesFile);
        string keyJson = JsonSerializer.Serialize(key, new JsonSerializerOptions { WriteIndented = true });
        var cached = new Dictionary<string, SensitivityItem>(StringComparer.Ordinal);
        if (File.Exists(runPath) && File.Exists(samplesPath))
        {
            if (File.ReadAllText(runPath) != keyJson)
                throw new InvalidOperationException($"'{folder}' holds samples made with other settings ({runPath}); pick another --out folder or delete it");
            string text = File.ReadAllText(samplesPath);
            int end = text.LastIndexOf('\n') + 1; // a torn last line is dropped and recomputed
            if (end < text.Length) File.WriteAllText(samplesPath, text[..end], new UTF8Encoding(false));
            foreach (string line in text[..end].Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var item = JsonSerializer.Deserialize<SensitivityItem>(line, Json) ?? throw new InvalidOperationException($"{samplesPath}: an empty line");
                cached[item.Id] = item;
            }
        }
        else File.WriteAllText(runPath, keyJson);

        var prompts = new ItemPrompts(_generator?.Context.Model, run.UseChatTemplate);
        var result = new List<SensitivityItem>();
        using var writer = new StreamWriter(samplesPath, append: true, new UTF8Encoding(false));
        foreach (var item in dataset.Items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!cached.TryGetValue(item.Id, out var done))
            {
                done = Sample(item, prompts, temperatures, maxSamples, settings, run, cancellationToken);
                writer.Write(JsonSerializer.Serialize(done, Json));
                writer.Write('\n');
                writer.Flush();
            }
            result.Add(done);
            progress?.Report(result.Count);
        }
        return result;
    }

    private SensitivityItem Sample(EvaluationItem item, ItemPrompts prompts, IReadOnlyList<double> temperatures, int maxSamples, SampleSettings settings, StatisticSettings run, CancellationToken cancellationToken)
    {
        var registry = _registryFor?.Invoke(settings) ?? UncertaintyMethodRegistry.CreateDefault();
        StatisticContext Context() => _generator is null
            ? new StatisticContext(item, prompts, run, registry.Statistics, cancellationToken)
            : new StatisticContext(item, _generator, prompts, run, registry.Statistics, cancellationToken);
        var greedyContext = Context();
        string response = greedyContext.Get<GenerationResult>(StatisticNames.GreedyGeneration).Text;
        bool correct = item.Kind == EvaluationItemKind.MultipleChoice
            ? ChoiceLetterExtractor.Extract(response, item.Options.Count, item.Options)?.ToString() == item.Answer
            : OpenAnswerGrader.ExactMatch(OpenAnswerGrader.ExtractAnswer(response), item.AcceptedAnswers());

        var samples = new List<CachedSamples>();
        foreach (double t in temperatures.Order())
        {
            // The statistics take their settings at registration: register them anew for each temperature.
            var at = settings with { Samples = maxSamples, Temperature = (float)t };
            if (_registryFor is null) SampleMethods.Register(registry, at, _embedder);
            else registry = _registryFor(at);
            var context = Context();
            var set = context.Get<SampleSet>(SampleStatisticNames.Samples);
            var matrix = context.Get<SentenceSimilarityResult>(SampleStatisticNames.SampleSimilarity).Matrix;
            var rows = new double[matrix.Size][];
            for (int i = 0; i < rows.Length; i++) rows[i] = matrix.Row(i).ToArray();
            samples.Add(new CachedSamples(t, [.. set.Texts], set.LogLikelihoods, rows));
        }
        return new SensitivityItem(item.Id, correct, response, samples);
    }
}
