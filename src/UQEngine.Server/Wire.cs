using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Inference;
using UQEngine.Structured;
using UQEngine.Uncertainty;

namespace UQEngine.Server;

// OpenAI's response shapes, plus UQEngine's additions: "uncertainty" on every choice and "entropy"/"rank" on every
// logprobs entry. Written with snake_case names; nulls are left out except where OpenAI sends an explicit null.

public sealed record ChatCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage? Usage, UncertaintySet? UncertaintySet = null);

public sealed record ChatChoice(
    int Index,
    AssistantMessage Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogprobs? Logprobs,
    string FinishReason,
    SequenceUncertainty Uncertainty);

public sealed record AssistantMessage(string Role, string Content);

public sealed record ChatCompletionChunk(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices, Usage? Usage, UncertaintySet? UncertaintySet = null);

public sealed record ChatChunkChoice(
    int Index,
    ChatDelta Delta,
    ChatLogprobs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason,
    SequenceUncertainty? Uncertainty);

public sealed record ChatDelta(string? Role, string? Content);

public sealed record ChatLogprobs(IReadOnlyList<TokenLogprob> Content);

/// <summary>OpenAI's logprobs entry plus the step's entropy (nats), the chosen token's rank (0 = most likely) and,
/// when the request asked for "probe", the probe's P(correct) of the answer up to this token.</summary>
public sealed record TokenLogprob(string Token, double Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<TopLogprob> TopLogprobs, double? Entropy, int Rank, double? Probe = null);

public sealed record TopLogprob(string Token, double Logprob, IReadOnlyList<int> Bytes);

/// <summary>
/// Sequence-level scores of one choice (from <see cref="TokenProbabilityScores"/>). Null where undefined (no tokens).
/// <paramref name="NonFiniteSteps"/> (absent when 0): steps whose logits held NaN or ±∞, i.e. a broken model; the
/// other numbers then describe no real distribution (a NaN step reads as uniform) and must not be trusted.
/// </summary>
public sealed record SequenceUncertainty(
    int TokenCount,
    double SequenceProbability,
    double? SequenceLogprob,
    double? MeanLogprob,
    double? Perplexity,
    double? MeanEntropy,
    double? MaxEntropy,
    double MinTokenProbability,
    double? ProbeConfidence = null,
    int? NonFiniteSteps = null)
{
    /// <summary>Under response_format json_*: the sequence log-prob over the constrained (renormalised) token probabilities; the fields above stay raw.</summary>
    public double? ConstrainedSequenceLogprob { get; init; }
    /// <summary>Under response_format json_*: one entry per leaf value of the answer, in text order.</summary>
    public IReadOnlyList<FieldUncertainty>? Fields { get; init; }
    /// <summary>When the request asked for "lora_query": the LoRA query adapter's reading of this choice.</summary>
    public LoraQueryValue? LoraQuery { get; init; }
}

/// <summary>
/// The LoRA query adapter's reading of one choice (UQEngine.Inference.LoraQuery): Platt-calibrated P(correct), the
/// yes−no logit margin it is computed from, the query tokens decoded, and the query's wall time (re-decode of
/// prompt + answer on the query context, then the query turn).
/// </summary>
public sealed record LoraQueryValue(double Confidence, double Margin, int QueryTokens, double ElapsedMs);

/// <summary>
/// One JSON field of a structured answer (see UQEngine.Structured.JsonFieldUncertainty): its pointer, value, the
/// raw and constrained log-probabilities of the tokens that wrote it, their mean entropy, the raw probability mass
/// the model put on grammar-allowed tokens, and with n &gt; 1 the fraction of choices agreeing on it.
/// </summary>
public sealed record FieldUncertainty(
    string Pointer,
    string Value,
    int TokenCount,
    double Probability,
    double? Logprob,
    double? MinLogprob,
    double? MeanLogprob,
    double? ConstrainedLogprob,
    double? ConstrainedMinLogprob,
    double? ConstrainedMeanLogprob,
    double? MeanEntropy,
    double? AllowedMass,
    double? MinAllowedMass,
    double? Agreement);

/// <summary>
/// Response-level uncertainty over the request's n choices. <see cref="Methods"/> holds every asked method by its
/// catalog name; <see cref="Legacy"/> repeats each method's uncertainty as a flat field ("semantic_entropy": 1.2),
/// the 0.1 shape, kept for one release (deprecated).
/// </summary>
public sealed record UncertaintySet(string Backend, int N, double? ClusterThreshold, double? SarTemperature, IReadOnlyDictionary<string, MethodValue> Methods)
{
    [JsonExtensionData]
    public IDictionary<string, object?>? Legacy { get; init; }
}

/// <summary>One method's value: null uncertainty with <see cref="Error"/> when it is not defined for these choices.</summary>
public sealed record MethodValue(double? Uncertainty, double? Confidence = null, string? Detail = null, string? Error = null);

