using System.Globalization;
using System.Text;

namespace UQEngine.Evaluation.Grading;

/// <summary>
/// SQuAD-style grading of short free-text answers: normalize (lowercase, drop punctuation and the articles a / an /
/// the, collapse whitespace), then exact match against any accepted answer, or the best token-overlap F1.
/// </summary>
public static class OpenAnswerGrader
{
    private static readonly HashSet<string> Articles = ["a", "an", "the"];

    /// <summary>The SQuAD normalization: lowercase, punctuation removed, articles removed, whitespace collapsed.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (char ch in text.ToLowerInvariant())
        {
            var category = char.GetUnicodeCategory(ch);
            bool punctuation = char.IsPunctuation(ch) || category is UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol;
            if (!punctuation) sb.Append(char.IsWhiteSpace(ch) ? ' ' : ch);
        }
        return string.Join(' ', sb.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !Articles.Contains(w)));
    }

    /// <summary>
    /// The answer part of a model's response: its first non-empty line, without a leading "Answer:" label and
    /// without a trailing sentence period. Models often continue with an explanation after the answer.
    /// </summary>
    public static string ExtractAnswer(string response)
    {
        ArgumentNullException.ThrowIfNull(response);
        string line = response.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        foreach (string label in new[] { "final answer:", "answer:", "a:" })
            if (line.StartsWith(label, StringComparison.OrdinalIgnoreCase)) { line = line[label.Length..].Trim(); break; }
        return line;
    }

    /// <summary>True when the normalized prediction equals the normalized form of any reference.</summary>
    public static bool ExactMatch(string prediction, IEnumerable<string> references)
    {
        string p = Normalize(prediction);
        return references.Any(r => Normalize(r) == p);
    }

    /// <summary>The best token F1 of the prediction against any reference (0 when there are none).</summary>
    public static double TokenF1(string prediction, IEnumerable<string> references)
    {
        double best = 0;
        foreach (string r in references) best = Math.Max(best, TokenF1(prediction, r));
        return best;
    }

    /// <summary>Token-overlap F1 of normalized texts (multiset overlap, as the SQuAD script). Both empty → 1.</summary>
    public static double TokenF1(string prediction, string reference)
    {
        string[] p = Normalize(prediction).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] r = Normalize(reference).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length == 0 || r.Length == 0) return p.Length == r.Length ? 1 : 0;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string t in r) counts[t] = counts.GetValueOrDefault(t) + 1;
        int common = 0;
        foreach (string t in p)
            if (counts.TryGetValue(t, out int c) && c > 0) { common++; counts[t] = c - 1; }
        if (common == 0) return 0;
        double precision = (double)common / p.Length, recall = (double)common / r.Length;
        return 2 * precision * recall / (precision + recall);
    }
}
