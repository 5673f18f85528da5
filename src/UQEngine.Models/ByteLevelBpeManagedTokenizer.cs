using Microsoft.ML.Tokenizers;

namespace UQEngine.Models;

/// <summary>The same byte-level BPE vocabulary as a managed Microsoft.ML.Tokenizers tokenizer (no llama.cpp needed).</summary>
public static class ByteLevelBpeManagedTokenizer
{
    /// <summary>
    /// A <see cref="BpeTokenizer"/> over the vocabulary's tokens and merges, byte-level, with the GPT-2 pre-tokenizer
    /// and the vocabulary's control tokens as special tokens. It gives the token ids llama.cpp gives for the same text.
    /// </summary>
    public static BpeTokenizer CreateManagedTokenizer(this ByteLevelBpeVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        var normal = new List<KeyValuePair<string, int>>(vocabulary.Count);
        for (int id = 0; id < vocabulary.Count; id++)
        {
            if (vocabulary.TokenTypes[id] == ByteLevelBpeVocabulary.ControlTokenType) special[vocabulary.Tokens[id]] = id;
            else normal.Add(new(vocabulary.Tokens[id], id));
        }

        var options = new BpeOptions(normal)
        {
            Merges = vocabulary.Merges,
            ByteLevel = true,
            SpecialTokens = special,
            PreTokenizer = new RegexPreTokenizer(ByteLevelBpeTrainer.Gpt2PreTokenizer(), special),
        };
        return BpeTokenizer.Create(options);
    }
}
