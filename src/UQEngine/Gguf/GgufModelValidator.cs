using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace UQEngine.Gguf;

/// <summary>
/// Semantic checks of a structurally valid <see cref="GgufFile"/> against the limits of the bundled llama.cpp:
/// files that break them make llama.cpp abort (GGML_ASSERT), crash (SIGSEGV) or throw an uncaught C++ exception
/// while loading or decoding, which would take the host process down. Each rule mirrors one limit of llama.cpp
/// (named beside it); every problem found is listed, one line each, naming the key or tensor and its value.
/// Tensor data is not read.
/// </summary>
public static class GgufModelValidator
{
    /// <summary>LLAMA_MAX_LAYERS (src/llama-hparams.h): per-layer arrays are sized by it.</summary>
    public const int MaxLayers = 512;

    /// <summary>LLAMA_MAX_EXPERTS (src/llama-hparams.h, "Qwen3 Next"): load_hparams asserts n_expert &lt;= it.</summary>
    public const int MaxExperts = 512;

    /// <summary>TENSOR_ALIGNMENT (ggml/src/ggml-backend.cpp): the CPU backend asserts that a memory-mapped buffer is aligned to it.</summary>
    public const uint MinAlignment = 32;

    /// <summary>Tokenizer names llama.cpp knows (src/llama-vocab.cpp, llama_vocab::impl::load); any other throws there.</summary>
    public static readonly ImmutableArray<string> KnownTokenizerModels = ["llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "no_vocab", "none"];

    /// <summary>LLAMA_ROPE_SCALING_TYPES (src/llama-model.cpp): load_hparams asserts the name is one of them.</summary>
    public static readonly ImmutableArray<string> KnownRopeScalingTypes = ["none", "linear", "yarn", "longrope"];

    private static readonly string[] SpecialTokenKeys =
    [
        "bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "seperator_token_id", "cls_token_id",
        "mask_token_id", "eot_token_id", "eom_token_id", "prefix_token_id", "suffix_token_id", "middle_token_id",
    ];

    /// <summary>Throws a <see cref="GgufFormatException"/> listing every problem, if there is any.</summary>
    public static void Validate(GgufFile file)
    {
        var problems = FindProblems(file);
        if (problems.Count == 1)
        {
            throw new GgufFormatException(file.Path, problems[0]);
        }

        if (problems.Count > 1)
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"{problems.Count} problems that llama.cpp cannot load safely:");
            foreach (string problem in problems)
            {
                text.Append("\n  - ").Append(problem);
            }

            throw new GgufFormatException(file.Path, text.ToString());
        }
    }

    /// <summary>Every problem found, one line each; empty when the file passes.</summary>
    public static IReadOnlyList<string> FindProblems(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var problems = new List<string>();
        CheckAlignment(file, problems);
        CheckTensorTypes(file, problems);
        CheckHyperparameters(file, problems);
        CheckVocabulary(file, problems);
        return problems;
    }

    private static void CheckAlignment(GgufFile file, List<string> problems)
    {
        // gguf.cpp only needs a power of two (the reader checks that); ggml's CPU backend asserts that the
        // memory-mapped tensor data starts on a TENSOR_ALIGNMENT boundary, which a smaller alignment does not give.
        if (file.Alignment < MinAlignment)
        {
            problems.Add($"'{GgufReader.AlignmentKey}' is {file.Alignment}; llama.cpp's CPU backend needs tensor data aligned to at least {MinAlignment} bytes (TENSOR_ALIGNMENT)");
        }
    }

    private static bool IsIntegerOrF64(GgmlType type) => type is GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64 or GgmlType.F64;

    // Q8_1 and Q8_K are the types ggml-cpu quantizes activations to: its type_traits_cpu give them no vec_dot and
    // ggml's type_traits no to_float, so as a weight a matmul or get_rows calls a null function (SIGSEGV).
    private static bool IsActivationOnly(GgmlType type) => type is GgmlType.Q8_1 or GgmlType.Q8_K;

    private static void CheckTensorTypes(GgufFile file, List<string> problems)
    {
        foreach (var tensor in file.Tensors)
        {
            if (!tensor.Name.EndsWith(".weight", StringComparison.Ordinal) && !tensor.Name.EndsWith(".bias", StringComparison.Ordinal))
            {
                continue;
            }

            string role = tensor.Name == "token_embd.weight" ? "the token embedding"
                : tensor.Name.EndsWith("norm.weight", StringComparison.Ordinal) ? "a norm weight"
                : tensor.Name.EndsWith(".bias", StringComparison.Ordinal) ? "a bias"
                : tensor.Dimensions.Length >= 2 ? "a matmul weight"
                : "a weight";
            if (IsIntegerOrF64(tensor.Type))
            {
                // ggml's CPU kernels have no matmul, get_rows or norm multiply for integer (or F64) weights: such a
                // tensor reads out of bounds (SIGSEGV) or hits GGML_ASSERT/GGML_ABORT in ggml-cpu.
                problems.Add($"tensor '{tensor.Name}' has type {tensor.Type}; {role} must be a float (F32, F16, BF16) or quantized type");
            }
            else if (IsActivationOnly(tensor.Type))
            {
                problems.Add($"tensor '{tensor.Name}' has type {tensor.Type}; ggml uses {tensor.Type} for activations only (no dot product or dequantization), so {role} cannot have it");
            }
            else if (tensor.Dimensions.Length == 1 && tensor.Type != GgmlType.F32)
            {
                // A 1-D weight (norm, bias, rope factors) is applied to F32 activations with ggml_mul/ggml_add, and
                // ggml-cpu's binary ops (binary-ops.cpp) take only an F32 second operand there: anything else aborts
                // with "binary_op: unsupported types". llama.cpp's converters and quantizer keep them F32.
                problems.Add($"tensor '{tensor.Name}' has type {tensor.Type}; {role} with one dimension must be F32");
            }
        }
    }

    private static void CheckHyperparameters(GgufFile file, List<string> problems)
    {
        var metadata = file.Metadata;
        if (!metadata.TryGetString("general.architecture", out string? arch) || arch.Length == 0)
        {
            problems.Add("'general.architecture' is missing; llama.cpp needs it to know which keys and tensors to load");
            return;
        }

        string prefix = arch + ".";

        // Block count: required by load_hparams; per-layer arrays hold LLAMA_MAX_LAYERS entries.
        string blockKey = prefix + "block_count";
        long? blockCount = null;
        if (!metadata.TryGetValue(blockKey, out var blockValue))
        {
            problems.Add($"'{blockKey}' is missing");
        }
        else if (!blockValue.TryConvertToInt64(out long blocks))
        {
            problems.Add($"'{blockKey}' is {Describe(blockValue)}; it must be an integer");
        }
        else if (blocks is < 1 or > MaxLayers)
        {
            problems.Add($"'{blockKey}' is {blocks}; llama.cpp supports 1 to {MaxLayers} blocks (LLAMA_MAX_LAYERS)");
        }
        else
        {
            blockCount = blocks;
        }

        if (blockCount is { } layerCount)
        {
            CheckLayerTensors(file, blockKey, layerCount, problems);
        }

        CheckExperts(metadata, prefix, problems);

        foreach (string epsilonKey in new[] { prefix + "attention.layer_norm_rms_epsilon", prefix + "attention.layer_norm_epsilon" })
        {
            if (metadata.TryGetValue(epsilonKey, out var value))
            {
                if (!value.TryConvertToDouble(out double epsilon))
                {
                    problems.Add($"'{epsilonKey}' is {Describe(value)}; it must be a number");
                }
                else if (!double.IsFinite(epsilon) || epsilon < 0)
                {
                    // 0 is allowed: llama.cpp's own model saver writes the epsilon of the norm an architecture does not use as 0.
                    problems.Add($"'{epsilonKey}' is {Format(epsilon)}; a norm epsilon must be finite and not negative");
                }
            }
        }

        // load_hparams: GGML_ASSERT(hparams.rope_scaling_type_train != LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED), i.e. an
        // unknown name aborts. (A value that is not a string is a clean get_key error.)
        if (metadata.TryGetString(prefix + "rope.scaling.type", out string? scaling) && !KnownRopeScalingTypes.Contains(scaling))
        {
            problems.Add($"'{prefix}rope.scaling.type' is {Quote(scaling)}; llama.cpp knows {string.Join(", ", KnownRopeScalingTypes.Select(m => "'" + m + "'"))}");
        }

        CheckHeads(file, prefix, problems);
        CheckHeadWidths(file, arch, prefix, problems);
    }

    /// <summary>
    /// Architectures whose llama.cpp graph asserts that keys and values have the same head width (src/models/ARCH.cpp:
    /// GGML_ASSERT(n_embd_head == n_embd_head_k)), and whether it also asserts that RoPE rotates the whole head
    /// (GGML_ASSERT(n_embd_head == n_rot)). A file breaking them aborts the process when the first context is made.
    /// </summary>
    private static readonly Dictionary<string, bool> HeadWidthAsserts = new(StringComparer.Ordinal)
    {
        ["llama"] = true, ["qwen2"] = true, ["qwen3"] = true, ["phi3"] = false,
    };

    private static void CheckHeadWidths(GgufFile file, string arch, string prefix, List<string> problems)
    {
        if (!HeadWidthAsserts.TryGetValue(arch, out bool ropeWholeHead)) return;
        var metadata = file.Metadata;
        if (!metadata.TryGetInteger(prefix + "attention.head_count", out long heads) || heads <= 0) return;
        long? derived = metadata.TryGetInteger(prefix + "embedding_length", out long embedding) && embedding % heads == 0 ? embedding / heads : null;
        long? Width(string key) => metadata.TryGetInteger(prefix + key, out long v) ? v : derived;
        long? keyWidth = Width("attention.key_length"), valueWidth = Width("attention.value_length");
        if (keyWidth is { } k && valueWidth is { } v && k != v)
        {
            problems.Add($"'{prefix}attention.key_length' ({k}) and '{prefix}attention.value_length' ({v}) differ; llama.cpp's {arch} graph asserts equal key and value head widths");
        }

        if (ropeWholeHead && keyWidth is { } head && metadata.TryGetInteger(prefix + "rope.dimension_count", out long rot) && rot != head)
        {
            problems.Add($"'{prefix}rope.dimension_count' is {rot} but the head width is {head}; llama.cpp's {arch} graph asserts that RoPE rotates the whole head");
        }
    }

    private static void CheckLayerTensors(GgufFile file, string blockKey, long layerCount, List<string> problems)
    {
        var present = new bool[layerCount];
        bool any = false;
        long? beyond = null;
        string? beyondName = null;
        foreach (var tensor in file.Tensors)
        {
            if (!TryParseLayer(tensor.Name, out long layer))
            {
                continue;
            }

            any = true;
            if (layer < layerCount)
            {
                present[layer] = true;
            }
            else if (beyond is null || layer > beyond)
            {
                beyond = layer;
                beyondName = tensor.Name;
            }
        }

        if (beyondName is not null)
        {
            problems.Add($"'{blockKey}' is {layerCount} but tensor '{beyondName}' belongs to block {beyond}");
        }

        if (any)
        {
            int missing = Array.IndexOf(present, false);
            if (missing >= 0)
            {
                problems.Add($"'{blockKey}' is {layerCount} but no tensor 'blk.{missing}.*' exists");
            }
        }
    }

    private static bool TryParseLayer(string name, out long layer)
    {
        layer = -1;
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
        {
            return false;
        }

        int end = name.IndexOf('.', 4);
        return end > 4 && long.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out layer);
    }

    private static void CheckExperts(GgufMetadata metadata, string prefix, List<string> problems)
    {
        // load_hparams: GGML_ASSERT(n_expert <= LLAMA_MAX_EXPERTS); GGML_ASSERT(n_expert_used <= n_expert);
        // n_expert > 0 needs n_expert_used > 0, and n_expert == 0 needs n_expert_used == 0.
        string countKey = prefix + "expert_count";
        string usedKey = prefix + "expert_used_count";
        long expertCount = 0;
        if (metadata.TryGetValue(countKey, out var countValue))
        {
            if (!countValue.TryConvertToInt64(out expertCount) || expertCount < 0)
            {
                problems.Add($"'{countKey}' is {Describe(countValue)}; it must be an integer from 0 to {MaxExperts}");
                return;
            }

            if (expertCount > MaxExperts)
            {
                problems.Add($"'{countKey}' is {expertCount}; llama.cpp supports at most {MaxExperts} experts (LLAMA_MAX_EXPERTS)");
                return;
            }
        }

        bool hasUsed = metadata.TryGetValue(usedKey, out var usedValue);
        long used = 0;
        if (hasUsed && (!usedValue!.TryConvertToInt64(out used) || used < 0))
        {
            problems.Add($"'{usedKey}' is {Describe(usedValue!)}; it must be a non-negative integer");
            return;
        }

        if (expertCount > 0)
        {
            if (!hasUsed)
            {
                problems.Add($"'{countKey}' is {expertCount} but '{usedKey}' is missing; a mixture-of-experts model must say how many experts each token uses");
            }
            else if (used < 1 || used > expertCount)
            {
                problems.Add($"'{usedKey}' is {used}; it must be from 1 to '{countKey}' ({expertCount})");
            }
        }
        else if (used != 0)
        {
            problems.Add($"'{usedKey}' is {used} but the model has no experts ('{countKey}' is {(countValue is null ? "missing" : "0")})");
        }
    }

    private static void CheckHeads(GgufFile file, string prefix, List<string> problems)
    {
        // Only models with attention tensors need heads (recurrent architectures store 0).
        bool hasAttention = file.Tensors.Any(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) &&
            (t.Name.EndsWith(".attn_q.weight", StringComparison.Ordinal) || t.Name.EndsWith(".attn_qkv.weight", StringComparison.Ordinal)));
        if (!hasAttention)
        {
            return;
        }

        var metadata = file.Metadata;
        string headKey = prefix + "attention.head_count";
        string kvKey = prefix + "attention.head_count_kv";
        string embdKey = prefix + "embedding_length";
        if (!metadata.TryGetValue(headKey, out var headValue))
        {
            problems.Add($"'{headKey}' is missing but the model has attention tensors");
            return;
        }

        if (!headValue.TryConvertToInt64(out long heads))
        {
            return; // per-layer arrays: llama.cpp checks their length itself
        }

        if (heads <= 0)
        {
            problems.Add($"'{headKey}' is {heads}; a model with attention needs at least one head");
            return;
        }

        if (metadata.TryGetValue(kvKey, out var kvValue) && kvValue.TryConvertToInt64(out long kvHeads))
        {
            if (kvHeads <= 0 || heads % kvHeads != 0)
            {
                // Grouped-query attention shares each key/value head among n_head / n_head_kv query heads.
                problems.Add($"'{kvKey}' is {kvHeads}; it must be at least 1 and divide '{headKey}' ({heads})");
            }
        }

        // Without an explicit key length, llama.cpp derives the head size as n_embd / n_head.
        if (!metadata.ContainsKey(prefix + "attention.key_length") && metadata.TryGetInteger(embdKey, out long embedding) && embedding % heads != 0)
        {
            problems.Add($"'{embdKey}' is {embedding}, not a multiple of '{headKey}' ({heads})");
        }
    }

    private static void CheckVocabulary(GgufFile file, List<string> problems)
    {
        var metadata = file.Metadata;
        const string modelKey = "tokenizer.ggml.model";
        if (!metadata.TryGetString(modelKey, out string? model))
        {
            problems.Add($"'{modelKey}' is missing; the host needs the model's vocabulary");
            return;
        }

        if (!KnownTokenizerModels.Contains(model))
        {
            problems.Add($"'{modelKey}' is '{model}'; llama.cpp knows {string.Join(", ", KnownTokenizerModels.Select(m => "'" + m + "'"))}");
            return;
        }

        if (model is "none" or "no_vocab")
        {
            // LLAMA_VOCAB_TYPE_NONE: tokenizing or printing a token aborts in llama-vocab.cpp.
            problems.Add($"'{modelKey}' is '{model}' (no vocabulary); the host tokenizes text and cannot run such a model");
            return;
        }

        const string tokensKey = "tokenizer.ggml.tokens";
        if (!metadata.TryGetValue(tokensKey, out var tokensValue) || !tokensValue.IsArray || tokensValue.ElementType != GgufValueType.String)
        {
            problems.Add($"'{tokensKey}' is {(tokensValue is null ? "missing" : Describe(tokensValue))}; it must be an array of strings");
            return;
        }

        var tokens = tokensValue.GetArray<string>();
        int vocabularySize = tokens.Length;
        if (vocabularySize == 0)
        {
            problems.Add($"'{tokensKey}' is empty");
            return;
        }

        // llama.cpp maps token text to id and asserts that the map has as many entries as the id table.
        var firstIndex = new Dictionary<string, int>(vocabularySize, StringComparer.Ordinal);
        for (int i = 0; i < vocabularySize; i++)
        {
            if (!firstIndex.TryAdd(tokens[i], i))
            {
                problems.Add($"'{tokensKey}' has token {Quote(tokens[i])} twice (ids {firstIndex[tokens[i]]} and {i}); token strings must be unique");
                break;
            }
        }

        // Scores and token types are read as arrays of n_vocab elements, without a length check.
        CheckParallelArray(metadata, "tokenizer.ggml.scores", GgufValueType.Float32, vocabularySize, problems);
        CheckParallelArray(metadata, "tokenizer.ggml.token_type", GgufValueType.Int32, vocabularySize, problems);

        const string mergesKey = "tokenizer.ggml.merges";
        bool hasMerges = metadata.TryGetValue(mergesKey, out var merges) && merges.IsArray && merges.Count > 0;
        if (model == "gpt2" && (merges is null || !merges.IsArray || merges.ElementType != GgufValueType.String))
        {
            problems.Add($"'{modelKey}' is 'gpt2' (BPE) but '{mergesKey}' is {(merges is null ? "missing" : Describe(merges))}; a BPE vocabulary needs its merges");
        }

        if (model == "llama")
        {
            // The SentencePiece tokenizer falls back to byte tokens '<0xNN>' and looks them up with an unchecked
            // map access: a missing one throws a C++ exception nothing catches.
            var missing = Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>").Where(t => !firstIndex.ContainsKey(t)).ToList();
            if (missing.Count > 0)
            {
                string looksLike = hasMerges ? $"; the vocabulary has {merges!.Count} merges, so it looks like BPE ('gpt2')" : "";
                problems.Add($"'{modelKey}' is 'llama' (SentencePiece) but '{tokensKey}' lacks byte token '{missing[0]}'" +
                    (missing.Count > 1 ? $" and {missing.Count - 1} more" : "") + looksLike);
            }

            if (!metadata.ContainsKey("tokenizer.ggml.scores"))
            {
                problems.Add($"'{modelKey}' is 'llama' (SentencePiece) but 'tokenizer.ggml.scores' is missing");
            }
        }

        foreach (string name in SpecialTokenKeys)
        {
            string key = "tokenizer.ggml." + name;
            if (metadata.TryGetValue(key, out var value))
            {
                if (!value.TryConvertToInt64(out long id) || id < 0 || id >= vocabularySize)
                {
                    problems.Add($"'{key}' is {Describe(value)}; it must be a token id from 0 to {vocabularySize - 1}");
                }
            }
        }

        // token_embd is [n_embd, n_vocab] (ggml order) and the output projection [n_embd, n_vocab].
        foreach (string name in new[] { "token_embd.weight", "output.weight" })
        {
            if (file.TryGetTensor(name, out var tensor) && tensor.Dimensions.Length >= 2 && tensor.Dimensions[1] != (ulong)vocabularySize)
            {
                problems.Add($"tensor '{name}' has {tensor.Dimensions[1]} rows but the vocabulary has {vocabularySize} tokens");
            }
        }
    }

    private static void CheckParallelArray(GgufMetadata metadata, string key, GgufValueType elementType, int vocabularySize, List<string> problems)
    {
        if (!metadata.TryGetValue(key, out var value))
        {
            return;
        }

        if (!value.IsArray || value.ElementType != elementType)
        {
            problems.Add($"'{key}' is {Describe(value)}; it must be an array of {GgufValueTypes.ShortName(elementType)}");
        }
        else if (value.Count != vocabularySize)
        {
            problems.Add($"'{key}' has {value.Count} entries but the vocabulary has {vocabularySize} tokens");
        }
    }

    private static string Describe(GgufValue value) =>
        value.IsArray ? GgufValue.Describe(value.Type, value.ElementType) + $" of {value.Count}" : value.ToDisplayString(maxStringLength: 60);

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string text) => GgufValue.FromString(text).ToDisplayString(maxStringLength: 60);
}
