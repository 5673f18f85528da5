using UQEngine.MiniLM;

namespace UQEngine.Tests.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2's WordPiece in .NET against expected ids. The expected ids come from an independent reference
/// implementation of BERT's BasicTokenizer + WordPiece (clean text, CJK split, whitespace split, lower-case, NFD and
/// drop non-spacing marks, punctuation split, greedy longest match with "##", [UNK] for a word that does not fit) run
/// on the package's vocab.txt; the well-known ids ("hello" 7592, "," 1010, "world" 2088, "!" 999) anchor it.
/// </summary>
public sealed class MiniLmTokenizerTests
{
    public static readonly IReadOnlyDictionary<string, int[]> Expected = new Dictionary<string, int[]>
    {
        ["Hello, world!"] = [101, 7592, 1010, 2088, 999, 102],
        ["A man is playing a guitar."] = [101, 1037, 2158, 2003, 2652, 1037, 2858, 1012, 102],
        ["Café naïve résumé à la crème brûlée"] = [101, 7668, 15743, 13746, 1037, 2474, 13675, 21382, 7987, 9307, 2063, 102],
        ["Ünïcödé — “quotes” and ‘apostrophes’…"] = [101, 27260, 1517, 1523, 16614, 1524, 1998, 1520, 9706, 14122, 18981, 15689, 1521, 1529, 102],
        ["日本語のテキストです"] = [101, 1864, 1876, 1950, 1671, 30239, 30227, 30233, 30240, 30191, 30184, 102],
        ["don't stop-believing... (ok?) #1 $5.00 50% a+b=c"] = [101, 2123, 1005, 1056, 2644, 1011, 8929, 1012, 1012, 1012, 1006, 7929, 1029, 1007, 1001, 1015, 1002, 1019, 1012, 4002, 2753, 1003, 1037, 1009, 1038, 1027, 1039, 102],
        ["ÀÉÎÕÜ ßœæ Ελληνικά Русский"] = [101, 29347, 3695, 2226, 1096, 29674, 29667, 1159, 29727, 29727, 24824, 16177, 18199, 29726, 14608, 1195, 29748, 29747, 29747, 23925, 15414, 102],
        ["tabs\tand\nnewlines  double  spaces"] = [101, 21628, 2015, 1998, 2047, 12735, 3313, 7258, 102],
        ["emoji 😀 and ☃ snowman"] = [101, 7861, 29147, 2072, 100, 1998, 100, 4586, 2386, 102],
        [""] = [101, 102],
        ["Zaibath lives in Daixburg."] = [101, 23564, 18410, 2705, 3268, 1999, 18765, 2595, 4645, 1012, 102],
        ["The quick brown fox jumps over the lazy dog"] = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102],
    };

    public static TheoryData<string> Texts() => [.. Expected.Keys];

    [Theory]
    [MemberData(nameof(Texts))]
    public void Word_pieces_match_the_reference_uncased_bert_tokenizer(string text)
    {
        var tokenizer = new MiniLmTokenizer();
        Assert.Equal(Expected[text], tokenizer.Encode(text));
    }

    [Fact]
    public void Long_texts_are_cut_to_256_ids_with_the_separator_last()
    {
        var tokenizer = new MiniLmTokenizer();
        var ids = tokenizer.Encode(string.Join(' ', Enumerable.Repeat("guitar", 400)));
        Assert.Equal(MiniLmResources.MaxSequenceLength, ids.Length);
        Assert.Equal(101, ids[0]);
        Assert.Equal(102, ids[^1]);
    }

    [Fact]
    public void The_vocabulary_is_bert_uncased_with_its_specials()
    {
        var vocab = MiniLmResources.Vocabulary();
        Assert.Equal(30522, vocab.Count);
        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], new[] { vocab[0], vocab[100], vocab[101], vocab[102], vocab[103] });
        Assert.Equal("\u2581hello", UQEngine.Gguf.GgufVocabularySpelling.WordPiece("hello"));
        Assert.Equal("ing", UQEngine.Gguf.GgufVocabularySpelling.WordPiece("##ing"));
        Assert.Equal("[CLS]", UQEngine.Gguf.GgufVocabularySpelling.WordPiece("[CLS]"));
    }
}
