using System.Collections.Immutable;
using UQEngine.Gguf;
using UQEngine.Models;

using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Models;

public sealed class SyntheticLlamaModelTests
{
    [Fact]
    public void SameSeedGivesAByteIdenticalFileAndAnotherSeedDoesNot()
    {
        using var temp = new TempDirectory();
        var options = new SyntheticLlamaOptions { OutputPath = temp.File("a.gguf"), Seed = 42 };
        SyntheticLlamaModel.Write(options);
        SyntheticLlamaModel.Write(options with { OutputPath = temp.File("b.gguf") });
        SyntheticLlamaModel.Write(options with { OutputPath = temp.File("c.gguf"), Seed = 43 });

        byte[] a = File.ReadAllBytes(temp.File("a.gguf"));
        byte[] b = File.ReadAllBytes(temp.File("b.gguf"));
        byte[] c = File.ReadAllBytes(temp.File("c.gguf"));
        Assert.Equal(a, b);
        Assert.Equal(a.Length, c.Length);
        Assert.NotEqual(a, c);

        // The seed only changes weights: the header (metadata and tensor table) is identical.
        int dataOffset = (int)GgufFile.Read(temp.File("a.gguf")).DataOffset;
        Assert.Equal(a.AsSpan(0, dataOffset).ToArray(), c.AsSpan(0, dataOffset).ToArray());
    }

