using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Probes;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Server;

/// <summary>
/// The request field "uncertainty": which methods beyond the always-on token-probability scores a request wants.
/// Accepted as {"methods": [...]} or as a plain array of names. The names are the catalog's (<see cref="MethodCatalog"/>):
/// every method whose statistics a request's n choices give, the probe when one is loaded, and "token_probability".
/// </summary>
public static class UncertaintyMethods
{
    /// <summary>Always computed; naming it is allowed and changes nothing.</summary>
    public const string TokenProbability = "token_probability";
    /// <summary>The loaded probe (uqengine serve --probe FILE), per token and per answer.</summary>
    public const string Probe = ProbeMethod.MethodName;
    /// <summary>The loaded LoRA query adapter (uqengine serve --lora-query FILE), per choice.</summary>
    public const string LoraQuery = LoraQueryMethod.MethodName;

    /// <summary>The similarity the choices are compared with, as the response names it.</summary>
    public const string Backend = "rouge_l";

    /// <summary>What a request's n choices give without extra decoding (<see cref="SampleSetStatistics"/>).</summary>
    public static IReadOnlySet<string> ChoiceStatistics => SampleSetStatistics.Names;

    /// <summary>The catalog's methods over the n choices.</summary>
    public static readonly IReadOnlyList<string> Consistency = [.. MethodCatalog.Default.ComputableFrom(ChoiceStatistics).Select(m => m.Descriptor.Name)];

    public static readonly IReadOnlyList<string> All = [TokenProbability, Probe, LoraQuery, .. Consistency];

    /// <summary>Reads the field; every bad case is a 400 naming the method and why.</summary>
    internal static IReadOnlySet<string> Parse(JsonElement root, int n, bool probeLoaded, bool loraQueryLoaded = false)
    {
        if (!root.TryGetProperty("uncertainty", out var field) || field.ValueKind == JsonValueKind.Null) return new HashSet<string>();
        JsonElement list = field;
        string where = "uncertainty";
        if (field.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in field.EnumerateObject())
                if (property.Name != "methods")
                    throw ApiErrorException.Invalid($"'uncertainty' has an unknown key '{Truncate(property.Name)}'; it takes {{\"methods\": [...]}}", "uncertainty");
            if (!field.TryGetProperty("methods", out list) || list.ValueKind == JsonValueKind.Null) return new HashSet<string>();
            where = "uncertainty.methods";
        }
        if (list.ValueKind != JsonValueKind.Array)
            throw ApiErrorException.Invalid($"'{where}' must be an array of method names or {{\"methods\": [...]}}", where, "invalid_type");

        var methods = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw ApiErrorException.Invalid($"'{where}' must hold method names (strings)", where, "invalid_type");
            string name = item.GetString()!;
            if (!All.Contains(name))
                throw ApiErrorException.Invalid($"unknown uncertainty method '{Truncate(name)}'; this server accepts: {string.Join(", ", All)}", where, "unknown_uncertainty_method");
            if (name == Probe && !probeLoaded)
                throw ApiErrorException.Invalid("uncertainty method 'probe' needs a probe file, and this server has none loaded (start it with uqengine serve --probe FILE)", where, "probe_not_loaded");
            if (name == LoraQuery && !loraQueryLoaded)
                throw ApiErrorException.Invalid("uncertainty method 'lora_query' needs a LoRA query adapter, and this server has none loaded (start it with uqengine serve --lora-query FILE)", where, "lora_query_not_loaded");
            if (Consistency.Contains(name) && n < 2)
                throw ApiErrorException.Invalid($"uncertainty method '{name}' compares the request's choices and needs n >= 2 (n = {n})", where, "n_too_small");
            methods.Add(name);
        }
        return methods;
    }

    /// <summary>
    /// The asked consistency methods over the finished choices, by the catalog's estimators at the library's default
    /// settings: ROUGE-L F1 similarity of the choices' texts (or the cosine of <paramref name="embedding"/>'s sentence
    /// embeddings, which then also give SAR's token relevance); likelihoods from each choice's "sequence_logprob" (every
    /// decoded step, as reported); SAR's token log-probabilities from the tokens that reach into the text. A method
    /// with no finite value for these choices is null with the reason (<see cref="SampleSetStatistics.Estimate"/>).
    /// Null when none was asked.
    /// </summary>
    internal static UncertaintySet? ComputeSet(IReadOnlySet<string> methods, IReadOnlyList<GenerationResult> results, ChoiceSimilarity? embedding = null)
    {
        var asked = MethodCatalog.Default.ComputableFrom(ChoiceStatistics).Where(m => methods.Contains(m.Descriptor.Name)).ToList();
        if (asked.Count == 0) return null;
        var trimmed = results.Select(SampleSet.Trim).ToList();
        var answers = new AnswerSet("", [], [.. trimmed.Select(t => t.Answer)]);
        var samples = new SampleSet(answers, results, [.. trimmed.Select(t => t.TokenLogProbabilities)], [.. results.Select(r => r.Uncertainty.SequenceLogProbability)]);
        var statistics = SampleSetStatistics.Fill(Request, samples, embedding, embedding);
        var settings = new SampleSettings();
        var values = new Dictionary<string, MethodValue>(StringComparer.Ordinal);
        foreach (var m in asked)
        {
            var o = SampleSetStatistics.Estimate(m, statistics, settings);
            values[m.Descriptor.Name] = new MethodValue(o.Uncertainty, o.Confidence, o.Detail, o.Error);
        }
        bool threshold = asked.Any(m => m.Descriptor.Settings.Contains(SampleSettings.ClusterThresholdKey));
        bool temperature = asked.Any(m => m.Descriptor.Settings.Contains(SampleSettings.SarTemperatureKey));
        return new UncertaintySet(embedding?.Name ?? Backend, results.Count, threshold ? settings.ClusterThreshold : null, temperature ? settings.SarTemperature : null, values)
        {
            Legacy = values.ToDictionary(v => v.Key, v => (object?)v.Value.Uncertainty),
        };
    }

    /// <summary>The item a request's choices answer (the methods read only the choices).</summary>
    private static readonly EvaluationItem Request = new() { Id = "request", Question = "", Kind = EvaluationItemKind.OpenAnswer, Answer = "" };

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}

/// <summary>
/// The server's embedding backend for a request's choices: one embedder shared by every request, called by one at a
/// time (an embedder need not be thread-safe), through the harness's <see cref="TextEmbeddingSimilarity"/>.
/// </summary>
internal sealed class ChoiceSimilarity(ITextEmbedder embedder, string name) : ISentenceSimilarity
{
    private readonly Lock _gate = new();
    private readonly TextEmbeddingSimilarity _backend = new(embedder, name: name);

    public string Name { get; } = name;

    public SentenceSimilarityResult Compute(AnswerSet answers, bool tokenSimilarity, CancellationToken cancellationToken = default)
    {
        lock (_gate) return _backend.Compute(answers, tokenSimilarity, cancellationToken);
    }
}