public sealed record TextCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<TextChoice> Choices, Usage? Usage, UncertaintySet? UncertaintySet = null);

public sealed record TextChoice(
    int Index,
    string Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] TextLogprobs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason,
    SequenceUncertainty? Uncertainty);

/// <summary>The legacy completions logprobs (parallel arrays), with token_entropies and token_ranks alongside.</summary>
public sealed record TextLogprobs(
    IReadOnlyList<string> Tokens,
    IReadOnlyList<double> TokenLogprobs,
    IReadOnlyList<Dictionary<string, double>> TopLogprobs,
    IReadOnlyList<int> TextOffset,
    IReadOnlyList<double?> TokenEntropies,
    IReadOnlyList<int> TokenRanks,
    IReadOnlyList<double>? TokenProbes = null);

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);

/// <summary>Conversions from the library's results to the wire records.</summary>
internal static class Wire
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>OpenAI reports -9999 for a log-probability too small to represent; JSON has no -Infinity.</summary>
    public static double Logprob(float value) => float.IsFinite(value) ? value : -9999.0;

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    public static string FinishReasonName(FinishReason reason) => reason switch
    {
        FinishReason.EndOfGeneration or FinishReason.Stop => "stop",
        _ => "length", // Length and ContextFull: the budget ran out, as OpenAI reports both
    };

    public static SequenceUncertainty Uncertainty(TokenProbabilityScores scores, double? probeConfidence = null) => new(
        scores.TokenCount,
        scores.TokenCount == 0 ? 1.0 : Finite(scores.SequenceProbability) ?? 0.0,
        scores.TokenCount == 0 ? null : Finite(scores.SequenceLogProbability),
        scores.TokenCount == 0 ? null : Finite(scores.MeanLogProbability),
        scores.TokenCount == 0 ? null : Finite(scores.Perplexity),
        scores.TokenCount == 0 ? null : Finite(scores.MeanEntropy),
        scores.TokenCount == 0 ? null : Finite(scores.MaxEntropy),
        Finite(scores.MinTokenProbability) ?? 0.0,
        probeConfidence,
        scores.NonFiniteStepCount > 0 ? scores.NonFiniteStepCount : null);

    /// <summary>Adds the structured-output parts (constrained score, fields) when the choice was generated under a grammar.</summary>
    public static SequenceUncertainty Structured(SequenceUncertainty uncertainty, GenerationResult result, IReadOnlyList<JsonFieldUncertainty>? fields) =>
        fields is null ? uncertainty : uncertainty with
        {
            ConstrainedSequenceLogprob = result.ConstrainedUncertainty is { TokenCount: > 0 } c ? Finite(c.SequenceLogProbability) : null,
            Fields = [.. fields.Select(f => new FieldUncertainty(f.Pointer, f.Value, f.TokenCount, Finite(f.Probability) ?? 0.0,
                Finite(f.LogProbability), Finite(f.MinLogProbability), Finite(f.MeanLogProbability),
                Finite(f.ConstrainedLogProbability), Finite(f.ConstrainedMinLogProbability), Finite(f.ConstrainedMeanLogProbability),
                Finite(f.MeanEntropy), Finite(f.MeanAllowedMass), Finite(f.MinAllowedMass), f.Agreement))],
        };

    public static TokenLogprob ChatEntry(GeneratedToken token, double? probe = null) => new(
        token.Text,
        Logprob(token.LogProbability),
        Bytes(token.Text),
        [.. token.Alternatives.Select(a => new TopLogprob(a.Text, Logprob(a.LogProbability), Bytes(a.Text)))],
        float.IsFinite(token.Entropy) ? token.Entropy : null,
        token.Rank,
        probe);

    public static TextLogprobs TextEntries(IReadOnlyList<GeneratedToken> tokens, IReadOnlyList<double>? probes = null)
    {
        var offsets = new List<int>(tokens.Count);
        int offset = 0;
        foreach (var t in tokens) { offsets.Add(offset); offset += t.Text.Length; }
        return new TextLogprobs(
            [.. tokens.Select(t => t.Text)],
            [.. tokens.Select(t => Logprob(t.LogProbability))],
            [.. tokens.Select(t => t.Alternatives.GroupBy(a => a.Text).ToDictionary(g => g.Key, g => Logprob(g.First().LogProbability)))],
            offsets,
            [.. tokens.Select(t => float.IsFinite(t.Entropy) ? (double?)t.Entropy : null)],
            [.. tokens.Select(t => t.Rank)],
            probes);
    }

    /// <summary>Adds the LoRA query's reading, when there is one.</summary>
    public static SequenceUncertainty WithLoraQuery(SequenceUncertainty uncertainty, LoraQueryReading? reading) =>
        reading is null ? uncertainty : uncertainty with { LoraQuery = new LoraQueryValue(reading.Confidence, reading.Logit, reading.QueryTokens, reading.Milliseconds) };

    private static int[] Bytes(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];
}
