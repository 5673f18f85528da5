using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using UQEngine.Gguf;

namespace UQEngine.Models;

/// <summary>How the synthesizer fills a tensor.</summary>
public enum SynthesizedFill
{
    /// <summary>Norm weights: 1.</summary>
    Ones,

    /// <summary>Matrices: normal with standard deviation 1/sqrt(input width) (token embeddings: 1).</summary>
    Normal,

    /// <summary>Token embeddings that are also the output projection: normal with standard deviation 1/sqrt(width), so logits stay near unit scale.</summary>
    TiedEmbedding,

    /// <summary>Biases: normal with standard deviation 0.1, so a bias the graph skipped would change the numbers.</summary>
    Bias,

    /// <summary>Given values (RoPE frequency factors).</summary>
    Values,
}

/// <summary>One tensor of a synthesized model: GGUF name, extents in ggml order (innermost first), and how it is filled.</summary>
public sealed record SynthesizedTensor(string Name, ImmutableArray<ulong> Dimensions, SynthesizedFill Fill, ImmutableArray<float> Values = default)
{
    public int ElementCount => checked((int)Dimensions.Aggregate(1UL, (a, d) => a * d));
    public bool IsMatrix => Dimensions.Length >= 2;
}

/// <summary>
/// A model family the synthesizer writes: llama.cpp's architecture, the family's tensors, metadata keys,
/// tokenizer type, pre-tokenizer and published chat template (<see cref="ModelFamilies"/>).
/// </summary>
/// <param name="Name">The name for <c>uqengine model synth --family</c>.</param>
/// <param name="Architecture">"general.architecture" (llama.cpp's LLM_ARCH name).</param>
/// <param name="Description">What real models the structure follows and what the tiny size keeps.</param>
/// <param name="TokenizerModel">"tokenizer.ggml.model": gpt2 (byte-level BPE), llama (SentencePiece) or bert (WordPiece).</param>
/// <param name="PreTokenizer">"tokenizer.ggml.pre", or null when the family writes none.</param>
/// <param name="ChatTemplateName">The embedded template file (Templates/NAME.jinja), or null for a model without one.</param>
/// <param name="IsGenerative">False for an embedding model (bert): no logits, no generation.</param>
public sealed record ModelFamily(string Name, string Architecture, string Description, string TokenizerModel, string? PreTokenizer, string? ChatTemplateName, bool IsGenerative)
{
    /// <summary>The family's published chat template (the Jinja text of its tokenizer_config.json), or null.</summary>
    public string? ChatTemplate => ChatTemplateName is null ? null : ModelFamilies.Template(ChatTemplateName);
}

/// <summary>
/// The model families people run, as llama.cpp loads them (tensor names and shapes checked against llama.cpp's
/// per-architecture loaders, src/models/ARCH.cpp load_arch_tensors / load_arch_hparams), and
/// <see cref="Write"/>, which synthesizes one: random seeded weights in the family's real structure, at a tiny size.
/// </summary>
public static class ModelFamilies
{
    /// <summary>
    /// Sizes the synthesizer writes: "tiny" (every family, F32, 256 wide: for tests) and "bench" (qwen2 only: the
    /// shape of Qwen2.5-0.5B, 896 wide, 24 layers, 151,936-token vocabulary, F16 matrices: for speed figures).
    /// </summary>
    public static readonly ImmutableArray<string> Sizes = ["tiny", "bench"];


    public static readonly ModelFamily Llama = new("llama", "llama",
        "Llama 3.2 style: GQA, RoPE base 500000 with Llama 3.1 frequency factors (rope_freqs), tied output, byte-level BPE with the llama-bpe pre-tokenizer, Llama 3 header template",
        "gpt2", "llama-bpe", "llama3", true);

    public static readonly ModelFamily Qwen2 = new("qwen2", "qwen2",
        "Qwen2.5-0.5B style: QKV biases, GQA, RoPE base 1000000, tied output, byte-level BPE with the qwen2 pre-tokenizer, ChatML template with tools",
        "gpt2", "qwen2", "qwen2", true);

