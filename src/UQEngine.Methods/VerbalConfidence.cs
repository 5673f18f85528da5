using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace UQEngine.Methods;

/// <summary>
/// Reads a stated confidence out of a model's reply to "how confident are you (0–100)?". Accepted forms:
/// "Confidence: 80", "80", "80%", "80 percent", "80/100", "8/10", "8 out of 10", "0.8", ".8", and number words
/// ("eighty", "eighty-five percent", "one hundred"). When the reply has a "confidence" label, the first number after
/// it is used, otherwise the first number. Scale: a percent sign, "percent", "/100" or "out of 100" mean percent;
/// "/10" or "out of 10" mean tenths; a number in [0, 1] written with a decimal point is a fraction; any other number
/// is read as a percentage (so "1" is 1%). Numbers above the scale are rejected.
/// </summary>
public static partial class VerbalConfidenceParser
{
    [GeneratedRegex(@"(\d+(?:\.\d+)?|\.\d+)\s*(%|percent\b|/\s*100\b|/\s*10\b|out\s+of\s+100\b|out\s+of\s+10\b)?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NumberWithScale();

    private static readonly Dictionary<string, int> Units = new(StringComparer.Ordinal)
    {
        ["zero"] = 0, ["one"] = 1, ["two"] = 2, ["three"] = 3, ["four"] = 4, ["five"] = 5, ["six"] = 6, ["seven"] = 7, ["eight"] = 8, ["nine"] = 9,
        ["ten"] = 10, ["eleven"] = 11, ["twelve"] = 12, ["thirteen"] = 13, ["fourteen"] = 14, ["fifteen"] = 15, ["sixteen"] = 16,
        ["seventeen"] = 17, ["eighteen"] = 18, ["nineteen"] = 19,
    };

    private static readonly Dictionary<string, int> Tens = new(StringComparer.Ordinal)
    {
        ["twenty"] = 20, ["thirty"] = 30, ["forty"] = 40, ["fifty"] = 50, ["sixty"] = 60, ["seventy"] = 70, ["eighty"] = 80, ["ninety"] = 90,
    };

    /// <summary>Parses a stated confidence into [0, 1]; false when the text holds no usable number.</summary>
    public static bool TryParse(string text, out double confidence)
    {
        ArgumentNullException.ThrowIfNull(text);
        confidence = 0;
        int label = text.IndexOf("confidence", StringComparison.OrdinalIgnoreCase);
        string focus = label >= 0 ? text[(label + "confidence".Length)..] : text;
        return TryParseDigits(focus, out confidence) || TryParseWords(focus, out confidence)
            || (label >= 0 && (TryParseDigits(text, out confidence) || TryParseWords(text, out confidence)));
    }

    private static bool TryParseDigits(string text, out double confidence)
    {
        confidence = 0;
        var m = NumberWithScale().Match(text);
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return false;
        string scale = Regex.Replace(m.Groups[2].Value.ToLowerInvariant(), @"\s+", "");
        double value = scale switch
        {
            "%" or "percent" or "/100" or "outof100" => v / 100,
            "/10" or "outof10" => v / 10,
            _ when m.Groups[1].Value.Contains('.') && v <= 1 => v,
            _ => v / 100,
        };
        if (value is < 0 or > 1) return false;
        confidence = value;
        return true;
    }

    private static bool TryParseWords(string text, out double confidence)
    {
        confidence = 0;
        string[] words = Regex.Split(text.ToLowerInvariant(), @"[^a-z]+").Where(w => w.Length > 0).ToArray();
        for (int i = 0; i < words.Length; i++)
        {
            int value;
            int j = i;
            if (words[j] is "hundred" || (words[j] is "a" or "one" && j + 1 < words.Length && words[j + 1] == "hundred")) { value = 100; }
            else if (Tens.TryGetValue(words[j], out int tens))
            {
                value = tens;
                if (j + 1 < words.Length && Units.TryGetValue(words[j + 1], out int unit) && unit is > 0 and < 10) value += unit;
            }
            else if (Units.TryGetValue(words[j], out int small)) value = small;
            else continue;
            confidence = value / 100.0;
            return true;
        }
        return false;
    }
}

/// <summary>
/// Maps verbal probability phrases ("highly likely", "we doubt") to probabilities. The values are approximately the
/// median readings reported by the "Perception of Probability Words" survey (Wade Fagen-Ulmschneider, University of
/// Illinois, 2015–), which repeats the Sherman Kent / Zonination phrase study; they are rounded, approximate, and
/// people's readings vary widely around them (see docs/EVALUATION.md). Only phrases whose medians we could
/// attribute are listed.
/// </summary>
public static partial class ProbabilityPhrases
{
    /// <summary>The table, most probable first.</summary>
    public static IReadOnlyList<(string Phrase, double Probability)> Table { get; } =
    [
        ("almost certain", 0.95),
        ("almost certainly", 0.95),
        ("highly likely", 0.90),
        ("very good chance", 0.80),
        ("probably", 0.70),
        ("likely", 0.70),
        ("better than even", 0.58),
        ("about even", 0.50),
        ("probably not", 0.25),
        ("we doubt", 0.20),
        ("unlikely", 0.20),
        ("little chance", 0.10),
        ("highly unlikely", 0.05),
        ("almost no chance", 0.02),
    ];

    [GeneratedRegex(@"[^a-z]+", RegexOptions.CultureInvariant)]
    private static partial Regex NonLetters();

    /// <summary>
    /// Finds the longest table phrase in <paramref name="text"/> (whole words, case and punctuation ignored). A phrase
    /// directly after "not" or "no" is not a match ("not likely" is not "likely"), so negations fall back rather than
    /// being read as their opposite.
    /// </summary>
    public static bool TryMatch(string text, out string phrase, out double probability)
    {
        ArgumentNullException.ThrowIfNull(text);
        string normalized = " " + NonLetters().Replace(text.ToLowerInvariant(), " ").Trim() + " ";
        phrase = ""; probability = 0;
        int bestAt = int.MaxValue;
        foreach (var (p, value) in Table)
        {
            int at = normalized.IndexOf(" " + p + " ", StringComparison.Ordinal);
            while (at >= 0 && (normalized[..(at + 1)].EndsWith(" not ", StringComparison.Ordinal) || normalized[..(at + 1)].EndsWith(" no ", StringComparison.Ordinal)))
                at = normalized.IndexOf(" " + p + " ", at + 1, StringComparison.Ordinal);
            if (at < 0) continue;
            if (p.Length > phrase.Length || (p.Length == phrase.Length && at < bestAt)) { phrase = p; probability = value; bestAt = at; }
        }
        return phrase.Length > 0;
    }

    /// <summary>The phrases as a comma-separated list for prompts.</summary>
    public static string PromptList() => string.Join(", ", Table.Where(t => t.Phrase != "almost certainly").Select(t => $"\"{t.Phrase}\""));
}
