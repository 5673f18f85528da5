using System.Diagnostics;
using UQEngine.Gguf;
using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>What a <see cref="LoraQuery"/> read for one answer.</summary>
/// <param name="Confidence">Platt-calibrated P(correct) = σ(a·logit + b).</param>
/// <param name="Logit">logit(yes) − logit(no) at the query's answer position, under the adapter.</param>
/// <param name="QueryTokens">Tokens decoded with the adapter on (the query turn).</param>
/// <param name="ReusedCache">True when the question + answer cells of the generation were reused; false when they had to be decoded again.</param>
/// <param name="Milliseconds">Wall time of the query (adapter on, decode, adapter off, cells removed).</param>
public sealed record LoraQueryReading(double Confidence, double Logit, int QueryTokens, bool ReusedCache, double Milliseconds);

/// <summary>
/// The "LoRA + prompt" uncertainty query: after the base model answered, a fixed query turn ("Is the proposed answer
/// correct?") is appended and read with a LoRA adapter on; P(yes) against P(no) at the reply position is the
/// confidence. The adapter acts only on the query's tokens (activated LoRA: its invocation tokens are the query
/// turn), so the base model's cells for question + answer are reused as they are; the query's own cells are removed
/// afterwards and the adapter is unset, so the next generation sees the base model and the same cache.
/// The adapter file carries the query text, the yes/no tokens, Platt's a and b, and the SHA-256 of the base model
/// file it was trained on (<see cref="MetadataPrefix"/> keys).
/// </summary>
public sealed class LoraQuery : IDisposable
{
    public const string MetadataPrefix = "uqengine.lora_query.";
    public const string BaseSha256Key = MetadataPrefix + "base_sha256", BaseFileKey = MetadataPrefix + "base_file";
    public const string SuffixKey = MetadataPrefix + "suffix", YesTokenKey = MetadataPrefix + "yes_token", NoTokenKey = MetadataPrefix + "no_token";
    public const string PlattAKey = MetadataPrefix + "platt_a", PlattBKey = MetadataPrefix + "platt_b";

    /// <summary>The fixed question of the query turn (what the trainer writes by default).</summary>
    public const string DefaultQuestion = "Is the proposed answer correct? Reply yes or no.";

    private LoraQuery(LoraAdapter adapter, string suffix, int[] suffixTokens, int yes, int no, double plattA, double plattB)
    {
        Adapter = adapter; Suffix = suffix; SuffixTokens = suffixTokens; YesToken = yes; NoToken = no; PlattA = plattA; PlattB = plattB;
    }

    public LoraAdapter Adapter { get; }

    /// <summary>The text appended after the answer (the end of the assistant turn, the query turn, the reply prefix).</summary>
    public string Suffix { get; }
    public IReadOnlyList<int> SuffixTokens { get; }
    public int YesToken { get; }
    public int NoToken { get; }
    public double PlattA { get; }
    public double PlattB { get; }

    /// <summary>
    /// Loads a query adapter on <paramref name="model"/>. Refuses, naming both files, an adapter trained on another
    /// base model (its recorded SHA-256 differs from the model file's), and a file without the query metadata.
    /// </summary>
    public static LoraQuery Load(LlamaModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"LoRA query adapter '{path}' does not exist.", path);
        var meta = GgufFile.Read(path).Metadata;
        string Text(string key) => meta.TryGetValue(key, out var v) && v.Type == GgufValueType.String ? v.AsString()
            : throw new InferenceException($"'{path}' is not a LoRA query adapter: metadata '{key}' is missing (train one with lora-query-train)");
        double Number(string key) => meta.TryGetValue(key, out var v) && v.TryConvertToDouble(out double d) && double.IsFinite(d) ? d
            : throw new InferenceException($"'{path}' is not a LoRA query adapter: metadata '{key}' is missing or not a finite number");
        string expected = Text(BaseSha256Key);
        string actual = ModelFiles.Sha256(model.Path);
        if (!string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
            throw new InferenceException($"the LoRA query adapter '{path}' was trained on {Text(BaseFileKey)} (sha256 {expected[..Math.Min(12, expected.Length)]}…), not on '{model.Path}' (sha256 {actual[..12]}…); train one for this model");
        string suffix = Text(SuffixKey);
        int yes = checked((int)Number(YesTokenKey)), no = checked((int)Number(NoTokenKey));
        if (!model.Vocabulary.IsValid(yes) || !model.Vocabulary.IsValid(no) || yes == no)
            throw new InferenceException($"'{path}': yes/no tokens {yes}/{no} are not two tokens of '{model.Path}'");
        int[] suffixTokens = model.Vocabulary.Tokenize(suffix, addSpecial: false, parseSpecial: true);
        if (suffixTokens.Length == 0) throw new InferenceException($"'{path}': the query text is empty");
        double a = Number(PlattAKey), b = Number(PlattBKey);
        var adapter = LoraAdapter.Load(model, path);
        return new LoraQuery(adapter, suffix, suffixTokens, yes, no, a, b);
    }