    public static readonly ModelFamily Qwen3 = new("qwen3", "qwen3",
        "Qwen3-0.6B style: per-head q/k RMS norms, head width 128 independent of the model width (attention.key_length), GQA, tied output, qwen2 pre-tokenizer, ChatML template with thinking",
        "gpt2", "qwen2", "qwen3", true);

    public static readonly ModelFamily Gemma2 = new("gemma2", "gemma2",
        "Gemma 2 style: sliding-window attention on every other layer, attention and final logit soft-capping, post-attention and post-feed-forward norms, head width via key_length, embeddings always tied, SentencePiece vocabulary",
        "llama", "default", "gemma2", true);

    public static readonly ModelFamily Gemma3 = new("gemma3", "gemma3",
        "Gemma 3 1B style: q/k norms, five sliding-window layers per global layer (6 layers), separate RoPE bases for local and global layers, tied embeddings, SentencePiece vocabulary",
        "llama", "default", "gemma3", true);

    public static readonly ModelFamily Phi3 = new("phi3", "phi3",
        "Phi-3.5-mini style: fused attn_qkv and gate/up (ffn_up of twice the feed-forward width), LongRoPE factors (rope_factors_long/short), 128k declared context, untied output, SentencePiece vocabulary",
        "llama", "default", "phi3", true);

    public static readonly ModelFamily Mistral = new("mistral", "llama",
        "Mistral 7B v0.1 style: the llama architecture with a 4096-token sliding window declared (llama.attention.sliding_window; llama.cpp's llama graph attends over the whole context), GQA 4:1, untied output, SentencePiece vocabulary, [INST] template",
        "llama", "default", "mistral", true);

    public static readonly ModelFamily Bert = new("bert", "bert",
        "BERT / all-MiniLM style embedding model: learned positions, token types, layer norms with biases, non-causal attention, mean pooling, WordPiece vocabulary",
        "bert", null, null, false);

    /// <summary>Every family, in the order of the support matrix.</summary>
    public static readonly ImmutableArray<ModelFamily> All = [Llama, Qwen2, Qwen3, Gemma2, Gemma3, Phi3, Mistral, Bert];

    /// <summary>The families the bench size exists for.</summary>
    public static readonly ImmutableArray<ModelFamily> BenchFamilies = [Qwen2]; // after Qwen2: statics initialise in order

