using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.Methods;

/// <summary>
/// Option-letter distributions of several multiple-choice prompts from one llama_decode: each prompt is its own
/// sequence of the batch (positions from 0, output only at its last token), so llama.cpp evaluates them together
/// instead of one call per item. Used when nothing else is wanted from those prompts (the option-probability route
/// without generation); the result equals <see cref="OptionLogitsStatistic"/> on each prompt alone.
/// </summary>
public static class OptionLogitsBatch
{
    /// <summary>How many of <paramref name="promptLengths"/>, from the start, fit one decode of this context.</summary>
    public static int HowManyFit(LlamaContext context, IReadOnlyList<int> promptLengths)
    {
        int budget = Math.Min(context.BatchSize, context.ContextSize), used = 0, n = 0;
        while (n < promptLengths.Count && n < context.MaxSequences && used + promptLengths[n] <= budget) used += promptLengths[n++];
        return n;
    }

    /// <summary>Decodes the prompts together; returns each one's option-letter distribution. The KV cache is left empty.</summary>
    public static OptionProbabilities[] Compute(LlamaContext context, IReadOnlyList<(int[] Tokens, OptionLetterTokens Letters)> prompts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) return [];
        if (HowManyFit(context, [.. prompts.Select(p => p.Tokens.Length)]) < prompts.Count)
            throw new ArgumentException($"{prompts.Count} prompts of {prompts.Sum(p => p.Tokens.Length)} tokens do not fit one decode (at most {context.MaxSequences} sequences and {Math.Min(context.BatchSize, context.ContextSize)} tokens)");
        foreach (var (tokens, _) in prompts)
            if (tokens.Length == 0) throw new ArgumentException("a prompt is empty");

        context.ClearCache();
        using var batch = new LlamaBatchBuffer(prompts.Sum(p => p.Tokens.Length));
        var lastIndex = new int[prompts.Count];
        for (int s = 0; s < prompts.Count; s++)
        {
            int[] tokens = prompts[s].Tokens;
            for (int i = 0; i < tokens.Length; i++) lastIndex[s] = batch.Add(tokens[i], i, s, wantOutput: i == tokens.Length - 1);
        }
        try
        {
            context.Decode(batch, cancellationToken);
            var results = new OptionProbabilities[prompts.Count];
            for (int s = 0; s < prompts.Count; s++)
            {
                ReadOnlySpan<float> logits = context.GetLogits(lastIndex[s]);
                var letters = prompts[s].Letters;
                var values = new double[letters.TokenIds.Count];
                for (int k = 0; k < values.Length; k++) values[k] = logits[letters.TokenIds[k]];
                results[s] = new OptionProbabilities(letters, values, OptionLogitsStatistic.Softmax(values));
            }
            return results;
        }
        finally { context.ClearCache(); }
    }
}
