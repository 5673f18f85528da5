using System.Globalization;
using System.Text;

namespace UQEngine.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2's tokenizer, BERT's uncased WordPiece as the model's tokenizer config asks (do_lower_case,
/// tokenize_chinese_chars, strip_accents unset so it follows lower-casing): clean the text (drop NUL, U+FFFD and
/// control characters; any whitespace becomes a space), put spaces around CJK ideographs, split on whitespace, lower-case,
/// decompose (NFD) and drop non-spacing marks, split off every punctuation character, then greedy longest-match word
/// pieces ("##" on continuations; a word longer than 100 characters or with no match is [UNK]). [CLS] ... [SEP]
/// around, at most <see cref="MaxSequenceLength"/> ids in all (sentence-transformers cuts longer texts).
/// </summary>
public sealed class MiniLmTokenizer
{
    private const int MaxWordChars = 100;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public MiniLmTokenizer(int maxSequenceLength = MiniLmResources.MaxSequenceLength)
        : this(MiniLmResources.Vocabulary(), maxSequenceLength) { }

    public MiniLmTokenizer(IReadOnlyList<string> vocabulary, int maxSequenceLength = MiniLmResources.MaxSequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequenceLength, 3);
        MaxSequenceLength = maxSequenceLength;
        for (int i = 0; i < vocabulary.Count; i++) _ids.TryAdd(vocabulary[i], i);
        ClassificationTokenId = Id("[CLS]");
        SeparatorTokenId = Id("[SEP]");
        PaddingTokenId = Id("[PAD]");
        UnknownTokenId = Id("[UNK]");
    }

    private int Id(string token) => _ids.TryGetValue(token, out int id) ? id : throw new InvalidDataException($"the vocabulary has no {token}");

    /// <summary>Ids per text at most, [CLS] and [SEP] included.</summary>
    public int MaxSequenceLength { get; }

    public int ClassificationTokenId { get; }
    public int SeparatorTokenId { get; }
    public int PaddingTokenId { get; }
    public int UnknownTokenId { get; }

    /// <summary>[CLS] word pieces [SEP], the word pieces cut to fit <see cref="MaxSequenceLength"/>.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int> { ClassificationTokenId };
        int limit = MaxSequenceLength - 1;
        foreach (string word in BasicTokens(text))
        {
            WordPieces(word, ids);
            if (ids.Count >= limit) break;
        }
        if (ids.Count > limit) ids.RemoveRange(limit, ids.Count - limit);
        ids.Add(SeparatorTokenId);
        return [.. ids];
    }

    /// <summary>BERT's BasicTokenizer (uncased): the words and punctuation marks WordPiece then splits.</summary>
    public static List<string> BasicTokens(string text)
    {
        var cleaned = new StringBuilder(text.Length + 8);
        foreach (Rune r in text.EnumerateRunes())
        {
            int cp = r.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) cleaned.Append(' ');
            else if (IsCjk(cp)) cleaned.Append(' ').Append(r.ToString()).Append(' ');
            else cleaned.Append(r.ToString());
        }
        var result = new List<string>();
        var current = new StringBuilder();
        foreach (string word in cleaned.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            current.Clear();
            foreach (Rune r in StripAccents(word.ToLowerInvariant()).EnumerateRunes())
            {
                if (IsPunctuation(r))
                {
                    if (current.Length > 0) { result.Add(current.ToString()); current.Clear(); }
                    result.Add(r.ToString());
                }
                else current.Append(r.ToString());
            }
            if (current.Length > 0) result.Add(current.ToString());
        }
        return result;
    }

    private void WordPieces(string word, List<int> ids)
    {
        int runes = 0;
        foreach (Rune _ in word.EnumerateRunes()) runes++;
        if (runes > MaxWordChars) { ids.Add(UnknownTokenId); return; }
        int mark = ids.Count, start = 0;
        while (start < word.Length)
        {
            int end = word.Length, found = -1;
            while (start < end)
            {
                string piece = start > 0 ? "##" + word[start..end] : word[start..end];
                if (_ids.TryGetValue(piece, out int id)) { found = id; break; }
                end--;
                if (end > start && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) end--; // never split a pair
            }
            if (found < 0) { ids.RemoveRange(mark, ids.Count - mark); ids.Add(UnknownTokenId); return; }
            ids.Add(found);
            start = end;
        }
    }

    /// <summary>NFD, then drop non-spacing marks (Mn).</summary>
    private static string StripAccents(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (Rune r in text.EnumerateRunes())
        {
            int cp = r.Value;
            if (cp is >= 0xAC00 and <= 0xD7A3) Hangul(cp, sb);
            else if (AccentStripping.Table.TryGetValue(cp, out string? stripped)) sb.Append(stripped);
            else if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        }
        return sb.ToString();
    }

    /// <summary>A Hangul syllable's canonical decomposition into its leading, vowel and optional trailing jamo.</summary>
    private static void Hangul(int cp, StringBuilder sb)
    {
        int s = cp - 0xAC00;
        sb.Append((char)(0x1100 + s / (21 * 28))).Append((char)(0x1161 + s % (21 * 28) / 28));
        if (s % 28 != 0) sb.Append((char)(0x11A7 + s % 28));
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
