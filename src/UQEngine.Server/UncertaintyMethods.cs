using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

namespace UQEngine.Server;

/// <summary>
/// The request field "uncertainty": which methods beyond the always-on token-probability scores a request wants.
/// Accepted as {"methods": [...]} or as a plain array of names.
/// </summary>
internal static class UncertaintyMethods
{
    /// <summary>Always computed; naming it is allowed and changes nothing.</summary>
    public const string TokenProbability = "token_probability";
    /// <summary>The loaded probe (uqengine serve --probe FILE), per token and per answer.</summary>
    public const string Probe = "probe";

    /// <summary>
    /// Consistency over the request's n choices (no extra decoding), from ROUGE-L and the choices' log-likelihoods;
    /// SAR's token relevance is lexical here (ROUGE-L of a choice against itself without the token's characters).
    /// </summary>
    public static readonly IReadOnlyList<string> Consistency =
        ["semantic_entropy", "num_sem_sets", "eigv_laplacian", "degmat", "eccentricity", "lexical_similarity", "sentence_sar", "sar"];

    public static readonly IReadOnlyList<string> All = [TokenProbability, Probe, .. Consistency];

    /// <summary>Reads the field; every bad case is a 400 naming the method and why.</summary>
    public static IReadOnlySet<string> Parse(JsonElement root, int n, bool probeLoaded)
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
            if (Consistency.Contains(name) && n < 2)
                throw ApiErrorException.Invalid($"uncertainty method '{name}' compares the request's choices and needs n >= 2 (n = {n})", where, "n_too_small");
            methods.Add(name);
        }
        return methods;
    }

    /// <summary>
    /// The asked consistency methods over the finished choices, by the library's estimators: ROUGE-L F1 similarity
    /// of the choices' texts; class likelihoods from each choice's sequence log-probability (its "sequence_logprob");
    /// the library's default cluster and eccentricity thresholds. Null when none was asked.
    /// </summary>
    public static UncertaintySet? ComputeSet(IReadOnlySet<string> methods, IReadOnlyList<GenerationResult> results)
    {
        if (!Consistency.Any(methods.Contains)) return null;
        string[] texts = [.. results.Select(r => r.Text)];
        var similarity = SimilarityMatrix.Build(new RougeLSimilarity(), texts);
        double[] logLikelihoods = [.. results.Select(r => r.Uncertainty.SequenceLogProbability)];
        bool clusters = methods.Contains("semantic_entropy") || methods.Contains("num_sem_sets");
        double? semanticEntropy = null;
        // A -inf log-likelihood (a token of probability 0) has no entropy to report rather than a failed request.
        if (methods.Contains("semantic_entropy") && logLikelihoods.All(double.IsFinite))
            semanticEntropy = SemanticEntropy.Compute(logLikelihoods, SemanticClusters.Greedy(similarity, SemanticSets.DefaultSimilarityThreshold));
        bool sarAsked = methods.Contains("sar") || methods.Contains("sentence_sar");
        double? sentenceSar = null, sar = null;
        if (methods.Contains("sentence_sar") && logLikelihoods.All(double.IsFinite))
            sentenceSar = Sar.SentenceSar(logLikelihoods, similarity, Sar.DefaultTemperature);
        if (methods.Contains("sar"))
        {
            // As the harness's sar with --similarity rouge-l: each choice's kept tokens and their log-probabilities.
            var trimmed = results.Select(SampleSet.Trim).ToList();
            var answers = new AnswerSet("", [], [.. trimmed.Select(t => t.Answer)]);
            var relevance = new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l").Compute(answers, tokenSimilarity: true);
            var tokenSimilarity = relevance.TokenSimilarity!.Select(row => { Sar.ApplyTokenConventions(row, []); return row; }).ToList();
            var tokenLogProbabilities = trimmed.Select(t => t.TokenLogProbabilities).ToList();
            if (tokenLogProbabilities.All(row => row.All(double.IsFinite)))
                sar = Sar.Compute(tokenLogProbabilities, tokenSimilarity, similarity, Sar.DefaultTemperature);
        }
        return new UncertaintySet(
            "rouge_l",
            results.Count,
            clusters ? SemanticSets.DefaultSimilarityThreshold : null,
            semanticEntropy,
            methods.Contains("num_sem_sets") ? SemanticSets.Count(similarity, SemanticSets.DefaultSimilarityThreshold) : null,
            methods.Contains("eigv_laplacian") ? GraphUncertainty.EigValLaplacian(similarity) : null,
            methods.Contains("degmat") ? GraphUncertainty.DegreeMatrix(similarity) : null,
            methods.Contains("eccentricity") ? GraphUncertainty.Eccentricity(similarity, GraphUncertainty.DefaultEccentricityThreshold) : null,
            methods.Contains("lexical_similarity") ? LexicalSimilarity.Compute(similarity) + 0.0 : null, // + 0.0: no overlap is 0, not -0
            sarAsked ? Sar.DefaultTemperature : null,
            sentenceSar,
            sar);
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
