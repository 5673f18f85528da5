namespace UQEngine.Gguf;

/// <summary>How llama.cpp's GGUF vocabularies spell tokens that come from other tokenizer formats.</summary>
public static class GgufVocabularySpelling
{
    /// <summary>
    /// llama.cpp's WordPiece ("bert") spelling of a BERT vocabulary entry: a word start gets the phantom space "▁"
    /// (U+2581), a "##" continuation loses its marker, and bracketed specials ([CLS], [SEP], ...) stay as they are.
    /// </summary>
    public static string WordPiece(string entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.StartsWith('[') && entry.EndsWith(']') ? entry
            : entry.StartsWith("##", StringComparison.Ordinal) ? entry[2..]
            : "\u2581" + entry;
    }
}
