using System.Text;
using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>A model's vocabulary: tokenize, detokenize, special tokens. Thread-safe (llama.cpp's vocab is read-only).</summary>
public sealed class Vocabulary
{
    private readonly LlamaModel _model;
    private readonly LlamaVocab _vocab;
    private readonly byte[]?[] _pieces;

    internal Vocabulary(LlamaModel model, LlamaVocab vocab)
    {
        _model = model;
        _vocab = vocab;
        Count = vocab.TokenCount;
        BeginningOfSequence = vocab.BeginningOfSequence;
        EndOfSequence = vocab.EndOfSequence;
        AddsBeginningOfSequence = vocab.AddsBeginningOfSequence;
        _pieces = new byte[Count][];
    }

    /// <summary>The llama.cpp vocabulary, for samplers that read it; checks the model is alive.</summary>
    internal LlamaVocab Native { get { _model.ThrowIfDisposed(); return _vocab; } }

    public int Count { get; }
    public int BeginningOfSequence { get; }
    public int EndOfSequence { get; }
    public bool AddsBeginningOfSequence { get; }

    /// <summary>True for tokens that end generation (EOS, EOT, ...).</summary>
    public bool IsEndOfGeneration(int token) { _model.ThrowIfDisposed(); return _vocab.IsEndOfGeneration(token); }

    public bool IsValid(int token) => (uint)token < (uint)Count;

    /// <summary>Tokenizes text. addSpecial adds BOS (if the model wants it); parseSpecial turns "&lt;|im_start|&gt;" etc. into control tokens.</summary>
    public int[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        _model.ThrowIfDisposed();
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int[] tokens = new int[utf8.Length + 8];
        while (true)
        {
            int n = _vocab.Tokenize(utf8, tokens, addSpecial, parseSpecial);
            if (n >= 0) return tokens.AsSpan(0, n).ToArray();
            if (n == int.MinValue) throw new InferenceException($"tokenizing {utf8.Length} bytes overflowed llama.cpp's token count");
            tokens = new int[-n];
        }
    }

    /// <summary>The raw bytes of one token's text (may be part of a UTF-8 character). Cached.</summary>
    public ReadOnlySpan<byte> TokenBytes(int token)
    {
        if (!IsValid(token)) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is outside the vocabulary (0..{Count - 1})");
        return _pieces[token] ??= ReadPiece(token);
    }

    private byte[] ReadPiece(int token)
    {
        _model.ThrowIfDisposed();
        Span<byte> buffer = stackalloc byte[64];
        int n = _vocab.TokenToPiece(token, buffer, 0, false);
        if (n >= 0) return buffer[..n].ToArray();
        byte[] big = new byte[-n];
        n = _vocab.TokenToPiece(token, big, 0, false);
        return big.AsSpan(0, Math.Max(n, 0)).ToArray();
    }

    /// <summary>Text of one token; a partial UTF-8 sequence shows as U+FFFD. Use <see cref="TokenTextDecoder"/> for streams.</summary>
    public string TokenText(int token) => Encoding.UTF8.GetString(TokenBytes(token));

    /// <summary>Text of a token sequence (control tokens rendered as nothing).</summary>
    public string Detokenize(ReadOnlySpan<int> tokens)
    {
        var bytes = new List<byte>(tokens.Length * 4);
        foreach (int t in tokens) bytes.AddRange(TokenBytes(t));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

/// <summary>Turns a stream of tokens into text, holding back bytes of a UTF-8 character split across tokens.</summary>
public sealed class TokenTextDecoder(Vocabulary vocabulary)
{
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private char[] _chars = new char[64];

    /// <summary>Returns the text completed by this token (possibly empty).</summary>
    public string Append(int token)
    {
        ReadOnlySpan<byte> bytes = vocabulary.TokenBytes(token);
        // A held-back partial character can add up to 3 more chars than the new bytes alone.
        if (_chars.Length < bytes.Length + 8) _chars = new char[bytes.Length + 8];
        int n = _decoder.GetChars(bytes, _chars, flush: false);
        return n == 0 ? "" : new string(_chars, 0, n);
    }

    /// <summary>Flushes any held-back bytes (as U+FFFD if incomplete).</summary>
    public string Flush()
    {
        int n = _decoder.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        return new string(_chars, 0, n);
    }
}