    /// <summary>
    /// The text that follows an answer in the model's chat template up to the reply to <paramref name="question"/>:
    /// the end of the assistant turn, the user's question, the assistant prefix. Null when the model has no template
    /// (the raw-prompt form then is "\n" + question + "\nReply:").
    /// </summary>
    public static string QuerySuffix(LlamaModel model, string question = DefaultQuestion, bool useChatTemplate = true)
    {
        if (!useChatTemplate || model.ChatTemplate is null) return $"\n{question}\nReply:";
        const string q = "\u0001question\u0001", a = "\u0001answer\u0001";
        string prefix = ChatTemplate.Format(model, [ChatMessage.User(q)]) + a;
        string full = ChatTemplate.Format(model, [ChatMessage.User(q), ChatMessage.Assistant(a), ChatMessage.User(question)]);
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
            throw new InferenceException($"the chat template of '{model.Path}' does not continue an answered prompt verbatim; a query suffix cannot be derived");
        return full[prefix.Length..];
    }

    /// <summary>
    /// Reads the adapter's P(correct) for <paramref name="answer"/>, which <paramref name="generator"/> just generated
    /// for <paramref name="prompt"/> (sequence 0 of its context). When the generation's cells are still current they
    /// are reused and only the query is decoded; otherwise prompt + answer text are decoded first (base model).
    /// The context's adapter is unset and the query's cells removed before this returns, also on failure.
    /// </summary>
    public LoraQueryReading Ask(Generator generator, string prompt, GenerationResult answer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(answer);
        var context = generator.Context;
        if (!ReferenceEquals(context.Model, Adapter.Model)) throw new ArgumentException("the generator's model is not the one this adapter was loaded on", nameof(generator));
        long start = Stopwatch.GetTimestamp();
        bool reused = answer.Cache is { IsCurrent: true } c && ReferenceEquals(c.Context, context) && c.Sequence == 0;
        if (!reused) return Ask(generator, context.Model.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial: true), answer.Text, cancellationToken);
        var reading = AskAt(context, answer.Cache!.PromptLength + answer.Cache.DecodedTokens.Length, cancellationToken);
        return reading with { Milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds };
    }

    /// <summary>
    /// The query for <paramref name="answerText"/> after <paramref name="promptTokens"/>, decoded afresh into
    /// sequence 0 of <paramref name="generator"/>'s context (base model), then the query turn with the adapter on.
    /// What <see cref="Ask(Generator, string, GenerationResult, CancellationToken)"/> does when the answer's cells are
    /// gone, and what the server does on its query context (its batcher's cells belong to the decode thread).
    /// The answer text is tokenized without special tokens, as the trainer saw it.
    /// </summary>
    public LoraQueryReading Ask(Generator generator, ReadOnlySpan<int> promptTokens, string answerText, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(answerText);
        var context = generator.Context;
        if (!ReferenceEquals(context.Model, Adapter.Model)) throw new ArgumentException("the generator's model is not the one this adapter was loaded on", nameof(generator));
        long start = Stopwatch.GetTimestamp();
        int[] tokens = [.. promptTokens, .. context.Model.Vocabulary.Tokenize(answerText, addSpecial: false, parseSpecial: false)];
        generator.Prefill(tokens, cancellationToken);
        var reading = AskAt(context, tokens.Length, cancellationToken);
        return reading with { ReusedCache = false, Milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds };
    }

    /// <summary>
    /// The query after the cells at positions 0..<paramref name="position"/>−1 of sequence 0 (question + answer,
    /// computed by the base model): decodes the query turn with the adapter on, reads the margin, then unsets the
    /// adapter and removes the query's cells (also on failure), so sequence 0 holds what it held before.
    /// </summary>
    public LoraQueryReading AskAt(LlamaContext context, int position, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (position < 1) throw new ArgumentOutOfRangeException(nameof(position), position, "the query follows at least one cached token");
        if (position + SuffixTokens.Count > context.ContextSize)
            throw new InferenceException($"the query needs {position + SuffixTokens.Count} positions but the context holds {context.ContextSize}");
        long start = Stopwatch.GetTimestamp();
        double logit;
        context.SetAdapter(Adapter);
        try
        {
            using var batch = new LlamaBatchBuffer(SuffixTokens.Count);
            for (int i = 0; i < SuffixTokens.Count; i++) batch.Add(SuffixTokens[i], position + i, 0, wantOutput: i == SuffixTokens.Count - 1);
            context.Decode(batch, cancellationToken);
            var logits = context.GetLogits(SuffixTokens.Count - 1);
            logit = (double)logits[YesToken] - logits[NoToken];
        }
        finally
        {
            context.SetAdapter(null);
            context.RemoveTokens(0, position);
        }
        double confidence = 1 / (1 + Math.Exp(-(PlattA * logit + PlattB)));
        return new LoraQueryReading(confidence, logit, SuffixTokens.Count, ReusedCache: true, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    public void Dispose() => Adapter.Dispose();
}
