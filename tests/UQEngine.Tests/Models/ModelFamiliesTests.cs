using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Models;

/// <summary>The synthesizer's files, read back without llama.cpp: structure per family as llama.cpp's loaders expect it.</summary>
public sealed class ModelFamiliesTests
{
    private static Dictionary<string, ulong[]> Shapes(GgufFile file) => file.Tensors.ToDictionary(t => t.Name, t => t.Dimensions.ToArray());

    [Fact]
    public void Same_seed_gives_the_same_bytes_and_another_seed_other_weights()
    {
        using var temp = new TempDirectory();
        ModelFamilies.Write(ModelFamilies.Qwen3, temp.File("a.gguf"), seed: 2);
        ModelFamilies.Write(ModelFamilies.Qwen3, temp.File("b.gguf"), seed: 2);
        var c = ModelFamilies.Write(ModelFamilies.Qwen3, temp.File("c.gguf"), seed: 3);
        Assert.Equal(File.ReadAllBytes(temp.File("a.gguf")), File.ReadAllBytes(temp.File("b.gguf")));
        Assert.NotEqual(File.ReadAllBytes(temp.File("a.gguf")), File.ReadAllBytes(temp.File("c.gguf")));
        int header = (int)c.DataOffset;
        Assert.Equal(File.ReadAllBytes(temp.File("a.gguf"))[..header], File.ReadAllBytes(temp.File("c.gguf"))[..header]);
    }

    [Fact]
    public void Each_family_has_its_llama_cpp_tensors_and_shapes()
    {
        using var temp = new TempDirectory();
        GgufFile Write(ModelFamily f) => ModelFamilies.Write(f, temp.File(f.Name + ".gguf"));

        // qwen2: q/k/v biases; tied output (no output.weight); 64-wide heads, 2 kv heads.
        var qwen2 = Shapes(Write(ModelFamilies.Qwen2));
        Assert.Equal([256UL], qwen2["blk.0.attn_q.bias"]);
        Assert.Equal([128UL], qwen2["blk.1.attn_k.bias"]);
        Assert.Equal([256UL, 128UL], qwen2["blk.0.attn_v.weight"]);
        Assert.DoesNotContain("output.weight", qwen2.Keys);

        // qwen3: 128-wide heads beyond embedding / heads, per-head q/k norms, no biases.
        var qwen3File = Write(ModelFamilies.Qwen3);
        var qwen3 = Shapes(qwen3File);
        Assert.Equal([256UL, 512UL], qwen3["blk.0.attn_q.weight"]);
        Assert.Equal([512UL, 256UL], qwen3["blk.0.attn_output.weight"]);
        Assert.Equal([128UL], qwen3["blk.1.attn_q_norm.weight"]);
        Assert.Equal([128UL], qwen3["blk.1.attn_k_norm.weight"]);
        Assert.DoesNotContain(qwen3.Keys, k => k.EndsWith(".bias", StringComparison.Ordinal));
        Assert.Equal(128UL, GgufModelFacts.From(qwen3File).HeadDimension);

        // gemma2: post norms, soft-capping keys, no output tensor at all (llama.cpp always reuses token_embd).
        var gemma2File = Write(ModelFamilies.Gemma2);
        var gemma2 = Shapes(gemma2File);
        Assert.Contains("blk.0.post_attention_norm.weight", gemma2.Keys);
        Assert.Contains("blk.1.post_ffw_norm.weight", gemma2.Keys);
        Assert.DoesNotContain("output.weight", gemma2.Keys);
        Assert.Equal(30.0, GgufModelFacts.From(gemma2File).FinalLogitSoftcapping);
        Assert.True(gemma2File.Metadata.TryGetNumber("gemma2.attn_logit_softcapping", out double attnCap) && attnCap == 50);

        // gemma3: q/k norms and 6 layers (five local, one global), two RoPE bases.
        var gemma3File = Write(ModelFamilies.Gemma3);
        Assert.Contains("blk.5.attn_k_norm.weight", Shapes(gemma3File).Keys);
        Assert.True(gemma3File.Metadata.TryGetNumber("gemma3.rope.freq_base_swa", out double swaBase) && swaBase == 10000);
        Assert.Equal(128UL, GgufModelFacts.From(gemma3File).SlidingWindow);

        // phi3: fused qkv (q + 2 kv widths) and gate/up (twice n_ff), LongRoPE factor tensors of n_rot / 2, untied output.
        var phi3 = Shapes(Write(ModelFamilies.Phi3));
        Assert.Equal([256UL, 768UL], phi3["blk.0.attn_qkv.weight"]);
        Assert.Equal([256UL, 1024UL], phi3["blk.1.ffn_up.weight"]);
        Assert.DoesNotContain("blk.0.ffn_gate.weight", phi3.Keys);
        Assert.Equal([32UL], phi3["rope_factors_long.weight"]);
        Assert.Contains("output.weight", phi3.Keys);

        // mistral: the llama architecture with 1 kv head of 4 and a SentencePiece vocabulary.
        var mistralFile = Write(ModelFamilies.Mistral);
        Assert.Equal("llama", GgufModelFacts.From(mistralFile).Architecture);
        Assert.Equal([256UL, 64UL], Shapes(mistralFile)["blk.0.attn_k.weight"]);
        Assert.Equal("llama", GgufModelFacts.From(mistralFile).TokenizerModel);

        // bert: learned positions and token types, biased layer norms.
        var bert = Shapes(Write(ModelFamilies.Bert));
        Assert.Equal([256UL, 512UL], bert["position_embd.weight"]);
        Assert.Equal([256UL, 2UL], bert["token_types.weight"]);
        Assert.Contains("blk.1.layer_output_norm.bias", bert.Keys);
    }