    /// <summary>The family of that name.</summary>
    /// <exception cref="ArgumentException">No family has that name (the message lists them).</exception>
    public static ModelFamily Get(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown model family '{name}'; the families are {string.Join(", ", All.Select(f => f.Name))}", nameof(name));

    /// <summary>An embedded chat template by file name (Templates/NAME.jinja).</summary>
    internal static string Template(string name)
    {
        using var stream = typeof(ModelFamilies).Assembly.GetManifestResourceStream($"UQEngine.Models.Templates.{name}.jinja")
            ?? throw new InvalidOperationException($"the chat template '{name}' is not embedded in {typeof(ModelFamilies).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Writes a synthesized model of <paramref name="family"/> to <paramref name="path"/> and returns it as read back
    /// and validated (<see cref="GgufModelValidator"/>). The same family, size and seed give a byte-identical file.
    /// A <c>vocabulary</c> (a tiktoken encoding, <see cref="TiktokenVocabulary.Encodings"/>) replaces the family's small
    /// one, with its llama.cpp pre-tokenizer and the family's special tokens appended where it lacks them (byte-level BPE
    /// families only); the embedding rows follow its size.
    /// </summary>
    /// <exception cref="ArgumentException">The size is not one of <see cref="Sizes"/>, or the vocabulary is unknown or does not fit the family.</exception>
    public static GgufFile Write(ModelFamily family, string path, string size = "tiny", ulong seed = 1, string? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(path);
        if (!Sizes.Contains(size)) throw new ArgumentException($"unknown size '{size}'; the sizes are {string.Join(", ", Sizes)}", nameof(size));
        if (size == "bench" && !BenchFamilies.Contains(family))
            throw new ArgumentException($"the bench size exists for {string.Join(", ", BenchFamilies.Select(f => f.Name))} only, not '{family.Name}'", nameof(size));
        if (vocabulary is not null && size == "bench")
            throw new ArgumentException($"the bench size has its own vocabulary (o200k's first 151,643 ranks and Qwen2.5's special tokens); a tiktoken vocabulary ({vocabulary}) is for the tiny size", nameof(vocabulary));
        var plan = Plan(family, size, vocabulary);
        // The bench size stores its matrices as F16, as the real models' F16 releases do; 1-D tensors stay F32 (llama.cpp's CPU norms need it).
        bool half = size == "bench";
        GgmlType TypeOf(SynthesizedTensor t) => half && t.IsMatrix ? GgmlType.F16 : GgmlType.F32;
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.architecture", GgufValue.FromString(family.Architecture));
            writer.AddMetadata("general.type", GgufValue.FromString("model"));
            writer.AddMetadata("general.name", GgufValue.FromString($"uqengine-synth-{family.Name}-{size}" + (vocabulary is null ? "" : "-" + vocabulary)));
            writer.AddMetadata("general.size_label", GgufValue.FromString(size));
            writer.AddMetadata("general.file_type", GgufValue.FromUInt32(half ? LlamaFileType.MostlyF16 : LlamaFileType.AllF32));
            foreach (var (key, value) in plan.Metadata) writer.AddMetadata(key, value);
            foreach (var t in plan.Tensors) writer.AddTensor(t.Name, TypeOf(t), t.Dimensions.AsSpan());
            int largest = plan.Tensors.Max(t => t.ElementCount);
            var buffer = new float[largest];
            var halves = half ? new Half[largest] : [];
            foreach (var t in plan.Tensors)
            {
                var values = buffer.AsSpan(0, t.ElementCount);
                Fill(seed, t, values);
                if (TypeOf(t) == GgmlType.F16)
                {
                    var h = halves.AsSpan(0, t.ElementCount);
                    System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, h);
                    writer.WriteTensorData(h);
                }
                else
                {
                    writer.WriteTensorData(values);
                }
            }

            writer.Complete();
        }

        var file = GgufFile.Read(path);
        GgufModelValidator.Validate(file);
        return file;
    }

    /// <summary>
    /// The tensors and architecture/tokenizer metadata of a family at a size (<see cref="Sizes"/>), with its own vocabulary
    /// or the tiktoken <paramref name="encoding"/> (see <see cref="Write"/>).
    /// </summary>
    public static (ImmutableArray<SynthesizedTensor> Tensors, ImmutableArray<KeyValuePair<string, GgufValue>> Metadata) Plan(ModelFamily family, string size = "tiny", string? encoding = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        bool bench = size == "bench";
        if (encoding is not null && family.TokenizerModel != "gpt2")
            throw new ArgumentException($"family '{family.Name}' has a {(family.TokenizerModel == "bert" ? "WordPiece" : "SentencePiece")} vocabulary; a tiktoken vocabulary ({encoding}) fits the byte-level BPE families only: {string.Join(", ", All.Where(f => f.TokenizerModel == "gpt2").Select(f => f.Name))}", nameof(encoding));
        var tensors = ImmutableArray.CreateBuilder<SynthesizedTensor>();
        var metadata = ImmutableArray.CreateBuilder<KeyValuePair<string, GgufValue>>();
        string a = family.Architecture + ".";
        void Meta(string key, GgufValue value) => metadata.Add(new(key, value));
        void U32(string key, int value) => Meta(a + key, GgufValue.FromUInt32((uint)value));
        void F32(string key, float value) => Meta(a + key, GgufValue.FromFloat32(value));
        void T(string name, SynthesizedFill fill, params ulong[] dims) => tensors.Add(new SynthesizedTensor(name, [.. dims], fill));
        string Blk(int l, string suffix) => "blk." + l.ToString(CultureInfo.InvariantCulture) + "." + suffix;

        // Tiny: 256 wide (a K-quant super-block, so Q4_K_M applies to every matrix), 2 layers unless the family's
        // layer pattern needs more, 4 query heads; the feed-forward is twice the width.
        // Bench (Qwen2.5-0.5B's config.json): 896 wide, 24 layers, 14 query heads of 64 over 2 KV heads, feed-forward 4864.
        int embd = bench ? 896 : 256, ff = bench ? 4864 : 512;
        int layers = bench ? 24 : family == Gemma3 ? 6 : 2;
        int heads = bench ? 14 : 4;
        int kvHeads = family == Mistral ? 1 : family == Phi3 ? 4 : 2;
        int headDim = family == Qwen3 || family == Gemma2 || family == Gemma3 ? 128 : embd / heads;
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;

        if (family == Bert)
        {
            var vocabulary = WordPieceVocabulary.Create();
            int positions = 512;
            U32("context_length", positions);
            U32("embedding_length", embd);
            U32("feed_forward_length", ff);
            U32("block_count", layers);
            U32("attention.head_count", heads);
            F32("attention.layer_norm_epsilon", 1e-12f);
            Meta(a + "attention.causal", GgufValue.FromBool(false));
            U32("pooling_type", 1); // mean, as sentence-transformers pools
            foreach (var kv in vocabulary.TokenizerMetadata()) metadata.Add(kv);
            ulong e = (ulong)embd, f = (ulong)ff, v = (ulong)vocabulary.Count;
            T("token_embd.weight", SynthesizedFill.Normal, e, v);
            T("token_types.weight", SynthesizedFill.Normal, e, 2);
            T("position_embd.weight", SynthesizedFill.Normal, e, (ulong)positions);
            T("token_embd_norm.weight", SynthesizedFill.Ones, e);
            T("token_embd_norm.bias", SynthesizedFill.Bias, e);
            for (int l = 0; l < layers; l++)
            {
                foreach (string p in new[] { "attn_q", "attn_k", "attn_v", "attn_output" })
                {
                    T(Blk(l, p + ".weight"), SynthesizedFill.Normal, e, e);
                    T(Blk(l, p + ".bias"), SynthesizedFill.Bias, e);
                }

                T(Blk(l, "attn_output_norm.weight"), SynthesizedFill.Ones, e);
                T(Blk(l, "attn_output_norm.bias"), SynthesizedFill.Bias, e);
                T(Blk(l, "ffn_up.weight"), SynthesizedFill.Normal, e, f);
                T(Blk(l, "ffn_up.bias"), SynthesizedFill.Bias, f);
                T(Blk(l, "ffn_down.weight"), SynthesizedFill.Normal, f, e);
                T(Blk(l, "ffn_down.bias"), SynthesizedFill.Bias, e);
                T(Blk(l, "layer_output_norm.weight"), SynthesizedFill.Ones, e);
                T(Blk(l, "layer_output_norm.bias"), SynthesizedFill.Bias, e);
            }

            return (tensors.ToImmutable(), metadata.ToImmutable());
        }

        int vocabularySize = AddTokenizer(family, bench, Meta, encoding);
        ulong E = (ulong)embd, V = (ulong)vocabularySize, FF = (ulong)ff, Q = (ulong)qWidth, KV = (ulong)kvWidth, HD = (ulong)headDim;

        int context = family == Llama || family == Phi3 ? 131072 : family == Qwen2 ? 32768 : family == Qwen3 ? 40960 : family == Mistral ? 32768 : family == Gemma3 ? 32768 : 8192;
        if (family.Architecture == "llama") U32("vocab_size", vocabularySize);
        U32("context_length", context);
        U32("embedding_length", embd);
        U32("feed_forward_length", ff);
        U32("block_count", layers);
        U32("attention.head_count", heads);
        U32("attention.head_count_kv", kvHeads);
        F32("attention.layer_norm_rms_epsilon", family == Gemma2 || family == Gemma3 ? 1e-6f : family == Mistral || family == Llama || family == Phi3 ? 1e-5f : 1e-6f);
        U32("rope.dimension_count", headDim);
        if (headDim != embd / heads)
        {
            U32("attention.key_length", headDim);
            U32("attention.value_length", headDim);
        }

        float ropeBase = family == Llama ? 500000f : family == Qwen2 || family == Qwen3 || family == Gemma3 ? 1000000f : 10000f;
        F32("rope.freq_base", ropeBase);
        if (family == Gemma2)
        {
            F32("attn_logit_softcapping", 50f);
            F32("final_logit_softcapping", 30f);
            U32("attention.sliding_window", 128); // Gemma 2 uses 4096: scaled down so tiny contexts cross it
        }
        else if (family == Gemma3)
        {
            U32("attention.sliding_window", 128); // Gemma 3 1B uses 512
            F32("rope.freq_base_swa", 10000f);
        }
        else if (family == Mistral)
        {
            U32("attention.sliding_window", 4096);
        }
        else if (family == Phi3)
        {
            U32("rope.scaling.original_context_length", 4096);
            F32("rope.scaling.attn_factor", 1.1902381f); // sqrt(1 + ln(32) / ln(4096)), Phi-3.5's LongRoPE scale
            U32("attention.sliding_window", 262144);
        }

        bool tied = family != Phi3 && family != Mistral;
        T("token_embd.weight", tied ? SynthesizedFill.TiedEmbedding : SynthesizedFill.Normal, E, V);
        if (family == Llama) tensors.Add(new SynthesizedTensor("rope_freqs.weight", [HD / 2], SynthesizedFill.Values, Llama31RopeFactors(headDim, ropeBase)));
        for (int l = 0; l < layers; l++)
        {
            T(Blk(l, "attn_norm.weight"), SynthesizedFill.Ones, E);
            if (family == Phi3)
            {
                T(Blk(l, "attn_qkv.weight"), SynthesizedFill.Normal, E, Q + 2 * KV);
            }
            else
            {
                T(Blk(l, "attn_q.weight"), SynthesizedFill.Normal, E, Q);
                T(Blk(l, "attn_k.weight"), SynthesizedFill.Normal, E, KV);
                T(Blk(l, "attn_v.weight"), SynthesizedFill.Normal, E, KV);
            }

            if (family == Qwen2)
            {
                T(Blk(l, "attn_q.bias"), SynthesizedFill.Bias, Q);
                T(Blk(l, "attn_k.bias"), SynthesizedFill.Bias, KV);
                T(Blk(l, "attn_v.bias"), SynthesizedFill.Bias, KV);
            }

            if (family == Qwen3 || family == Gemma3)
            {
                T(Blk(l, "attn_q_norm.weight"), SynthesizedFill.Ones, HD);
                T(Blk(l, "attn_k_norm.weight"), SynthesizedFill.Ones, HD);
            }

            T(Blk(l, "attn_output.weight"), SynthesizedFill.Normal, Q, E);
            if (family == Gemma2 || family == Gemma3) T(Blk(l, "post_attention_norm.weight"), SynthesizedFill.Ones, E);
            T(Blk(l, "ffn_norm.weight"), SynthesizedFill.Ones, E);
            if (family == Phi3)
            {
                T(Blk(l, "ffn_up.weight"), SynthesizedFill.Normal, E, 2 * FF);
            }
            else
            {
                T(Blk(l, "ffn_gate.weight"), SynthesizedFill.Normal, E, FF);
                T(Blk(l, "ffn_up.weight"), SynthesizedFill.Normal, E, FF);
            }

            T(Blk(l, "ffn_down.weight"), SynthesizedFill.Normal, FF, E);
            if (family == Gemma2 || family == Gemma3) T(Blk(l, "post_ffw_norm.weight"), SynthesizedFill.Ones, E);
            if (family == Phi3 && l == 0)
            {
                // LongRoPE: one pair for the model (llama.cpp reads layer 0's and shares it), n_rot / 2 factors each.
                tensors.Add(new SynthesizedTensor("rope_factors_long.weight", [HD / 2], SynthesizedFill.Values, [.. Enumerable.Range(0, headDim / 2).Select(i => 1f + 0.5f * i)]));
                tensors.Add(new SynthesizedTensor("rope_factors_short.weight", [HD / 2], SynthesizedFill.Values, [.. Enumerable.Range(0, headDim / 2).Select(i => 1f + 0.02f * i)]));
            }
        }

        T("output_norm.weight", SynthesizedFill.Ones, E);
        if (!tied) T("output.weight", SynthesizedFill.Normal, E, V);
        return (tensors.ToImmutable(), metadata.ToImmutable());
    }

    /// <summary>Qwen2.5's special tokens, in id order from 151,643 (its tokenizer_config.json added_tokens).</summary>
    public static readonly ImmutableArray<string> Qwen25SpecialTokens =
    [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
        "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
        "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    ];

    /// <summary>
    /// The byte-level BPE vocabulary a family is written with at the tiny size: its small English one, or the tiktoken
    /// <paramref name="encoding"/> with the family's special tokens appended where missing.
    /// </summary>
    public static ByteLevelBpeVocabulary ByteLevelVocabularyOf(ModelFamily family, string? encoding = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        string[] specials = family == Llama ? ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
            : family == Qwen3 ? [ByteLevelBpeVocabulary.EndOfText, ByteLevelBpeVocabulary.ImStart, ByteLevelBpeVocabulary.ImEnd, "<think>", "</think>"]
            : family == Qwen2 ? [ByteLevelBpeVocabulary.EndOfText, ByteLevelBpeVocabulary.ImStart, ByteLevelBpeVocabulary.ImEnd]
            : throw new ArgumentException($"family '{family.Name}' has no byte-level BPE vocabulary", nameof(family));
        return encoding is null ? ByteLevelBpeVocabulary.CreateSmallEnglish(specials) : TiktokenVocabulary.Create(encoding).WithSpecialTokens(specials);
    }

    // Writes the family's tokenizer keys and returns the vocabulary size.
    private static int AddTokenizer(ModelFamily family, bool bench, Action<string, GgufValue> meta, string? encoding)
    {
        string? template = family.ChatTemplate;
        IEnumerable<KeyValuePair<string, GgufValue>> keys;
        int count;
        // A real vocabulary brings its own pre-tokenizer: the family's would split text differently from the encoding's regex.
        string? pre = encoding is null ? family.PreTokenizer : TiktokenVocabulary.PreTokenizerOf(encoding);
        if (family == Llama)
        {
            var v = ByteLevelVocabularyOf(family, encoding);
            keys = v.TokenizerMetadata(pre!, bosToken: "<|begin_of_text|>", eosToken: "<|end_of_text|>", endOfTurnToken: "<|eot_id|>", addBosToken: true, chatTemplate: template);
            count = v.Count;
        }
        else if (family == Qwen2 || family == Qwen3)
        {
            // Bench: Qwen2.5's 151,643 ordinary tokens are not served here; o200k's first 151,643 stand in (real byte
            // strings and merges), then Qwen2.5's 22 specials, padded to its 151,936 embedding rows.
            var v = bench ? TiktokenVocabulary.Create("o200k_base", firstRanks: 151_643, specialTokens: Qwen25SpecialTokens, size: 151_936)
                : ByteLevelVocabularyOf(family, encoding);
            keys = v.TokenizerMetadata(pre!, bosToken: ByteLevelBpeVocabulary.EndOfText, eosToken: ByteLevelBpeVocabulary.ImEnd, endOfTurnToken: ByteLevelBpeVocabulary.ImEnd, addBosToken: false, chatTemplate: template);
            count = v.Count;
        }
        else if (family == Gemma2 || family == Gemma3)
        {
            const int c = SentencePieceVocabulary.ControlTokenType;
            var v = SentencePieceVocabulary.Create([("<pad>", c), ("<eos>", c), ("<bos>", c), ("<unk>", SentencePieceVocabulary.UnknownTokenType), ("<mask>", c), ("<start_of_turn>", c), ("<end_of_turn>", c)]);
            keys = v.TokenizerMetadata("<bos>", "<eos>", "<unk>", "<end_of_turn>", "<pad>", addBosToken: true, addSpacePrefix: false, template);
            count = v.Count;
        }
        else if (family == Phi3)
        {
            const int c = SentencePieceVocabulary.ControlTokenType;
            var v = SentencePieceVocabulary.Create([("<unk>", SentencePieceVocabulary.UnknownTokenType), ("<s>", c), ("</s>", c), ("<|endoftext|>", c), ("<|assistant|>", c), ("<|system|>", c), ("<|end|>", c), ("<|user|>", c)]);
            keys = v.TokenizerMetadata("<s>", "<|endoftext|>", "<unk>", "<|end|>", "<|endoftext|>", addBosToken: false, addSpacePrefix: true, template);
            count = v.Count;
        }
        else if (family == Mistral)
        {
            const int c = SentencePieceVocabulary.ControlTokenType;
            var v = SentencePieceVocabulary.Create([("<unk>", SentencePieceVocabulary.UnknownTokenType), ("<s>", c), ("</s>", c)]);
            keys = v.TokenizerMetadata("<s>", "</s>", "<unk>", null, null, addBosToken: true, addSpacePrefix: true, template);
            count = v.Count;
        }
        else
        {
            throw new ArgumentException($"family '{family.Name}' has no generative tokenizer", nameof(family));
        }

        foreach (var (key, value) in keys) meta(key, value);
        return count;
    }

    /// <summary>
    /// Llama 3.1's RoPE frequency factors (what its GGUF stores as rope_freqs.weight): factor 8, low/high frequency
    /// factors 1 and 4, original context 8192; wavelengths between the two bands are interpolated smoothly.
    /// </summary>
    public static ImmutableArray<float> Llama31RopeFactors(int ropeDimensions, float ropeBase)
    {
        const double factor = 8, lowFreqFactor = 1, highFreqFactor = 4, original = 8192;
        double lowWavelength = original / lowFreqFactor, highWavelength = original / highFreqFactor;
        var result = new float[ropeDimensions / 2];
        for (int i = 0; i < result.Length; i++)
        {
            double frequency = 1.0 / Math.Pow(ropeBase, 2.0 * i / ropeDimensions);
            double wavelength = 2 * Math.PI / frequency;
            if (wavelength < highWavelength) result[i] = 1f;
            else if (wavelength > lowWavelength) result[i] = (float)factor;
            else
            {
                double smooth = (original / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                result[i] = (float)(1 / ((1 - smooth) / factor + smooth));
            }
        }

        return [.. result];
    }

    private static void Fill(ulong seed, SynthesizedTensor tensor, Span<float> destination)
    {
        switch (tensor.Fill)
        {
            case SynthesizedFill.Ones:
                destination.Fill(1f);
                return;
            case SynthesizedFill.Values:
                tensor.Values.AsSpan().CopyTo(destination);
                return;
        }

        // Each tensor draws from its own stream (seed and name), as SyntheticLlamaModel's do.
        var random = new SplitMix64Random(seed ^ SyntheticLlamaModel.StableHash(tensor.Name));
        double std = tensor.Fill == SynthesizedFill.Bias ? 0.1
            : tensor.Fill == SynthesizedFill.TiedEmbedding ? 1.0 / Math.Sqrt(tensor.Dimensions[0])
            : tensor.Name is "token_embd.weight" or "position_embd.weight" or "token_types.weight" ? 1.0
            : 1.0 / Math.Sqrt(tensor.Dimensions[0]);
        random.FillNormal(destination, std);
    }
}