    [Fact]
    public void WeightsHaveTheIntendedScaleAndNormsAreOne()
    {
        using var temp = new TempDirectory();
        var file = SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = temp.File("w.gguf") });

        Assert.All(file.ReadTensorAsSingles(file.GetTensor("blk.0.attn_norm.weight")), v => Assert.Equal(1f, v));

        float[] query = file.ReadTensorAsSingles(file.GetTensor("blk.1.attn_q.weight"));
        double mean = query.Average();
        double std = Math.Sqrt(query.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(std, 0.115, 0.135); // 1/sqrt(64)

        float[] embedding = file.ReadTensorAsSingles(file.GetTensor("token_embd.weight"));
        Assert.InRange(Math.Sqrt(embedding.Select(v => (double)v * v).Average()), 0.95, 1.05);
        // Each tensor has its own stream: same-shaped tensors of different layers differ.
        Assert.NotEqual(file.ReadTensorAsSingles(file.GetTensor("blk.0.attn_q.weight")), query);
    }

    [Fact]
    public void F16WeightsAreTheF32WeightsRounded()
    {
        using var temp = new TempDirectory();
        var f32 = SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = temp.File("f32.gguf") });
        var f16 = SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = temp.File("f16.gguf"), WeightType = GgmlType.F16 });

        var tensor = f16.GetTensor("blk.0.ffn_down.weight");
        Assert.Equal(GgmlType.F16, tensor.Type);
        Assert.Equal(GgmlType.F32, f16.GetTensor("output_norm.weight").Type);
        float[] exact = f32.ReadTensorAsSingles(f32.GetTensor(tensor.Name));
        float[] rounded = f16.ReadTensorAsSingles(tensor);
        Assert.Equal(exact.Select(v => (float)(Half)v), rounded);
        Assert.True(new FileInfo(f16.Path).Length < new FileInfo(f32.Path).Length * 0.6);
    }

    [Fact]
    public void TensorTableFollowsTheLlamaLayout()
    {
        using var temp = new TempDirectory();
        var options = new SyntheticLlamaOptions
        {
            OutputPath = temp.File("wide.gguf"), EmbeddingLength = 256, LayerCount = 3, HeadCount = 8, HeadCountKv = 8, FeedForwardLength = 512,
        };
        var file = SyntheticLlamaModel.Write(options);
        int vocabulary = ByteLevelBpeVocabulary.CreateSmallEnglish().Count;

        Assert.Equal(3 * 9 + 3, file.Tensors.Length);
        Assert.Equal([256ul, (ulong)vocabulary], file.GetTensor("token_embd.weight").Dimensions);
        Assert.Equal([256ul, (ulong)vocabulary], file.GetTensor("output.weight").Dimensions);
        Assert.Equal([256ul], file.GetTensor("output_norm.weight").Dimensions);
        Assert.Equal([256ul, 256ul], file.GetTensor("blk.2.attn_q.weight").Dimensions);
        Assert.Equal([256ul, 256ul], file.GetTensor("blk.2.attn_k.weight").Dimensions);
        Assert.Equal([256ul, 512ul], file.GetTensor("blk.2.ffn_gate.weight").Dimensions);
        Assert.Equal([512ul, 256ul], file.GetTensor("blk.2.ffn_down.weight").Dimensions);
        Assert.Equal(32u, file.Metadata.GetUInt32("llama.rope.dimension_count"));
        Assert.Equal(8u, file.Metadata.GetUInt32("llama.attention.head_count_kv"));
        Assert.Equal(3u, file.Metadata.GetUInt32("llama.block_count"));
    }

    [Fact]
    public void GroupedQueryAttentionNarrowsKeyAndValue()
    {
        var layout = new LlamaGgufLayout(new LlamaHyperparameters { VocabularySize = 300, EmbeddingLength = 64, HeadCount = 4, HeadCountKv = 2 });
        var key = layout.Tensors.Single(t => t.Name == "blk.0.attn_k.weight");
        Assert.Equal(LlamaTensorRole.AttentionKey, key.Role);
        Assert.Equal(0, key.Layer);
        Assert.Equal([64ul, 32ul], key.Dimensions);
        Assert.Equal([64ul, 64ul], layout.Tensors.Single(t => t.Role == LlamaTensorRole.AttentionOutput && t.Layer == 1).Dimensions);

        var tied = new LlamaGgufLayout(new LlamaHyperparameters { VocabularySize = 300, TiedEmbeddings = true });
        Assert.DoesNotContain(tied.Tensors, t => t.Role == LlamaTensorRole.Output);
        Assert.Equal(layout.ParameterCount - 64 * 300, tied.ParameterCount);
    }

    [Theory]
    [InlineData(62, 4, 2, "multiple of HeadCount")]
    [InlineData(64, 4, 3, "multiple of HeadCountKv")]
    [InlineData(24, 8, 8, "even")]
    [InlineData(0, 4, 2, "positive")]
    public void InconsistentHyperparametersAreRejected(int embedding, int heads, int kvHeads, string expected)
    {
        var hyperparameters = new LlamaHyperparameters { VocabularySize = 300, EmbeddingLength = embedding, HeadCount = heads, HeadCountKv = kvHeads };
        var error = Assert.Throws<ArgumentException>(() => new LlamaGgufLayout(hyperparameters));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void VocabularyUsesGpt2ByteSpellingAndValidMerges()
    {
        var vocabulary = ByteLevelBpeVocabulary.CreateSmallEnglish();
        Assert.Equal("Ġ", vocabulary.Tokens[' ']);
        Assert.Equal("Ċ", vocabulary.Tokens['\n']);
        Assert.Equal("A", vocabulary.Tokens['A']);
        Assert.Equal("Ā", vocabulary.Tokens[0]);
        Assert.Equal("ÿ", vocabulary.Tokens[255]);
        Assert.Equal(256, vocabulary.Tokens.Take(256).Distinct().Count());
        Assert.Equal("HelloĠworld", ByteLevelBpeVocabulary.ToByteLevel("Hello world"));
        Assert.Equal("Ã©", ByteLevelBpeVocabulary.ToByteLevel("é")); // two UTF-8 bytes, two characters

        Assert.True(vocabulary.TryGetId("Hello", out _));
        Assert.True(vocabulary.TryGetId("Ġworld", out _));
        Assert.Equal(ByteLevelBpeVocabulary.ControlTokenType, vocabulary.TokenTypes[vocabulary.IdOf("<|im_end|>")]);
        Assert.Equal(vocabulary.Count - 3, vocabulary.IdOf("<|endoftext|>"));

        // Every merge joins two existing tokens into a token of the vocabulary.
        foreach (string merge in vocabulary.Merges)
        {
            string[] parts = merge.Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.True(vocabulary.IdOf(parts[0]) < vocabulary.IdOf(parts[0] + parts[1]));
            Assert.True(vocabulary.IdOf(parts[1]) < vocabulary.IdOf(parts[0] + parts[1]));
        }

        Assert.Throws<ArgumentException>(() => ByteLevelBpeVocabulary.Create([("ab", "c")], []));
        Assert.Throws<ArgumentException>(() => ByteLevelBpeVocabulary.Create([("a", "b"), ("a", "b")], []));
        Assert.Throws<ArgumentException>(() => ByteLevelBpeVocabulary.Create([], ["<s>", "<s>"]));
    }

    [Fact]
    public void TokenizerMetadataIsWhatLlamaCppNeeds()
    {
        using var temp = new TempDirectory();
        var metadata = SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = temp.File("t.gguf") }).Metadata;
        var tokens = metadata.GetArray<string>("tokenizer.ggml.tokens");
        Assert.Equal("gpt2", metadata.GetString("tokenizer.ggml.model"));
        Assert.Equal("gpt-2", metadata.GetString("tokenizer.ggml.pre"));
        Assert.Equal(tokens.Length, metadata.GetArray<int>("tokenizer.ggml.token_type").Length);
        Assert.Equal((uint)tokens.Length, metadata.GetUInt32("llama.vocab_size"));
        Assert.Equal("<|endoftext|>", tokens[(int)metadata.GetUInt32("tokenizer.ggml.bos_token_id")]);
        Assert.Equal("<|endoftext|>", tokens[(int)metadata.GetUInt32("tokenizer.ggml.eos_token_id")]);
        Assert.Equal("<|im_end|>", tokens[(int)metadata.GetUInt32("tokenizer.ggml.eot_token_id")]);
        Assert.False(metadata.GetBool("tokenizer.ggml.add_bos_token"));
        Assert.Equal(ByteLevelBpeVocabulary.ChatMlTemplate, metadata.GetString("tokenizer.chat_template"));
        Assert.Equal(tokens.Length, tokens.Distinct().Count()); // llama.cpp asserts unique token texts
    }

    [Fact]
    public void ExporterWritesCallerWeightsAndRejectsNonFiniteOnes()
    {
        using var temp = new TempDirectory();
        var vocabulary = ByteLevelBpeVocabulary.CreateSmallEnglish();
        var options = new LlamaGgufExportOptions
        {
            Hyperparameters = new LlamaHyperparameters { VocabularySize = vocabulary.Count, EmbeddingLength = 16, HeadCount = 2, HeadCountKv = 1, FeedForwardLength = 32, LayerCount = 1 },
            Vocabulary = vocabulary,
            ModelName = "trained",
            ChatTemplate = null,
        };

        var seen = new List<string>();
        string path = temp.File("trained.gguf");
        LlamaGgufExporter.Write(path, options, (tensor, values) =>
        {
            seen.Add(tensor.Name);
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = tensor.Layer + i * 0.001f;
            }
        });

        var file = GgufFile.Read(path);
        Assert.Equal(file.Tensors.Select(t => t.Name), seen);
        Assert.Equal("trained", file.Metadata.GetString("general.name"));
        Assert.False(file.Metadata.ContainsKey("tokenizer.chat_template"));
        float[] down = file.ReadTensorAsSingles(file.GetTensor("blk.0.ffn_down.weight"));
        Assert.Equal(0 + 5 * 0.001f, down[5]);

        var nan = Assert.Throws<ArgumentException>(() => LlamaGgufExporter.Write(temp.File("nan.gguf"), options, (tensor, values) => values.Fill(float.NaN)));
        Assert.Contains("token_embd.weight", nan.Message);
        Assert.False(File.Exists(temp.File("nan.gguf")));

        var tooBigForHalf = options with { MatrixType = GgmlType.F16 };
        Assert.Throws<ArgumentException>(() => LlamaGgufExporter.Write(temp.File("big.gguf"), tooBigForHalf, (tensor, values) => values.Fill(1e6f)));
        Assert.Throws<ArgumentException>(() => LlamaGgufExporter.Write(temp.File("q.gguf"), options with { MatrixType = GgmlType.Q8_0 }, (_, _) => { }));
        Assert.Throws<ArgumentException>(() => LlamaGgufExporter.Write(temp.File("v.gguf"), options with { Hyperparameters = options.Hyperparameters with { VocabularySize = 5 } }, (_, _) => { }));
    }

    [Fact]
    public void ParameterCountOfTheDefaultModelIsSmall()
    {
        var layout = new LlamaGgufLayout(new LlamaHyperparameters { VocabularySize = ByteLevelBpeVocabulary.CreateSmallEnglish().Count });
        ImmutableArray<LlamaTensorSpec> tensors = layout.Tensors;
        Assert.Equal(21, tensors.Length);
        Assert.InRange(layout.ParameterCount, 100_000, 130_000);
    }
}
