using System.Collections.Immutable;
using System.Text;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>
/// A GPT-2 style byte-level BPE vocabulary as llama.cpp's "gpt2" tokenizer reads it: the 256 byte tokens
/// (ids 0–255, token id = byte value) spelled with GPT-2's byte-to-unicode mapping, then one token per
/// merge result, then special (control) tokens.
/// </summary>
public sealed class ByteLevelBpeVocabulary
{
    /// <summary>llama.cpp token type for ordinary tokens.</summary>
    public const int NormalTokenType = 1;

    /// <summary>llama.cpp token type for control tokens such as end-of-text.</summary>
    public const int ControlTokenType = 3;

    /// <summary>llama.cpp token type for filler tokens that only pad the id space ("[PAD{id}]", as llama.cpp's HF converter names them).</summary>
    public const int UnusedTokenType = 5;

    /// <summary>A ChatML chat template that llama.cpp's built-in template matcher recognises.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public const string EndOfText = "<|endoftext|>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    private static readonly char[] ByteToChar = BuildByteToChar();

    private readonly Dictionary<string, int> _idByToken;

    private ByteLevelBpeVocabulary(ImmutableArray<string> tokens, ImmutableArray<int> tokenTypes, ImmutableArray<string> merges)
    {
        Tokens = tokens;
        TokenTypes = tokenTypes;
        Merges = merges;
        _idByToken = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
        {
            _idByToken.Add(tokens[i], i);
        }
    }

    /// <summary>Token texts by id, in byte-level spelling (a space is "Ġ").</summary>
    public ImmutableArray<string> Tokens { get; }

    /// <summary>llama.cpp token type of each token (<see cref="NormalTokenType"/>, <see cref="ControlTokenType"/> or <see cref="UnusedTokenType"/>).</summary>
    public ImmutableArray<int> TokenTypes { get; }

    /// <summary>Merges in priority order, each "left right" as GGUF stores them.</summary>
    public ImmutableArray<string> Merges { get; }

    public int Count => Tokens.Length;

    /// <summary>Id of a token given in byte-level spelling.</summary>
    /// <exception cref="KeyNotFoundException">The token is not in the vocabulary.</exception>
    public int IdOf(string token) =>
        _idByToken.TryGetValue(token, out int id) ? id : throw new KeyNotFoundException($"token '{token}' is not in the vocabulary");

    public bool TryGetId(string token, out int id) => _idByToken.TryGetValue(token, out id);

    /// <summary>
    /// Builds a vocabulary from merges in priority order and special tokens. Each merge's parts must
    /// already be tokens (bytes or earlier merge results); a merge whose result exists adds no token.
    /// </summary>
    /// <param name="merges">Pairs in byte-level spelling, e.g. ("Ġ", "w").</param>
    /// <param name="specialTokens">Control tokens appended after the merged tokens.</param>
    /// <exception cref="ArgumentException">A merge uses an unknown part, or a token repeats.</exception>
    public static ByteLevelBpeVocabulary Create(IEnumerable<(string Left, string Right)> merges, IEnumerable<string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(merges);
        ArgumentNullException.ThrowIfNull(specialTokens);
        var tokens = new List<string>(512);
        var types = new List<int>(512);
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            string token = ByteToChar[b].ToString();
            tokens.Add(token);
            types.Add(NormalTokenType);
            known.Add(token);
        }

