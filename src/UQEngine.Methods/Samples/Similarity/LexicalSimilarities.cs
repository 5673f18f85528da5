namespace UQEngine.Methods.Samples.Similarity;

/// <summary>
/// ROUGE-L F-measure over word tokens: with L = |LCS(a, b)| (longest common subsequence of the token
/// sequences), P = L/|b|, R = L/|a|, F = 2PR/(P + R) = 2L/(|a| + |b|). Symmetric. 0 when either text has no
/// tokens or nothing in common (as rouge_score). Default tokenization <see cref="TokenNormalization.Alphanumeric"/>.
/// </summary>
public sealed class RougeLSimilarity(TokenNormalization normalization = TokenNormalization.Alphanumeric) : ISimilarity
{
    public TokenNormalization Normalization { get; } = normalization;

    public double Score(string a, string b) => FMeasure(TextTokens.Tokenize(a, Normalization), TextTokens.Tokenize(b, Normalization));

    /// <summary>ROUGE-L F1 of two token sequences.</summary>
    public static double FMeasure(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        if (a.Count == 0 || b.Count == 0) return 0;
        int lcs = LongestCommonSubsequence(a, b);
        return lcs == 0 ? 0 : 2.0 * lcs / (a.Count + b.Count);
    }

    /// <summary>Length of the longest common subsequence, O(|a|·|b|) time, O(|b|) memory (two rows).</summary>
    public static int LongestCommonSubsequence(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        int m = b.Count;
        Span<int> prev = m < 256 ? stackalloc int[m + 1] : new int[m + 1];
        Span<int> cur = m < 256 ? stackalloc int[m + 1] : new int[m + 1];
        prev.Clear();
        cur.Clear();
        for (int i = 1; i <= a.Count; i++)
        {
            cur[0] = 0;
            for (int j = 1; j <= m; j++)
                cur[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal)
                    ? prev[j - 1] + 1
                    : Math.Max(prev[j], cur[j - 1]);
            var t = prev; prev = cur; cur = t;
        }
        return prev[m];
    }
}

/// <summary>
/// Jaccard similarity of the token sets, |A ∩ B| / |A ∪ B|; 0 when both are empty (LM-Polygraph's convention).
/// Default tokenization <see cref="TokenNormalization.Whitespace"/> (LM-Polygraph's <c>lower().split()</c>).
/// </summary>
public sealed class JaccardSimilarity(TokenNormalization normalization = TokenNormalization.Whitespace) : ISimilarity
{
    public TokenNormalization Normalization { get; } = normalization;

    public double Score(string a, string b)
    {
        var sa = new HashSet<string>(TextTokens.Tokenize(a, Normalization), StringComparer.Ordinal);
        var sb = new HashSet<string>(TextTokens.Tokenize(b, Normalization), StringComparer.Ordinal);
        int union = sa.Count, intersection = 0;
        foreach (string t in sb)
        {
            if (sa.Contains(t)) intersection++;
            else union++;
        }
        return union == 0 ? 0 : (double)intersection / union;
    }
}
