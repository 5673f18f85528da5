using System.Collections.Immutable;

namespace UQEngine.Gguf;

/// <summary>Tensors of one <see cref="GgmlType"/> in a file: how many, how many elements and how many bytes.</summary>
public sealed record GgmlTypeUsage(GgmlType Type, int TensorCount, ulong ElementCount, ulong ByteCount);

/// <summary>
/// A model's headline facts, derived from a <see cref="GgufFile"/> without touching tensor data:
/// what <c>uqengine info</c> prints. Facts the file does not state are null.
/// </summary>
public sealed class GgufModelFacts
{
    private GgufModelFacts(GgufFile file)
    {
        var metadata = file.Metadata;
        FilePath = file.Path;
        FileSize = file.FileSize;
        GgufVersion = file.Version;
        Alignment = file.Alignment;
        MetadataCount = metadata.Count;
        TensorCount = file.Tensors.Length;

        Architecture = metadata.TryGetString("general.architecture", out var arch) ? arch : null;
        Name = metadata.TryGetString("general.name", out var name) ? name : null;
        SizeLabel = metadata.TryGetString("general.size_label", out var sizeLabel) ? sizeLabel : null;

        string prefix = (Architecture ?? "") + ".";
        LayerCount = ReadCount(metadata, prefix + "block_count");
        ContextLength = ReadCount(metadata, prefix + "context_length");
        EmbeddingLength = ReadCount(metadata, prefix + "embedding_length");
        FeedForwardLength = ReadCount(metadata, prefix + "feed_forward_length");
        HeadCount = ReadCount(metadata, prefix + "attention.head_count");
        HeadCountKv = ReadCount(metadata, prefix + "attention.head_count_kv") ?? HeadCount;
        RopeDimensionCount = ReadCount(metadata, prefix + "rope.dimension_count");
        RopeFreqBase = metadata.TryGetNumber(prefix + "rope.freq_base", out double freqBase) ? freqBase : null;
        RmsNormEpsilon = metadata.TryGetNumber(prefix + "attention.layer_norm_rms_epsilon", out double eps) ? eps : null;
        // llama.cpp takes the head width from key_length when given (Qwen3, Gemma: wider than embedding / heads).
        HeadDimension = ReadCount(metadata, prefix + "attention.key_length")
            ?? (EmbeddingLength is { } width && HeadCount is > 0 ? width / HeadCount.Value : null);
        SlidingWindow = ReadCount(metadata, prefix + "attention.sliding_window");
        FinalLogitSoftcapping = metadata.TryGetNumber(prefix + "final_logit_softcapping", out double cap) ? cap : null;
        // Without output.weight llama.cpp reuses the token embedding as the output projection.
        TiedEmbeddings = file.TryGetTensor("token_embd.weight", out _) && !file.TryGetTensor("output.weight", out _);
        ExpertCount = ReadCount(metadata, prefix + "expert_count");
        ExpertUsedCount = ReadCount(metadata, prefix + "expert_used_count");

        TokenizerModel = metadata.TryGetString("tokenizer.ggml.model", out var tokenizer) ? tokenizer : null;
        TokenizerPre = metadata.TryGetString("tokenizer.ggml.pre", out var pre) ? pre : null;
        VocabularySize = metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens.IsArray
            ? (ulong)tokens.Count
            : ReadCount(metadata, prefix + "vocab_size");
        MergeCount = metadata.TryGetValue("tokenizer.ggml.merges", out var merges) && merges.IsArray ? merges.Count : null;
        BosTokenId = ReadCount(metadata, "tokenizer.ggml.bos_token_id");
        EosTokenId = ReadCount(metadata, "tokenizer.ggml.eos_token_id");
        ChatTemplate = metadata.TryGetString("tokenizer.chat_template", out var template) ? template : null;

        TypeUsage = SummarizeTypes(file.Tensors, out ulong parameters, out var dominantType);
        ParameterCount = parameters;
        TensorDataBytes = file.TensorDataBytes;

        if (metadata.TryGetInteger("general.file_type", out long fileType) && fileType is >= 0 and <= uint.MaxValue)
        {
            FileType = (uint)fileType;
        }
        else if (dominantType is { } dominant && LlamaFileType.GuessFromDominantTensorType(dominant) is { } guessed)
        {
            FileType = guessed;
            FileTypeIsGuessed = true;
        }

        QuantizationVersion = ReadCount(metadata, "general.quantization_version");
    }

    public string FilePath { get; }
    public long FileSize { get; }
    public uint GgufVersion { get; }
    public uint Alignment { get; }
    public int MetadataCount { get; }
    public int TensorCount { get; }

    /// <summary>"general.architecture", e.g. "llama"; the prefix of the architecture keys.</summary>
    public string? Architecture { get; }

    /// <summary>"general.name".</summary>
    public string? Name { get; }

    /// <summary>"general.size_label", e.g. "8B".</summary>
    public string? SizeLabel { get; }

    /// <summary>Transformer blocks ("{arch}.block_count").</summary>
    public ulong? LayerCount { get; }

    /// <summary>Context length the model was trained for ("{arch}.context_length").</summary>
    public ulong? ContextLength { get; }

    /// <summary>Hidden width ("{arch}.embedding_length").</summary>
    public ulong? EmbeddingLength { get; }

    /// <summary>Feed-forward width; the largest value when it varies per layer.</summary>
    public ulong? FeedForwardLength { get; }

    /// <summary>Attention query heads; the largest value when it varies per layer.</summary>
    public ulong? HeadCount { get; }

    /// <summary>Key/value heads (equals <see cref="HeadCount"/> when the file does not say; smaller under grouped-query attention).</summary>
    public ulong? HeadCountKv { get; }

