namespace UQEngine.Methods.Samples.Similarity;

/// <summary>How a text becomes the word tokens lexical similarities compare.</summary>
public enum TokenNormalization
{
    /// <summary>
    /// Lower-case (invariant culture), then split on white space; punctuation stays attached ("cat." ≠ "cat").
    /// This is LM-Polygraph's Jaccard tokenization (<c>text.lower().split()</c>).
    /// </summary>
    Whitespace,

    /// <summary>
    /// Lower-case, then every run of letters or digits is a token and everything else separates. Close to the
    /// rouge_score default tokenizer, with two differences: letters/digits are Unicode (rouge_score keeps only
    /// a–z, 0–9 and drops other characters) and no Porter stemming (LM-Polygraph's lexical similarity runs
    /// rouge_score with use_stemmer=True, so "cats"/"cat" match there and not here).
    /// </summary>
    Alphanumeric,
}

/// <summary>Word tokenization for the lexical similarities.</summary>
public static class TextTokens
{
    public static List<string> Tokenize(string text, TokenNormalization normalization)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<string>();
        string lower = text.ToLowerInvariant();
        int start = -1;
        for (int i = 0; i <= lower.Length; i++)
        {
            bool inToken = i < lower.Length && (normalization == TokenNormalization.Whitespace
                ? !char.IsWhiteSpace(lower[i])
                : char.IsLetterOrDigit(lower[i]));
            if (inToken) { if (start < 0) start = i; }
            else if (start >= 0) { tokens.Add(lower[start..i]); start = -1; }
        }
        return tokens;
    }
}
