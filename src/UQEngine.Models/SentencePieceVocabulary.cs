using System.Collections.Immutable;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>
/// A SentencePiece-style vocabulary as llama.cpp's "llama" (SPM) tokenizer reads it: special tokens first (in the
/// family's order), the 256 byte-fallback tokens "&lt;0xNN&gt;", then pieces spelled with "▁" (U+2581) for a space,
/// each with a score (llama.cpp merges the adjacent pair whose joined piece scores highest). Built by the project
/// from a small English word list: no SentencePiece model is shipped with the project.
/// </summary>
public sealed class SentencePieceVocabulary
{
    public const int NormalTokenType = 1, UnknownTokenType = 2, ControlTokenType = 3, ByteTokenType = 6;

    /// <summary>SentencePiece's word-boundary mark: a space in the text.</summary>
    public const char SpaceMark = '\u2581';

    private readonly Dictionary<string, int> _idByToken;

    private SentencePieceVocabulary(ImmutableArray<string> tokens, ImmutableArray<float> scores, ImmutableArray<int> types)
    {
        Tokens = tokens;
        Scores = scores;
        TokenTypes = types;
        _idByToken = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) _idByToken.Add(tokens[i], i);
    }

    public ImmutableArray<string> Tokens { get; }
    public ImmutableArray<float> Scores { get; }
    public ImmutableArray<int> TokenTypes { get; }
    public int Count => Tokens.Length;

    /// <summary>Id of a token.</summary>
    /// <exception cref="KeyNotFoundException">The token is not in the vocabulary.</exception>
    public int IdOf(string token) =>
        _idByToken.TryGetValue(token, out int id) ? id : throw new KeyNotFoundException($"token '{token}' is not in the vocabulary");

    /// <summary>
    /// Builds the vocabulary: <paramref name="specials"/> (text and llama.cpp token type, in id order), the byte
    /// tokens, then every single character of <paramref name="words"/> and the words themselves with and without a
    /// leading "▁", and all their shorter substrings, so common words are one piece and any text tokenizes
    /// (characters outside the pieces fall back to bytes). Scores fall with the id, so longer, earlier pieces win.
    /// </summary>
    /// <exception cref="ArgumentException">A special token repeats.</exception>
    public static SentencePieceVocabulary Create(IEnumerable<(string Text, int Type)> specials, IEnumerable<string>? words = null)
    {
        ArgumentNullException.ThrowIfNull(specials);
        var tokens = new List<string>();
        var types = new List<int>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        void Add(string text, int type)
        {
            if (!known.Add(text)) return;
            tokens.Add(text);
            types.Add(type);
        }

        foreach (var (text, type) in specials)
        {
            if (string.IsNullOrEmpty(text) || known.Contains(text)) throw new ArgumentException($"Special token '{text}' is empty or repeated.", nameof(specials));
            Add(text, type);
        }

        int firstPiece = tokens.Count + 256;
        for (int b = 0; b < 256; b++) Add($"<0x{b:X2}>", ByteTokenType);

        string[] list = [.. words ?? SmallEnglishWords];
        // Whole words first (highest scores), then prefixes, then single characters: llama.cpp's SPM merges by score.
        foreach (string w in list) { Add(SpaceMark + w, NormalTokenType); Add(w, NormalTokenType); }
        // Every substring of every word (and every "▁"-prefixed prefix): llama.cpp's SPM merges adjacent pieces only
        // while the joined piece is in the vocabulary, so whichever pair merges first, the word is still reachable
        // (a trained SentencePiece vocabulary has these intermediate pieces; with only a few, "▁world" stopped at "▁wor").
        for (int length = list.Max(w => w.Length) - 1; length >= 2; length--)
            foreach (string w in list)
            {
                if (w.Length <= length) continue;
                Add(SpaceMark + w[..length], NormalTokenType);
                for (int start = 0; start + length <= w.Length; start++) Add(w.Substring(start, length), NormalTokenType);
            }
        Add(SpaceMark.ToString(), NormalTokenType);
        foreach (char c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-()[]{}<>/|=+*_#@&%$~`\\^")
        {
            Add(c.ToString(), NormalTokenType);
            Add(SpaceMark + c.ToString(), NormalTokenType);
        }

        var scores = new float[tokens.Count];
        for (int i = firstPiece; i < scores.Length; i++) scores[i] = -(i - firstPiece);
        return new SentencePieceVocabulary([.. tokens], [.. scores], [.. types]);
    }

    /// <summary>
    /// Tokenizer keys for an SPM vocabulary ("tokenizer.ggml.model" = "llama"): tokens, scores, types, the special
    /// ids named by token text, whether llama.cpp adds BOS / a leading space, and the chat template if any.
    /// </summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> TokenizerMetadata(
        string bosToken, string eosToken, string unknownToken, string? endOfTurnToken, string? paddingToken,
        bool addBosToken, bool addSpacePrefix, string? chatTemplate, string preTokenizer = "default")
    {
        yield return new("tokenizer.ggml.model", GgufValue.FromString("llama"));
        yield return new("tokenizer.ggml.pre", GgufValue.FromString(preTokenizer));
        yield return new("tokenizer.ggml.tokens", GgufValue.FromStringArray(Tokens));
        yield return new("tokenizer.ggml.scores", GgufValue.FromArray(Scores.AsSpan()));
        yield return new("tokenizer.ggml.token_type", GgufValue.FromArray(TokenTypes.AsSpan()));
        yield return new("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)IdOf(bosToken)));
        yield return new("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32((uint)IdOf(eosToken)));
        yield return new("tokenizer.ggml.unknown_token_id", GgufValue.FromUInt32((uint)IdOf(unknownToken)));
        if (endOfTurnToken is not null) yield return new("tokenizer.ggml.eot_token_id", GgufValue.FromUInt32((uint)IdOf(endOfTurnToken)));
        if (paddingToken is not null) yield return new("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)IdOf(paddingToken)));
        yield return new("tokenizer.ggml.add_bos_token", GgufValue.FromBool(addBosToken));
        yield return new("tokenizer.ggml.add_eos_token", GgufValue.FromBool(false));
        yield return new("tokenizer.ggml.add_space_prefix", GgufValue.FromBool(addSpacePrefix));
        if (chatTemplate is not null) yield return new("tokenizer.chat_template", GgufValue.FromString(chatTemplate));
    }

    /// <summary>Common English words (and a few the conformance tests say), whole pieces of the vocabulary.</summary>
    public static readonly ImmutableArray<string> SmallEnglishWords =
    [
        "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with", "his", "they",
        "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what", "all", "were", "we", "when",
        "your", "can", "said", "there", "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other",
        "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like", "him", "into", "time",
        "has", "look", "two", "more", "write", "go", "see", "number", "no", "way", "could", "people", "my", "than", "first",
        "water", "been", "call", "who", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part",
        "Hello", "world", "I", "am", "a", "helpful", "assistant", "question", "answer", "Who", "What", "Where", "city",
        "capital", "France", "Paris", "month", "born", "model", "uncertainty",
    ];
}
