using System.Text;
using LLama;
using LLama.Native;
using UQEngine.Inference;
using UQEngine.Kernels;
using UQEngine.Uncertainty;

namespace UQEngine.LLamaSharp;

/// <summary>
/// Teacher-forced scoring on a LLamaSharp context: the model's probability of a given answer, token by token, as
/// <c>uqengine score</c> computes it (prompt tokenized with BOS and special-token parsing, the answer alone without
/// either; the prompt and answer decoded in one pass, logits read at the prompt's last token and every answer token
/// but the last, each step's statistics from the fused kernel).
/// </summary>
public static class TeacherForcedScorer
{
    /// <summary>Scores <paramref name="answer"/> after <paramref name="prompt"/>.</summary>
    public static ScoredSequence Score(LLamaContext context, string prompt, string answer, int topAlternatives = 0)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(answer);
        return Score(context, context.Tokenize(prompt, addBos: true, special: true), context.Tokenize(answer, addBos: false, special: false), topAlternatives);
    }

    /// <summary>
    /// Scores <paramref name="answer"/> after <paramref name="prompt"/> in sequence 0 of <paramref name="context"/>,
    /// whose cells it clears before and after: use a context of its own, not one an executor is holding a conversation in.
    /// </summary>
    public static ScoredSequence Score(LLamaContext context, IReadOnlyList<LLamaToken> prompt, IReadOnlyList<LLamaToken> answer, int topAlternatives = 0)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(answer);
        if (prompt.Count == 0) throw new ArgumentException("the prompt has no tokens; the first answer token needs a position to be predicted from", nameof(prompt));
        if (topAlternatives is < 0 or > GenerationOptions.MaxTopAlternatives)
            throw new ArgumentOutOfRangeException(nameof(topAlternatives), topAlternatives, $"top alternatives must be in 0..{GenerationOptions.MaxTopAlternatives}");
        int total = prompt.Count + answer.Count;
        if (total > context.ContextSize)
            throw new ArgumentException($"prompt and answer are {total} tokens, but the context holds {context.ContextSize}", nameof(answer));

        var handle = context.NativeHandle;
        var sequence = (LLamaSeqId)0;
        handle.MemorySequenceRemove(sequence, -1, -1);
        var top = new TopToken[topAlternatives];
        var tokens = new List<GeneratedToken>(answer.Count);
        var scores = new TokenProbabilityAccumulator();
        var utf8 = Encoding.UTF8.GetDecoder();
        var batch = new LLamaBatch();
        int batchSize = (int)Math.Max(1, context.BatchSize);
        try
        {
            for (int start = 0; start < total; start += batchSize)
            {
                batch.Clear();
                int end = Math.Min(total, start + batchSize);
                for (int position = start; position < end; position++)
                {
                    var token = position < prompt.Count ? prompt[position] : answer[position - prompt.Count];
                    // Position p predicts token p + 1: logits are needed from the prompt's last token to the answer's second last.
                    bool logits = position >= prompt.Count - 1 && position < total - 1;
                    batch.Add(token, position, sequence, logits);
                }
                var result = context.Decode(batch);
                if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed while scoring ({result})");
                for (int position = Math.Max(start, prompt.Count - 1); position < Math.Min(end, total - 1); position++)
                {
                    int chosen = (int)answer[position + 1 - prompt.Count];
                    ReadOnlySpan<float> step = handle.GetLogitsIth(position - start);
                    var statistics = TokenStatisticsKernel.Compute(step, chosen, top);
                    scores.Add(statistics);
                    var alternatives = new TokenAlternative[Math.Min(statistics.TopCount, top.Length)];
                    for (int i = 0; i < alternatives.Length; i++)
                        alternatives[i] = new TokenAlternative(top[i].TokenId, TokenText.Decode(handle, top[i].TokenId, null), top[i].LogProbability);
                    tokens.Add(new GeneratedToken(0, tokens.Count, chosen, TokenText.Decode(handle, chosen, utf8), statistics.ChosenLogProbability,
                        statistics.Entropy, statistics.ChosenRank, alternatives));
                }
            }
        }
        finally { handle.MemorySequenceRemove(sequence, -1, -1); }
        return new ScoredSequence(tokens, scores.Result, prompt.Count, null);
    }
}

/// <summary>Token text from LLamaSharp's detokenizer (llama_token_to_piece).</summary>
internal static class TokenText
{
    /// <summary>
    /// The token's text: through <paramref name="utf8"/> (a sequence's stateful decoder, so a character split over byte
    /// tokens lands on the token completing it) or, when null, decoded alone.
    /// </summary>
    public static string Decode(SafeLLamaContextHandle context, int id, Decoder? utf8)
    {
        Span<byte> small = stackalloc byte[64];
        int length = (int)context.TokenToSpan((LLamaToken)id, small);
        Span<byte> bytes = small;
        if (length > small.Length)
        {
            bytes = new byte[length];
            length = (int)context.TokenToSpan((LLamaToken)id, bytes);
        }
        bytes = bytes[..length];
        if (utf8 is null) return Encoding.UTF8.GetString(bytes);
        Span<char> chars = stackalloc char[length + 4];
        return new string(chars[..utf8.GetChars(bytes, chars, flush: false)]);
    }
}
