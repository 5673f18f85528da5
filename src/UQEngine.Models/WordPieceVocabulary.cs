using System.Collections.Immutable;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>
/// A BERT WordPiece vocabulary built by the project ([PAD], [UNK], [CLS], [SEP], [MASK], single characters,
/// whole words and "##" continuations), spelled the way llama.cpp's "bert" tokenizer reads it: a word-initial
/// piece carries a leading "▁" (U+2581), a continuation loses its "##", bracketed specials stay as they are
/// (the spelling UQEngine.MiniLM's converter writes for the real all-MiniLM vocabulary).
/// </summary>
public sealed class WordPieceVocabulary
{
    private WordPieceVocabulary(ImmutableArray<string> pieces) => Pieces = pieces;

    /// <summary>The vocabulary in BERT's own spelling ("##ing" for a continuation).</summary>
    public ImmutableArray<string> Pieces { get; }

    public int Count => Pieces.Length;

    public static readonly ImmutableArray<string> Specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    /// <summary>The specials, lower-case letters, digits and punctuation (word-initial and continuation), the small English words and a few suffixes.</summary>
    public static WordPieceVocabulary Create()
    {
        var pieces = new List<string>(Specials);
        var seen = new HashSet<string>(pieces, StringComparer.Ordinal);
        void Add(string p) { if (seen.Add(p)) pieces.Add(p); }
        foreach (char c in "abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'\"-()") { Add(c.ToString()); Add("##" + c); }
        foreach (string w in SentencePieceVocabulary.SmallEnglishWords) Add(w.ToLowerInvariant());
        foreach (string s in new[] { "##s", "##ed", "##ing", "##ly", "##er", "##est", "##tion" }) Add(s);
        return new WordPieceVocabulary([.. pieces]);
    }

    /// <summary>Tokenizer keys for a "bert" vocabulary: tokens, types (control for the specials), CLS/SEP/UNK/PAD/MASK ids.</summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> TokenizerMetadata()
    {
        int Id(string t) => Pieces.IndexOf(t);
        yield return new("tokenizer.ggml.model", GgufValue.FromString("bert"));
        yield return new("tokenizer.ggml.tokens", GgufValue.FromStringArray(Pieces.Select(GgufVocabularySpelling.WordPiece)));
        yield return new("tokenizer.ggml.token_type", GgufValue.FromArray([.. Pieces.Select(p => Specials.Contains(p) ? 3 : 1)]));
        yield return new("tokenizer.ggml.token_type_count", GgufValue.FromUInt32(2));
        yield return new("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)Id("[CLS]")));
        yield return new("tokenizer.ggml.cls_token_id", GgufValue.FromUInt32((uint)Id("[CLS]")));
        yield return new("tokenizer.ggml.seperator_token_id", GgufValue.FromUInt32((uint)Id("[SEP]"))); // llama.cpp's spelling
        yield return new("tokenizer.ggml.unknown_token_id", GgufValue.FromUInt32((uint)Id("[UNK]")));
        yield return new("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)Id("[PAD]")));
        yield return new("tokenizer.ggml.mask_token_id", GgufValue.FromUInt32((uint)Id("[MASK]")));
    }
}