    [Fact]
    public void Llama_rope_frequency_factors_follow_llama_3_1()
    {
        using var temp = new TempDirectory();
        var file = ModelFamilies.Write(ModelFamilies.Llama, temp.File("l.gguf"));
        float[] factors = file.ReadTensorAsSingles(file.GetTensor("rope_freqs.weight"));
        Assert.Equal(32, factors.Length);
        Assert.Equal(1f, factors[0]); // high frequencies (short wavelengths) are kept
        Assert.Equal(8f, factors[^1]); // low frequencies are divided by the factor 8
        // In between the factors rise monotonically (smooth interpolation).
        for (int i = 1; i < factors.Length; i++) Assert.True(factors[i] >= factors[i - 1]);
        Assert.Contains(factors, f => f is > 1f and < 8f);
    }

    [Fact]
    public void SentencePiece_vocabularies_have_every_byte_token_and_unique_pieces()
    {
        var v = SentencePieceVocabulary.Create([("<unk>", SentencePieceVocabulary.UnknownTokenType), ("<s>", 3), ("</s>", 3)]);
        Assert.Equal(v.Count, v.Tokens.Distinct().Count());
        for (int b = 0; b < 256; b++) Assert.Equal(SentencePieceVocabulary.ByteTokenType, v.TokenTypes[v.IdOf($"<0x{b:X2}>")]);
        Assert.True(v.Scores[v.IdOf("\u2581the")] > v.Scores[v.IdOf("t")]); // whole words outrank characters
        Assert.Throws<ArgumentException>(() => SentencePieceVocabulary.Create([("<s>", 3), ("<s>", 3)]));
    }

    [Fact]
    public void Templates_that_raise_for_system_messages_are_recognised()
    {
        foreach (var family in ModelFamilies.All.Where(f => f.ChatTemplate is not null))
        {
            string? refusal = ChatTemplate.SystemRefusal(family.ChatTemplate!);
            if (family == ModelFamilies.Gemma2) Assert.Equal("System role not supported", refusal);
            else if (family == ModelFamilies.Mistral) Assert.Equal("Only user and assistant roles are supported!", refusal);
            else Assert.Null(refusal); // "roles must alternate" is not about the system role
        }
    }

    [Fact]
    public void Unknown_families_and_sizes_are_named_in_the_error()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelFamilies.Get("falcon"));
        Assert.Contains("'falcon'", error.Message);
        Assert.Contains("qwen3", error.Message);
        using var temp = new TempDirectory();
        Assert.Contains("'huge'", Assert.Throws<ArgumentException>(() => ModelFamilies.Write(ModelFamilies.Llama, temp.File("x.gguf"), size: "huge")).Message);
        // The 0.5B-shaped bench size exists for qwen2 only; the error says so before anything is written.
        var bench = Assert.Throws<ArgumentException>(() => ModelFamilies.Write(ModelFamilies.Gemma2, temp.File("g.gguf"), size: "bench"));
        Assert.Contains("qwen2", bench.Message);
        Assert.False(File.Exists(temp.File("g.gguf")));
    }

    /// <summary>
    /// The bench size is Qwen2.5-0.5B's structure (config.json: 896 wide, 24 layers, 14 heads over 2 KV heads of 64,
    /// feed-forward 4864, 151,936 embedding rows, tied output): 494 M parameters, checked on the plan without writing
    /// the 1 GB file.
    /// </summary>
    [Fact]
    public void The_bench_size_is_shaped_like_qwen2_5_0_5b()
    {
        var (tensors, metadata) = ModelFamilies.Plan(ModelFamilies.Qwen2, "bench");
        var shapes = tensors.ToDictionary(t => t.Name, t => t.Dimensions.ToArray());
        var meta = metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal([896UL, 151_936UL], shapes["token_embd.weight"]);
        Assert.DoesNotContain("output.weight", shapes.Keys);
        Assert.Equal([896UL, 896UL], shapes["blk.23.attn_q.weight"]);
        Assert.Equal([896UL, 128UL], shapes["blk.23.attn_k.weight"]);
        Assert.Equal([128UL], shapes["blk.0.attn_v.bias"]);
        Assert.Equal([896UL, 4864UL], shapes["blk.0.ffn_gate.weight"]);
        Assert.Equal([4864UL, 896UL], shapes["blk.0.ffn_down.weight"]);
        Assert.DoesNotContain("blk.24.attn_norm.weight", shapes.Keys);
        Assert.Equal(24u, meta["qwen2.block_count"].AsUInt32());
        Assert.Equal(14u, meta["qwen2.attention.head_count"].AsUInt32());
        Assert.Equal(2u, meta["qwen2.attention.head_count_kv"].AsUInt32());
        long parameters = tensors.Sum(t => (long)t.ElementCount);
        Assert.InRange(parameters, 493_000_000, 495_000_000); // Qwen2.5-0.5B: 494,032,768
        Assert.Equal(151_936, meta["tokenizer.ggml.tokens"].Count);
        Assert.Equal("qwen2", meta["tokenizer.ggml.pre"].AsString());
    }
}
