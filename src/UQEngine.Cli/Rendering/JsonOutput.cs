using System.Text.Json;
using UQEngine.Inference;
using UQEngine.Uncertainty;

namespace UQEngine.Cli.Rendering;

/// <summary>The --json shapes: snake_case, numbers as numbers, NaN written as null.</summary>
internal static class JsonOutput
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static void Write(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));

    private static double? Num(double x) => double.IsFinite(x) ? x : null;

    public static object Scores(TokenProbabilityScores s) => new
    {
        token_count = s.TokenCount,
        sequence_probability = Num(s.SequenceProbability),
        sequence_logprob = Num(s.SequenceLogProbability),
        mean_logprob = Num(s.MeanLogProbability),
        perplexity = Num(s.Perplexity),
        mean_entropy = Num(s.MeanEntropy),
        max_entropy = Num(s.MaxEntropy),
        min_token_probability = Num(s.MinTokenProbability),
        non_finite_steps = s.NonFiniteStepCount,
    };

    public static object Token(GeneratedToken t) => new
    {
        index = t.Index,
        token_id = t.TokenId,
        text = t.Text,
        logprob = Num(t.LogProbability),
        entropy = Num(t.Entropy),
        rank = t.Rank,
        non_finite_logits = t.HasNonFiniteLogits,
        top_logprobs = t.Alternatives.Select(a => new { token_id = a.TokenId, text = a.Text, logprob = Num(a.LogProbability) }),
    };

    public static object Result(GenerationResult r) => new
    {
        sequence = r.Sequence,
        text = r.Text,
        finish_reason = r.FinishReason.ToString(),
        prompt_tokens = r.PromptTokenCount,
        uncertainty = Scores(r.Uncertainty),
        tokens = r.Tokens.Select(Token),
    };
}