        var mergeTexts = new List<string>();
        var mergeSet = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (left, right) in merges)
        {
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right) || left.Contains(' ') || right.Contains(' '))
            {
                throw new ArgumentException($"Merge ('{left}', '{right}') needs two non-empty parts without spaces (use byte-level spelling).", nameof(merges));
            }

            if (!known.Contains(left) || !known.Contains(right))
            {
                throw new ArgumentException($"Merge ('{left}', '{right}') uses a part that is not yet a token.", nameof(merges));
            }

            if (!mergeSet.Add(left + " " + right))
            {
                throw new ArgumentException($"Merge ('{left}', '{right}') is repeated.", nameof(merges));
            }

            mergeTexts.Add(left + " " + right);
            string merged = left + right;
            if (known.Add(merged))
            {
                tokens.Add(merged);
                types.Add(NormalTokenType);
            }
        }

        foreach (string special in specialTokens)
        {
            if (string.IsNullOrEmpty(special) || !known.Add(special))
            {
                throw new ArgumentException($"Special token '{special}' is empty or already a token.", nameof(specialTokens));
            }

            tokens.Add(special);
            types.Add(ControlTokenType);
        }

        return new ByteLevelBpeVocabulary([.. tokens], [.. types], [.. mergeTexts]);
    }

    /// <summary>
    /// A vocabulary whose ids are given (a converted tiktoken encoding: id = rank, not byte value): tokens in byte-level
    /// spelling, their llama.cpp types, and merges in priority order, each "left right" with both parts and their
    /// concatenation tokens.
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length, a token repeats or is empty, a type is unknown, a byte has no token, or a merge is malformed.</exception>
    public static ByteLevelBpeVocabulary FromTokens(IReadOnlyList<string> tokens, IReadOnlyList<int> tokenTypes, IReadOnlyList<string> merges)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(tokenTypes);
        ArgumentNullException.ThrowIfNull(merges);
        if (tokens.Count != tokenTypes.Count) throw new ArgumentException($"{tokens.Count} tokens but {tokenTypes.Count} token types", nameof(tokenTypes));
        var known = new HashSet<string>(tokens.Count, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Count; id++)
        {
            if (string.IsNullOrEmpty(tokens[id])) throw new ArgumentException($"token {id} is empty", nameof(tokens));
            if (!known.Add(tokens[id])) throw new ArgumentException($"token {id} '{tokens[id]}' repeats an earlier token", nameof(tokens));
            if (tokenTypes[id] is not (NormalTokenType or ControlTokenType or UnusedTokenType)) throw new ArgumentException($"token {id} has type {tokenTypes[id]}; expected {NormalTokenType} (normal), {ControlTokenType} (control) or {UnusedTokenType} (unused)", nameof(tokenTypes));
        }

        for (int b = 0; b < 256; b++)
        {
            if (!known.Contains(ByteToChar[b].ToString())) throw new ArgumentException($"byte 0x{b:X2} has no token, so some text could not be tokenized", nameof(tokens));
        }

        foreach (string merge in merges)
        {
            int space = merge.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0
                || !known.Contains(merge[..space]) || !known.Contains(merge[(space + 1)..]) || !known.Contains(string.Concat(merge.AsSpan(0, space), merge.AsSpan(space + 1))))
            {
                throw new ArgumentException($"merge '{merge}' is not two tokens whose concatenation is a token", nameof(merges));
            }
        }

        return new ByteLevelBpeVocabulary([.. tokens], [.. tokenTypes], [.. merges]);
    }

    /// <summary>
    /// This vocabulary with those of <paramref name="specialTokens"/> it lacks appended as control tokens (a family's chat
    /// markers on a real vocabulary); the same instance when it has them all.
    /// </summary>
    public ByteLevelBpeVocabulary WithSpecialTokens(IEnumerable<string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(specialTokens);
        var missing = specialTokens.Where(t => !_idByToken.ContainsKey(t)).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count == 0) return this;
        if (missing.Any(string.IsNullOrEmpty)) throw new ArgumentException("a special token is empty", nameof(specialTokens));
        return new ByteLevelBpeVocabulary(Tokens.AddRange(missing), TokenTypes.AddRange(missing.Select(_ => ControlTokenType)), Merges);
    }

    /// <summary>
    /// A small English vocabulary (a few dozen merges, so "Hello world" becomes the two tokens "Hello" and
    /// "Ġworld") with the special tokens &lt;|endoftext|&gt;, &lt;|im_start|&gt; and &lt;|im_end|&gt;.
    /// </summary>
    public static ByteLevelBpeVocabulary CreateSmallEnglish() => CreateSmallEnglish([EndOfText, ImStart, ImEnd]);

    /// <summary>The small English merges with another family's control tokens (Llama 3's headers, Qwen's ChatML markers, ...).</summary>
    public static ByteLevelBpeVocabulary CreateSmallEnglish(IEnumerable<string> specialTokens) => Create(SmallEnglishMerges, specialTokens);

    /// <summary>
    /// The small English vocabulary grown to <paramref name="vocabularySize"/> tokens with generated merges
    /// (letter pairs, then pair + letter), for benchmarks that need a realistic vocabulary width (32k-150k).
    /// The merges are meaningless; only the size matters.
    /// </summary>
    public static ByteLevelBpeVocabulary CreateSyntheticEnglish(int vocabularySize)
    {
        string[] specials = [EndOfText, ImStart, ImEnd];
        var merges = new List<(string, string)>(SmallEnglishMerges);
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++) known.Add(ByteToChar[b].ToString());
        foreach (var (l, r) in SmallEnglishMerges) known.Add(l + r);
        int target = vocabularySize - specials.Length;
        if (known.Count > target) throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, $"at least {known.Count + specials.Length} tokens");
        string[] letters = [.. "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".Select(c => c.ToString()), "Ġ"];
        var pairs = new List<string>();
        foreach (string l in letters)
            foreach (string r in letters)
            {
                if (r == "Ġ") continue;
                if (known.Count >= target) goto done;
                if (known.Add(l + r)) merges.Add((l, r));
                pairs.Add(l + r);
            }
        foreach (string pair in pairs)
            foreach (string r in letters)
            {
                if (r == "Ġ") continue;
                if (known.Count >= target) goto done;
                if (known.Add(pair + r)) merges.Add((pair, r));
            }
        if (known.Count < target) throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, $"at most {known.Count + specials.Length} tokens can be generated");
        done:
        return Create(merges, specials);
    }

    private static readonly (string, string)[] SmallEnglishMerges =
    [
        ("Ġ", "t"), ("h", "e"), ("i", "n"), ("r", "e"), ("o", "n"), ("Ġt", "he"), ("e", "r"), ("Ġ", "a"),
        ("a", "t"), ("e", "n"), ("o", "r"), ("Ġ", "s"), ("e", "s"), ("Ġ", "w"), ("Ġ", "o"), ("Ġ", "i"),
        ("i", "s"), ("l", "l"), ("H", "e"), ("ll", "o"), ("He", "llo"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"),
        ("in", "g"), ("Ġ", "c"), ("a", "n"), ("Ġa", "n"), ("Ġan", "d"), ("Ġo", "f"), ("Ġt", "o"), ("Ġi", "s"),
        ("Ġ", "b"), ("Ġ", "m"), ("Ġ", "h"), ("Ġi", "n"), ("e", "d"), ("Ġ", "p"), ("a", "l"), ("Ġ", "T"),
        ("ĠT", "he"), ("o", "u"), ("Ġ", "y"), ("Ġy", "ou"), ("Ġ", "u"), ("Ġu", "n"), ("c", "er"), ("Ġun", "cer"),
        ("t", "a"), ("Ġuncer", "ta"), ("Ġuncerta", "in"), ("Ġuncertain", "t"), ("Ġuncertaint", "y"), ("Ġ", "U"), ("ĠU", "Q"),
    ];

    /// <summary>The character GPT-2's byte-level BPE uses to spell byte <paramref name="value"/>.</summary>
    public static char CharForByte(byte value) => ByteToChar[value];

    /// <summary>Spells UTF-8 text the way byte-level BPE tokens are spelled (a space becomes "Ġ", a newline "Ċ").</summary>
    public static string ToByteLevel(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ToByteLevel(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>Spells bytes (a token's, not necessarily whole UTF-8) the way byte-level BPE tokens are spelled, one character per byte.</summary>
    public static string ToByteLevel(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return string.Create(bytes.Length, bytes, static (chars, b) =>
        {
            for (int i = 0; i < b.Length; i++)
            {
                chars[i] = ByteToChar[b[i]];
            }
        });
    }

    /// <summary>
    /// Tokenizer keys for a "gpt2" (byte-level BPE) vocabulary: model, pre-tokenizer, tokens, types,
    /// merges, BOS/EOS/EOT/padding ids, whether to add BOS, and the chat template if any.
    /// </summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> TokenizerMetadata(
        string preTokenizer = "gpt-2",
        string bosToken = EndOfText,
        string eosToken = EndOfText,
        string? endOfTurnToken = ImEnd,
        bool addBosToken = false,
        string? chatTemplate = ChatMlTemplate)
    {
        int bos = IdOf(bosToken);
        int eos = IdOf(eosToken);
        int? eot = endOfTurnToken is null ? null : IdOf(endOfTurnToken);
        yield return new("tokenizer.ggml.model", GgufValue.FromString("gpt2"));
        yield return new("tokenizer.ggml.pre", GgufValue.FromString(preTokenizer));
        yield return new("tokenizer.ggml.tokens", GgufValue.FromStringArray(Tokens));
        yield return new("tokenizer.ggml.token_type", GgufValue.FromArray(TokenTypes.AsSpan()));
        yield return new("tokenizer.ggml.merges", GgufValue.FromStringArray(Merges));
        yield return new("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)bos));
        yield return new("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32((uint)eos));
        if (eot is { } eotId)
        {
            yield return new("tokenizer.ggml.eot_token_id", GgufValue.FromUInt32((uint)eotId));
        }

        yield return new("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)eos));
        yield return new("tokenizer.ggml.add_bos_token", GgufValue.FromBool(addBosToken));
        if (chatTemplate is not null)
        {
            yield return new("tokenizer.chat_template", GgufValue.FromString(chatTemplate));
        }
    }

    // GPT-2's mapping: printable Latin-1 bytes stand for themselves; the other 68 bytes take the
    // code points from U+0100 upward in byte order, so every byte has a visible, non-space character.
    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }
}
