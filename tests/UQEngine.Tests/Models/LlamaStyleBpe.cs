using System.Text.RegularExpressions;
using UQEngine.Models;

namespace UQEngine.Tests.Models;

/// <summary>
/// llama.cpp's BPE (llm_tokenizer_bpe_session) over a converted vocabulary: split the text at special tokens (when given),
/// then with a regex; a pre-token that is a token is taken whole if ignore_merges; else start from its bytes and merge the
/// adjacent pair with the lowest GGUF merge rank (leftmost first) until none is listed.
/// </summary>
internal sealed class LlamaStyleBpe
{
    private readonly ByteLevelBpeVocabulary _vocabulary;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<string, int> _mergeRank;

    public LlamaStyleBpe(ByteLevelBpeVocabulary vocabulary, bool ignoreMerges)
    {
        _vocabulary = vocabulary;
        _ignoreMerges = ignoreMerges;
        _mergeRank = new Dictionary<string, int>(vocabulary.Merges.Length, StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.Merges.Length; i++) _mergeRank[vocabulary.Merges[i]] = i;
    }

    /// <summary>Token ids of <paramref name="text"/>: split at special tokens (if given), then by <paramref name="split"/>, then BPE per pre-token.</summary>
    public int[] Encode(string text, Regex split, Regex? specials)
    {
        var ids = new List<int>();
        foreach (var (start, length, special) in PreTokens(text, split, specials))
        {
            string piece = text.Substring(start, length);
            if (special) ids.Add(_vocabulary.IdOf(piece));
            else Word(piece, ids);
        }

        return [.. ids];
    }

    /// <summary>The pre-tokens: special tokens whole, the text between them split by the regex.</summary>
    public static List<(int Start, int Length, bool Special)> PreTokens(string text, Regex split, Regex? specials)
    {
        var result = new List<(int, int, bool)>();
        int at = 0;
        foreach (Match special in specials?.Matches(text) ?? (IEnumerable<Match>)[])
        {
            Split(text, at, special.Index, split, result);
            result.Add((special.Index, special.Length, true));
            at = special.Index + special.Length;
        }

        Split(text, at, text.Length, split, result);
        return result;
    }

    // Text no alternative matches stays a pre-token of its own, as in llama.cpp's unicode_regex_split.
    private static void Split(string text, int from, int to, Regex split, List<(int, int, bool)> result)
    {
        int at = from;
        foreach (Match m in split.Matches(text[from..to]))
        {
            if (m.Length == 0) continue;
            if (from + m.Index > at) result.Add((at, from + m.Index - at, false));
            result.Add((from + m.Index, m.Length, false));
            at = from + m.Index + m.Length;
        }

        if (at < to) result.Add((at, to - at, false));
    }

    private void Word(string piece, List<int> ids) => ids.AddRange(Merge(ByteLevelBpeVocabulary.ToByteLevel(piece)));

    /// <summary>The ids of one pre-token in byte-level spelling.</summary>
    public List<int> Merge(string word)
    {
        var ids = new List<int>();
        if (_ignoreMerges && _vocabulary.TryGetId(word, out int whole))
        {
            ids.Add(whole);
            return ids;
        }

        var parts = word.Select(c => c.ToString()).ToList();
        while (parts.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (_mergeRank.TryGetValue(parts[i] + " " + parts[i + 1], out int rank) && rank < bestRank)
                {
                    best = i;
                    bestRank = rank;
                }
            }

            if (best < 0) break;
            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }

        foreach (string part in parts) ids.Add(_vocabulary.IdOf(part));
        return ids;
    }
}
