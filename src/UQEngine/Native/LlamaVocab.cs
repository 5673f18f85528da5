namespace UQEngine.Native;

/// <summary>
/// A llama_vocab* obtained from a model (<see cref="SafeLlamaModelHandle.GetVocab"/>). Not owned: llama.cpp frees it
/// with the model, so the caller keeps the model alive (and checks it is not disposed) while using this.
/// llama.cpp's vocabulary is read-only, so these calls are thread-safe.
/// </summary>
internal readonly unsafe struct LlamaVocab(nint vocab)
{
    private readonly nint _vocab = vocab;

    /// <summary>The raw llama_vocab*, for samplers that read the vocabulary (the grammar sampler).</summary>
    internal nint Pointer => _vocab;

    public int TokenCount => LlamaNative.llama_vocab_n_tokens(_vocab);
    public int BeginningOfSequence => LlamaNative.llama_vocab_bos(_vocab);
    public int EndOfSequence => LlamaNative.llama_vocab_eos(_vocab);
    public bool AddsBeginningOfSequence => LlamaNative.llama_vocab_get_add_bos(_vocab);
    public int VocabType => LlamaNative.llama_vocab_type(_vocab);

    /// <summary>llama_vocab_is_eog: true for tokens that end generation (EOS, EOT, ...).</summary>
    public bool IsEndOfGeneration(int token) => LlamaNative.llama_vocab_is_eog(_vocab, token);

    /// <summary>
    /// llama_tokenize: writes the tokens of <paramref name="utf8"/> into <paramref name="tokens"/> and returns their
    /// count, or minus the count needed when <paramref name="tokens"/> is too small (int.MinValue on overflow).
    /// </summary>
    public int Tokenize(ReadOnlySpan<byte> utf8, Span<int> tokens, bool addSpecial, bool parseSpecial)
    {
        fixed (byte* p = utf8)
        fixed (int* t = tokens)
            return LlamaNative.llama_tokenize(_vocab, p, utf8.Length, t, tokens.Length, addSpecial, parseSpecial);
    }

    /// <summary>
    /// llama_token_to_piece: writes the bytes of one token's text into <paramref name="buffer"/> and returns their
    /// count, or minus the size needed when the buffer is too small.
    /// </summary>
    public int TokenToPiece(int token, Span<byte> buffer, int leadingSpacesToStrip = 0, bool renderSpecial = false)
    {
        fixed (byte* b = buffer)
            return LlamaNative.llama_token_to_piece(_vocab, token, b, buffer.Length, leadingSpacesToStrip, renderSpecial);
    }
}