    /// <summary>Width of one attention head ("{arch}.attention.key_length", else embedding / heads).</summary>
    public ulong? HeadDimension { get; }

    /// <summary>Sliding-window attention span ("{arch}.attention.sliding_window"), when declared.</summary>
    public ulong? SlidingWindow { get; }

    /// <summary>Final logit soft-capping ("{arch}.final_logit_softcapping", Gemma 2), when declared.</summary>
    public double? FinalLogitSoftcapping { get; }

    /// <summary>True when the file has a token embedding but no output.weight: the output projection is the embedding.</summary>
    public bool TiedEmbeddings { get; }

    public ulong? RopeDimensionCount { get; }
    public double? RopeFreqBase { get; }
    public double? RmsNormEpsilon { get; }

    /// <summary>Experts per mixture-of-experts layer; null for dense models.</summary>
    public ulong? ExpertCount { get; }
    public ulong? ExpertUsedCount { get; }

    /// <summary>"tokenizer.ggml.model", e.g. "gpt2" (byte-level BPE) or "llama" (SentencePiece).</summary>
    public string? TokenizerModel { get; }

    /// <summary>"tokenizer.ggml.pre", the pre-tokenizer name.</summary>
    public string? TokenizerPre { get; }

    /// <summary>Number of tokens (length of "tokenizer.ggml.tokens", else "{arch}.vocab_size").</summary>
    public ulong? VocabularySize { get; }

    /// <summary>Number of BPE merges, for BPE tokenizers.</summary>
    public int? MergeCount { get; }

    public ulong? BosTokenId { get; }
    public ulong? EosTokenId { get; }

    /// <summary>"general.file_type" (a llama_ftype id), or llama.cpp's guess from the tensors when absent.</summary>
    public uint? FileType { get; }

    /// <summary>True when <see cref="FileType"/> was guessed from the most common tensor type.</summary>
    public bool FileTypeIsGuessed { get; }

    /// <summary>Readable file type such as "MOSTLY_Q4_K_M", with " (guessed)" appended when guessed; null if unknown.</summary>
    public string? FileTypeName => FileType is { } id ? LlamaFileType.GetName(id) + (FileTypeIsGuessed ? " (guessed)" : "") : null;

    public ulong? QuantizationVersion { get; }

    /// <summary>Tensor count, elements and bytes per tensor type, largest share of bytes first.</summary>
    public ImmutableArray<GgmlTypeUsage> TypeUsage { get; }

    /// <summary>Total elements over all tensors (what llama.cpp reports as the parameter count).</summary>
    public ulong ParameterCount { get; }

    /// <summary>Bytes of tensor data, without padding.</summary>
    public ulong TensorDataBytes { get; }

    /// <summary>Average bits of storage per parameter.</summary>
    public double BitsPerWeight => ParameterCount == 0 ? 0 : TensorDataBytes * 8.0 / ParameterCount;

    /// <summary>"tokenizer.chat_template", the Jinja chat template, if present.</summary>
    public string? ChatTemplate { get; }

    public bool HasChatTemplate => !string.IsNullOrEmpty(ChatTemplate);

    /// <summary>Derives the facts of an already-read file.</summary>
    public static GgufModelFacts From(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return new GgufModelFacts(file);
    }

    /// <summary>Reads <paramref name="path"/> (header and metadata only) and derives its facts.</summary>
    /// <exception cref="GgufFormatException">The file is not valid GGUF.</exception>
    public static GgufModelFacts Read(string path) => From(GgufFile.Read(path));

    // Counts may be stored with any integer width, or per layer as an array (then the largest is reported).
    private static ulong? ReadCount(GgufMetadata metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value.TryConvertToInt64(out long scalar))
        {
            return scalar >= 0 ? (ulong)scalar : null;
        }

        if (value.Type == GgufValueType.UInt64)
        {
            return value.AsUInt64();
        }

        if (value.IsArray)
        {
            long? largest = null;
            switch (value.ElementType)
            {
                case GgufValueType.UInt32:
                    foreach (uint v in value.GetArray<uint>())
                    {
                        largest = Math.Max(largest ?? 0, v);
                    }

                    break;
                case GgufValueType.Int32:
                    foreach (int v in value.GetArray<int>())
                    {
                        largest = Math.Max(largest ?? 0, v);
                    }

                    break;
            }

            return largest is >= 0 ? (ulong)largest.Value : null;
        }

        return null;
    }

    private static ImmutableArray<GgmlTypeUsage> SummarizeTypes(ImmutableArray<GgufTensorInfo> tensors, out ulong parameters, out GgmlType? dominantType)
    {
        var counts = new int[GgmlTypeTraits.TypeIdLimit];
        var elements = new ulong[GgmlTypeTraits.TypeIdLimit];
        var bytes = new ulong[GgmlTypeTraits.TypeIdLimit];
        parameters = 0;
        foreach (var tensor in tensors)
        {
            int id = (int)tensor.Type;
            counts[id]++;
            elements[id] += tensor.ElementCount;
            bytes[id] += tensor.ByteSize;
            parameters += tensor.ElementCount;
        }

        // llama.cpp guesses the file type from the type used by the most tensors (ties may resolve differently there).
        dominantType = null;
        int most = 0;
        var usage = ImmutableArray.CreateBuilder<GgmlTypeUsage>();
        for (int id = 0; id < counts.Length; id++)
        {
            if (counts[id] == 0)
            {
                continue;
            }

            usage.Add(new GgmlTypeUsage((GgmlType)id, counts[id], elements[id], bytes[id]));
            if (counts[id] > most)
            {
                most = counts[id];
                dominantType = (GgmlType)id;
            }
        }

        usage.Sort((a, b) => b.ByteCount.CompareTo(a.ByteCount));
        return usage.ToImmutable();
    }
}
