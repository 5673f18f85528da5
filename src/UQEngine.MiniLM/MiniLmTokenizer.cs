using Microsoft.ML.Tokenizers;

namespace UQEngine.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2's tokenizer: BERT's uncased WordPiece (Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>):
/// basic tokenization (split on whitespace and punctuation, CJK characters one by one, control characters dropped),
/// lower-casing and accent stripping (do_lower_case, strip_accents unset), then greedy longest-match word pieces;
/// [CLS] ... [SEP] around, at most <see cref="MiniLmResources.MaxSequenceLength"/> ids in all (longer texts are cut, as
/// sentence-transformers truncates).
/// </summary>
public sealed class MiniLmTokenizer
{
    private readonly BertTokenizer _tokenizer;

    public MiniLmTokenizer(int maxSequenceLength = MiniLmResources.MaxSequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequenceLength, 3);
        MaxSequenceLength = maxSequenceLength;
        using var vocab = MiniLmResources.Open(MiniLmResources.VocabularyResource);
        _tokenizer = BertTokenizer.Create(vocab, new BertOptions
        {
            LowerCaseBeforeTokenization = true,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
            RemoveNonSpacingMarks = true,
            SplitOnSpecialTokens = false,
        });
    }

    /// <summary>Ids per text at most, [CLS] and [SEP] included.</summary>
    public int MaxSequenceLength { get; }

    public int ClassificationTokenId => _tokenizer.ClassificationTokenId;
    public int SeparatorTokenId => _tokenizer.SeparatorTokenId;
    public int PaddingTokenId => _tokenizer.PaddingTokenId;

    /// <summary>[CLS] word pieces [SEP], the word pieces cut to fit <see cref="MaxSequenceLength"/>.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = _tokenizer.EncodeToIds(text, addSpecialTokens: false);
        int n = Math.Min(pieces.Count, MaxSequenceLength - 2);
        var ids = new int[n + 2];
        ids[0] = ClassificationTokenId;
        for (int i = 0; i < n; i++) ids[i + 1] = pieces[i];
        ids[n + 1] = SeparatorTokenId;
        return ids;
    }
}
