using System.Text.RegularExpressions;

namespace UQEngine.Evaluation.Grading;

/// <summary>
/// Finds the option letter in a multiple-choice response. Tried in order, the first rule that yields a letter within
/// the options wins:
/// <list type="number">
/// <item>an explicit label: "Answer: B", "the answer is (B).", "Correct option: b)";</item>
/// <item>a leading letter: "B", "(B)", "B)", "B.", "B: text", "[B]", lowercase "b)" / "b"; a leading "A" followed by
/// an ordinary word ("A cat ...") is English, not an answer, unless the text after it is that option's text;</item>
/// <item>the response is (or starts with) exactly one option's text, compared after SQuAD normalization;</item>
/// <item>exactly one distinct standalone capital letter in range anywhere ("I think B"; the words "I" and "A" before a lowercase word are ignored).</item>
/// </list>
/// Returns null when no rule applies or the last rule is ambiguous.
/// </summary>
public static partial class ChoiceLetterExtractor
{
    // Case-insensitive words, but a bare lowercase letter only before punctuation or the end ("the answer is a city" is not A).
    [GeneratedRegex(@"\b(?i:answer|option|choice)(?:\s+(?i:is))?\s*[:=\-]?\s*(?:(?i:option|letter)\s+)?(?:\(([A-Ja-j])\)|\[([A-Ja-j])\]|([A-J])\b|([a-j])(?=[\).:\]]|\s*$))", RegexOptions.CultureInvariant)]
    private static partial Regex LabelledLetter();

    [GeneratedRegex(@"^\s*(?:\*\*)?(?:\(([A-Ja-j])\)|\[([A-Ja-j])\]|([A-Ja-j])(?:[\).:\]]|\*\*|\s*$)|([A-J])(?=\s))", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingLetter();

    [GeneratedRegex(@"(?<![A-Za-z'])([A-J])(?![A-Za-z'])", RegexOptions.CultureInvariant)]
    private static partial Regex StandaloneCapital();

    /// <summary>The letter ('A'..) chosen in <paramref name="response"/>, or null.</summary>
    /// <param name="response">The model's text.</param>
    /// <param name="optionCount">Options of the item (2..10): letters beyond them are ignored.</param>
    /// <param name="options">Option texts, for the option-text rules (optional).</param>
    public static char? Extract(string response, int optionCount, IReadOnlyList<string>? options = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (optionCount is < 1 or > 10) throw new ArgumentOutOfRangeException(nameof(optionCount), optionCount, "1..10 options");
        char last = (char)('A' + optionCount - 1);
        char? InRange(Match m)
        {
            for (int g = 1; g < m.Groups.Count; g++)
                if (m.Groups[g].Success) { char c = char.ToUpperInvariant(m.Groups[g].Value[0]); return c <= last ? c : null; }
            return null;
        }

        foreach (Match m in LabelledLetter().Matches(response))
            if (InRange(m) is { } labelled) return labelled;

        var leading = LeadingLetter().Match(response);
        if (leading.Success && InRange(leading) is { } first)
        {
            bool bareCapitalBeforeWord = leading.Groups[4].Success;
            if (!bareCapitalBeforeWord) return first;
            // "A cat sat" is English; "B Paris" is B only when the rest is option B's text.
            string rest = response[(leading.Index + leading.Length)..];
            bool followedByOptionText = options is not null && first - 'A' < options.Count && StartsWithOption(rest, options[first - 'A']);
            if (followedByOptionText || (first != 'A' && !(first == 'I' && IsEnglishWord(response, leading.Groups[4].Index)))) return first;
        }

        if (options is not null && options.Count > 0)
        {
            string normalized = OpenAnswerGrader.Normalize(response);
            int match = -1;
            for (int i = 0; i < Math.Min(options.Count, optionCount); i++)
            {
                string o = OpenAnswerGrader.Normalize(options[i]);
                if (o.Length == 0 || !(normalized == o || normalized.StartsWith(o + " ", StringComparison.Ordinal))) continue;
                if (match >= 0) { match = -2; break; }
                match = i;
            }
            if (match >= 0) return (char)('A' + match);
        }

        char? only = null;
        foreach (Match m in StandaloneCapital().Matches(response))
        {
            char c = m.Groups[1].Value[0];
            if (c > last || (c is 'I' or 'A' && IsEnglishWord(response, m.Index))) continue;
            if (only is not null && only != c) return null;
            only = c;
        }
        return only;
    }

    private static bool StartsWithOption(string rest, string option)
    {
        string r = OpenAnswerGrader.Normalize(rest), o = OpenAnswerGrader.Normalize(option);
        return o.Length > 0 && (r == o || r.StartsWith(o + " ", StringComparison.Ordinal));
    }

    /// <summary>"I" or "A" followed by a space and a lowercase word ("I think", "A cat") or an apostrophe ("I'm") is English.</summary>
    private static bool IsEnglishWord(string text, int index)
    {
        int next = index + 1;
        if (next < text.Length && text[next] == '\'') return true;
        return next + 1 < text.Length && text[next] == ' ' && char.IsLower(text[next + 1]);
    }
}
