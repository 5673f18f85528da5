using System.Text.RegularExpressions;

namespace UQEngine.Models;

/// <summary>
/// Learns GPT-2 style byte-level BPE merges from text: the text is split with the GPT-2 pre-tokenizer pattern
/// (the one llama.cpp applies for tokenizer.ggml.pre = "gpt-2"), each piece is spelled in byte-level characters,
/// and the most frequent adjacent pair is merged repeatedly. Ties go to the ordinally smallest pair, so the
/// merges depend only on the input. Good for small corpora (it recounts pairs over distinct pieces each step).
/// </summary>
public static partial class ByteLevelBpeTrainer
{
    /// <summary>GPT-2's pre-tokenizer pattern, as llama.cpp splits "gpt-2" text before applying merges.</summary>
    public const string Gpt2PreTokenizerPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    [GeneratedRegex(Gpt2PreTokenizerPattern, RegexOptions.CultureInvariant)]
    public static partial Regex Gpt2PreTokenizer();

    /// <summary>
    /// Learns up to <paramref name="maxMerges"/> merges from weighted texts; stops early when no pair occurs at
    /// least <paramref name="minPairCount"/> times. Special tokens must be removed from the texts beforehand.
    /// </summary>
    public static IReadOnlyList<(string Left, string Right)> Train(IEnumerable<(string Text, int Weight)> texts, int maxMerges, int minPairCount = 2)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMerges);
        ArgumentOutOfRangeException.ThrowIfLessThan(minPairCount, 1);

        var pieceCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (text, weight) in texts)
        {
            if (weight <= 0) continue;
            foreach (Match m in Gpt2PreTokenizer().Matches(text))
            {
                string piece = ByteLevelBpeVocabulary.ToByteLevel(m.Value);
                pieceCounts[piece] = pieceCounts.GetValueOrDefault(piece) + weight;
            }
        }

        // Each distinct piece as a list of symbols (initially one per byte-level character).
        var words = pieceCounts.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (Symbols: p.Key.Select(c => c.ToString()).ToList(), Count: p.Value)).ToList();
        var merges = new List<(string, string)>(maxMerges);
        var pairCounts = new Dictionary<(string, string), long>();
        while (merges.Count < maxMerges)
        {
            pairCounts.Clear();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var pair = (symbols[i], symbols[i + 1]);
                    pairCounts[pair] = pairCounts.GetValueOrDefault(pair) + count;
                }
            if (pairCounts.Count == 0) break;

            var best = default((string Left, string Right));
            long bestCount = 0;
            foreach (var (pair, count) in pairCounts)
            {
                if (count > bestCount || (count == bestCount && Compare(pair, best) < 0))
                {
                    best = pair;
                    bestCount = count;
                }
            }
            if (bestCount < minPairCount) break;

            merges.Add(best);
            string merged = best.Left + best.Right;
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Left && symbols[i + 1] == best.Right)
                    {
                        symbols[i] = merged;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return merges;
    }

    private static int Compare((string Left, string Right) a, (string Left, string Right) b)
    {
        int c = string.CompareOrdinal(a.Left, b.Left);
        return c != 0 ? c : string.CompareOrdinal(a.Right, b.Right);
    }
}
