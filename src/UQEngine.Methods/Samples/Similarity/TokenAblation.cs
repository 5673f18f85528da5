namespace UQEngine.Methods.Samples.Similarity;

/// <summary>
/// The texts TokenSAR's relevance needs: the reference "prefix + ' ' + answer" and, for each token t, the same
/// with token t's characters removed. LM-Polygraph re-decodes the token list without token t and prepends the
/// question and a space; removing the token's character span from the decoded answer is the same text whenever
/// the detokenizer is a plain concatenation of pieces (llama.cpp's per-token pieces are). Scoring the pairs
/// (reference, ablated_t) with a cross-encoder gives the s_t of <see cref="Sar.TokenSar"/>.
/// </summary>
public static class TokenAblation
{
    /// <summary>
    /// Reference text and one ablated text per token. Spans must be in order, non-overlapping and inside the answer.
    /// When <paramref name="prefix"/> is null the answer stands alone (no space is added).
    /// </summary>
    public static (string Reference, string[] Ablated) Texts(string answer, ReadOnlySpan<TokenSpan> tokenSpans, string? prefix = null)
    {
        ArgumentNullException.ThrowIfNull(answer);
        string head = prefix is null ? "" : prefix + " ";
        var ablated = new string[tokenSpans.Length];
        int previousEnd = 0;
        for (int t = 0; t < tokenSpans.Length; t++)
        {
            var s = tokenSpans[t];
            if (s.Start < previousEnd || s.Length < 0 || s.End > answer.Length)
                throw new ArgumentException($"Token span {t} ({s.Start}, {s.Length}) is out of order or outside the answer (length {answer.Length}).", nameof(tokenSpans));
            previousEnd = s.End;
            ablated[t] = string.Concat(head, answer.AsSpan(0, s.Start), answer.AsSpan(s.End));
        }
        return (head + answer, ablated);
    }

    /// <summary>Spans of consecutive token pieces whose concatenation is the answer (pieces as the detokenizer emits them).</summary>
    public static TokenSpan[] SpansFromPieces(IReadOnlyList<string> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var spans = new TokenSpan[pieces.Count];
        int at = 0;
        for (int t = 0; t < pieces.Count; t++) { spans[t] = new TokenSpan(at, pieces[t].Length); at += pieces[t].Length; }
        return spans;
    }
}

/// <summary>A token's character span in the answer text (as the detokenizer laid it out).</summary>
public readonly record struct TokenSpan(int Start, int Length)
{
    public int End => Start + Length;
}
