using System.Buffers.Binary;
using System.Globalization;
using UQEngine.Gguf;

namespace UQEngine.ModelCheck;

/// <summary>
/// Seeded mutations of a valid GGUF model, in the classes that crashed llama.cpp hosts (issue 13): tensor types wrong
/// for their role (integer types included), tensor shapes and names, hyperparameter values (0, huge, negative, NaN,
/// another type), mixture-of-experts keys, another architecture, vocabulary damage (duplicated or empty tokens,
/// tokenizer model and pre-tokenizer names, parallel arrays, special ids, merges), alignment, removed keys, NaN
/// weights, and byte-level damage (flips in the header or the data, truncation). Mutant <c>i</c> of seed <c>s</c> is
/// always the same file, so a crash is reproduced from (seed, index) alone.
/// </summary>
public sealed class GgufMutator
{
    private readonly GgufFile _source;
    private readonly byte[] _bytes;
    private readonly string _arch;

    private static readonly string[] TokenizerModels = ["llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "no_vocab", "none", "sentencepiece", ""];
    private static readonly string[] PreTokenizers = ["default", "llama3", "gpt-2", "qwen2", "deepseek-llm", "falcon", "bert", "tekken", "bogus", ""];
    private static readonly string[] Architectures = ["llama", "qwen2", "qwen3", "gpt2", "bert", "phi3", "gemma", "gemma2", "mamba", "falcon", "starcoder", "t5", "rwkv6", "nomic-bert", "deci", "unknown-arch"];

    // Keys llama.cpp reads for most architectures (src/llama-arch.cpp), to add with hostile values.
    private static readonly string[] ArchKeys =
    [
        "context_length", "embedding_length", "feed_forward_length", "block_count", "vocab_size", "expert_count", "expert_used_count",
        "expert_shared_count", "expert_weights_scale", "expert_feed_forward_length", "leading_dense_block_count", "logit_scale",
        "attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length", "attention.layer_norm_epsilon",
        "attention.layer_norm_rms_epsilon", "attention.sliding_window", "attention.causal", "attention.clamp_kqv", "attention.max_alibi_bias",
        "rope.dimension_count", "rope.freq_base", "rope.scale_linear", "rope.scaling.type", "rope.scaling.factor", "rope.scaling.original_context_length",
        "pooling_type", "decoder_start_token_id", "final_logit_softcapping", "attn_logit_softcapping", "residual_scale", "embedding_scale",
    ];

    private static readonly string[] SpecialTokenKeys =
    [
        "bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "seperator_token_id", "cls_token_id", "mask_token_id",
        "eot_token_id", "eom_token_id", "prefix_token_id", "suffix_token_id", "middle_token_id",
    ];

    public GgufMutator(string path)
    {
        _source = GgufFile.Read(path);
        _bytes = File.ReadAllBytes(path);
        _arch = _source.Metadata.TryGetString("general.architecture", out string? arch) ? arch : "llama";
    }

    public string SourcePath => _source.Path;

    /// <summary>The mutant of (<paramref name="seed"/>, <paramref name="index"/>) written to <paramref name="path"/>; returns what was done.</summary>
    public string Write(ulong seed, long index, string path)
    {
        var rng = new Random(MixSeed(seed, index));
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return WriteOnce(rng, path);
            }
            catch (ArgumentException) when (attempt < 20)
            {
                // The writer refused the shape or type drawn (the reader would too): draw another mutation.
            }
            catch (InvalidOperationException) when (attempt < 20)
            {
            }
        }
    }

    // SplitMix64's finalizer over (seed, index): the same in every process (HashCode is randomized per process).
    private static int MixSeed(ulong seed, long index)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + (ulong)index + 0x5EED;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & int.MaxValue);
    }

    private string WriteOnce(Random rng, string path)
    {
        int kind = rng.Next(100);
        if (kind < 12) return ByteMutation(rng, path);
        var model = new MutableModel(_source);
        var done = new List<string>();
        int count = rng.Next(100) < 75 ? 1 : rng.Next(2, 4);
        for (int i = 0; i < count; i++) done.Add(StructuredMutation(rng, model));
        model.Write(path, _source, _bytes, rng);
        return string.Join("; ", done);
    }

    // ------------------------------------------------------------------ byte level

    private string ByteMutation(Random rng, string path)
    {
        byte[] bytes = (byte[])_bytes.Clone();
        int op = rng.Next(4);
        if (op == 0)
        {
            // Truncate anywhere (header, metadata, tensor infos or data).
            int length = rng.Next(bytes.Length);
            File.WriteAllBytes(path, bytes.AsSpan(0, length).ToArray());
            return $"truncate to {length} of {bytes.Length} bytes";
        }

        int end = op == 3 ? bytes.Length : (int)Math.Min(_source.DataOffset, bytes.Length);
        int start = op == 3 ? (int)_source.DataOffset : 0;
        int flips = rng.Next(1, 9);
        var where = new List<string>();
        for (int i = 0; i < flips; i++)
        {
            int at = rng.Next(start, end);
            byte value = op == 2 ? (byte)rng.Next(256) : (byte)(bytes[at] ^ (1 << rng.Next(8)));
            bytes[at] = value;
            where.Add(at.ToString(CultureInfo.InvariantCulture));
        }

        File.WriteAllBytes(path, bytes);
        string region = op == 3 ? "tensor data" : "header";
        return $"{(op == 2 ? "overwrite" : "flip")} {flips} byte(s) in the {region} at {string.Join(",", where)}";
    }

    // ------------------------------------------------------------------ structured

    private string StructuredMutation(Random rng, MutableModel m)
    {
        switch (rng.Next(17))
        {
            case 0 or 1 or 2 or 3 when m.Tensors.Count == 0:
                return "tensors (none left)";
            case 0:
            case 1:
            {
                var t = m.Tensors[rng.Next(m.Tensors.Count)];
                var types = Enum.GetValues<GgmlType>();
                var type = rng.Next(3) == 0 ? Pick(rng, [GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64]) : types[rng.Next(types.Length)];
                if (GgufTensorInfo.TryMeasure(t.Dims, type, out _, out _) is not null) type = Pick(rng, [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.I32, GgmlType.I8]);
                string was = t.Type.ToString();
                t.Type = type;
                t.Fill = rng.Next(2) == 0 ? Fill.Zeros : Fill.Random;
                return $"tensor {t.Name} type {was} -> {type}";
            }
            case 2:
            {
                var t = m.Tensors[rng.Next(m.Tensors.Count)];
                string was = string.Join("x", t.Dims);
                int op = rng.Next(5);
                if (op == 0 && t.Dims.Length > 1) (t.Dims[0], t.Dims[1]) = (t.Dims[1], t.Dims[0]);
                else if (op == 1) t.Dims[rng.Next(t.Dims.Length)] *= 2;
                else if (op == 2) t.Dims[rng.Next(t.Dims.Length)] = 1;
                else if (op == 3 && t.Dims.Length < 4) t.Dims = [.. t.Dims, (ulong)rng.Next(1, 4)];
                else t.Dims = t.Dims.Length > 1 ? t.Dims[..^1] : [t.Dims[0] / 2 == 0 ? 1 : t.Dims[0] / 2];
                t.Fill = Fill.Random;
                return $"tensor {t.Name} shape {was} -> {string.Join("x", t.Dims)}";
            }
            case 3:
            {
                int i = rng.Next(m.Tensors.Count);
                int op = rng.Next(3);
                if (op == 0)
                {
                    string name = m.Tensors[i].Name;
                    m.Tensors.RemoveAt(i);
                    return $"remove tensor {name}";
                }

                var t = m.Tensors[i];
                string renamed = rng.Next(2) == 0 && t.Name.StartsWith("blk.", StringComparison.Ordinal)
                    ? "blk." + rng.Next(0, 40).ToString(CultureInfo.InvariantCulture) + t.Name[t.Name.IndexOf('.', 4)..]
                    : Pick(rng, ["output.weight", "output_norm.weight", "token_embd.weight", "rope_freqs.weight", "blk.0.attn_q.bias", "blk.0.ffn_gate_inp.weight", "blk.0.attn_q_norm.weight"]);
                if (m.Tensors.Any(x => x.Name == renamed)) return $"rename {t.Name} (skipped: {renamed} exists)";
                if (op == 1)
                {
                    string was = t.Name;
                    t.Name = renamed;
                    return $"rename tensor {was} -> {renamed}";
                }

                m.Tensors.Add(new MutableTensor(renamed, t.Type, [.. t.Dims], -1) { Fill = Fill.Random });
                return $"add tensor {renamed} ({t.Type} {string.Join("x", t.Dims)})";
            }
            case 4:
            case 5:
            {
                // A numeric key set to a hostile value, in its own type or another.
                var numeric = m.Metadata.Where(kv => !kv.Value.IsArray && kv.Value.Type != GgufValueType.String).Select(kv => kv.Key).ToList();
                string key = rng.Next(3) == 0 || numeric.Count == 0 ? _arch + "." + Pick(rng, ArchKeys) : Pick(rng, numeric);
                var value = HostileNumber(rng);
                m.Set(key, value);
                return $"{key} = {value.ToDisplayString(40)} ({value.Type})";
            }
            case 6:
            {
                string countKey = _arch + ".expert_count", usedKey = _arch + ".expert_used_count";
                uint count = Pick(rng, [0u, 1u, 2u, 8u, 64u, 512u, 513u, 100_000u, uint.MaxValue]);
                m.Set(countKey, GgufValue.FromUInt32(count));
                int used = rng.Next(5);
                if (used == 0) m.Remove(usedKey);
                else m.Set(usedKey, GgufValue.FromUInt32(used switch { 1 => 0u, 2 => 1u, 3 => count, _ => count + 1 }));
                return $"{countKey} = {count}, {usedKey} " + (used == 0 ? "absent" : m.Get(usedKey)!.ToDisplayString(20));
            }
            case 7:
            {
                var tokens = m.Tokens();
                if (tokens is not { Length: > 0 }) return "tokens (absent or empty)";
                int i = rng.Next(tokens.Length), j = rng.Next(tokens.Length);
                int op = rng.Next(4);
                string what;
                if (op == 0) { tokens[j] = tokens[i]; what = $"token {j} = token {i}"; }
                else if (op == 1) { tokens[j] = ""; what = $"token {j} = empty"; }
                else if (op == 2) { tokens[j] = new string('x', rng.Next(200, 5000)); what = $"token {j} = long"; }
                else { tokens[j] = "\u0000" + tokens[j]; what = $"token {j} starts with NUL"; }
                m.Set("tokenizer.ggml.tokens", GgufValue.FromStringArray(tokens));
                return what;
            }
            case 8:
            {
                string model = Pick(rng, TokenizerModels);
                if (rng.Next(2) == 0)
                {
                    string pre = Pick(rng, PreTokenizers);
                    m.Set("tokenizer.ggml.pre", GgufValue.FromString(pre));
                    return $"tokenizer.ggml.pre = '{pre}'";
                }

                m.Set("tokenizer.ggml.model", GgufValue.FromString(model));
                return $"tokenizer.ggml.model = '{model}'";
            }
            case 9:
            {
                uint alignment = 1u << rng.Next(0, 14);
                m.Set("general.alignment", GgufValue.FromUInt32(alignment));
                return $"general.alignment = {alignment}";
            }
            case 10:
            {
                string key = m.Metadata[rng.Next(m.Metadata.Count)].Key;
                m.Remove(key);
                return $"remove {key}";
            }
            case 11:
            {
                string key = "tokenizer.ggml." + Pick(rng, SpecialTokenKeys);
                int size = m.Tokens()?.Length ?? 0;
                var value = rng.Next(4) switch
                {
                    0 => GgufValue.FromInt32(-1),
                    1 => GgufValue.FromUInt32((uint)size),
                    2 => GgufValue.FromUInt32(uint.MaxValue),
                    _ => GgufValue.FromUInt32((uint)rng.Next(Math.Max(1, size))),
                };
                m.Set(key, value);
                return $"{key} = {value.ToDisplayString(20)}";
            }
            case 12:
            {
                // Parallel arrays: scores, token types (values and lengths), merges.
                int op = rng.Next(4);
                if (op == 0 && m.Get("tokenizer.ggml.token_type") is { IsArray: true, Count: > 0 } types && types.ElementType == GgufValueType.Int32)
                {
                    int[] values = types.GetArray<int>().ToArray();
                    int n = rng.Next(1, 6);
                    for (int k = 0; k < n; k++) values[rng.Next(values.Length)] = Pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 99, -1, int.MaxValue]);
                    m.Set("tokenizer.ggml.token_type", GgufValue.FromArray(values.AsSpan()));
                    return $"{n} token type(s) changed";
                }

                if (op == 1 && m.Get("tokenizer.ggml.merges") is { IsArray: true, Count: > 0 } merges && merges.ElementType == GgufValueType.String)
                {
                    string[] values = merges.GetArray<string>().ToArray();
                    int at = rng.Next(values.Length);
                    values[at] = Pick(rng, ["", " ", "a", "a b c", "\u0120 \u0120", "zz yy", values[rng.Next(values.Length)]]);
                    m.Set("tokenizer.ggml.merges", GgufValue.FromStringArray(values));
                    return $"merge {at} = '{values[at]}'";
                }

                string key = Pick(rng, ["tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.tokens"]);
                if (m.Get(key) is not { IsArray: true } array) return $"{key} (absent)";
                int length = Math.Max(0, array.Count + Pick(rng, [-1, 1, -array.Count, 5, -array.Count / 2]));
                m.Set(key, Resize(array, length, rng));
                return $"{key} length {array.Count} -> {length}";
            }
            case 13:
            {
                // Another architecture: the keys move to its prefix, so its loader reads our values.
                string arch = Pick(rng, Architectures);
                foreach (var kv in m.Metadata.ToList())
                {
                    if (kv.Key.StartsWith(_arch + ".", StringComparison.Ordinal)) { m.Remove(kv.Key); m.Set(arch + kv.Key[_arch.Length..], kv.Value); }
                }

                m.Set("general.architecture", GgufValue.FromString(arch));
                return $"general.architecture = '{arch}'";
            }
            case 14:
            {
                // NaN or infinite weights: should load and decode, flagged as non-finite.
                var floats = m.Tensors.Where(t => t.Type is GgmlType.F32 or GgmlType.F16).ToList();
                if (floats.Count == 0) return "nan weights (no float tensor)";
                var t = floats[rng.Next(floats.Count)];
                t.Fill = Pick(rng, [Fill.NaN, Fill.Infinity, Fill.SomeNaN]);
                return $"tensor {t.Name} filled with {t.Fill}";
            }
            case 15:
            {
                // Per-layer arrays instead of scalars, of the wrong length.
                string key = _arch + "." + Pick(rng, ["attention.head_count", "attention.head_count_kv", "feed_forward_length", "attention.sliding_window"]);
                int length = Pick(rng, [0, 1, 3, 1000]);
                var values = new uint[length];
                for (int k = 0; k < length; k++) values[k] = (uint)rng.Next(0, 8);
                m.Set(key, GgufValue.FromArray(values.AsSpan()));
                return $"{key} = array of {length}";
            }
            default:
            {
                string key = Pick(rng, ["general.file_type", "general.quantization_version", _arch + ".rope.scaling.type", "tokenizer.chat_template", _arch + ".attention.causal", "tokenizer.ggml.add_bos_token"]);
                var value = rng.Next(3) switch
                {
                    0 => GgufValue.FromString(Pick(rng, ["", "linear", "yarn", "none", "\u00ff\u00fe", "{% for %}"])),
                    1 => GgufValue.FromBool(rng.Next(2) == 0),
                    _ => HostileNumber(rng),
                };
                m.Set(key, value);
                return $"{key} = {value.ToDisplayString(30)}";
            }
        }
    }

    // ------------------------------------------------------------------ sweep

    private const int HostileNumberCount = 14;

    private List<string> SweepKeys() =>
        [.. ArchKeys.Select(k => _arch + "." + k).Union(_source.Metadata.Where(kv => !kv.Value.IsArray && kv.Value.Type != GgufValueType.String).Select(kv => kv.Key)).Order(StringComparer.Ordinal)];

    private List<string> SweepTensors() =>
        [.. new[] { "token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight" }
            .Where(n => _source.TryGetTensor(n, out _))];

    /// <summary>Mutants of the systematic sweep: every hyperparameter key x every hostile value, every tensor role x every type.</summary>
    public int SweepCount => SweepKeys().Count * HostileNumberCount + SweepTensors().Count * Enum.GetValues<GgmlType>().Length;

    /// <summary>Sweep mutant <paramref name="index"/> (0 to <see cref="SweepCount"/> - 1) written to <paramref name="path"/>.</summary>
    public string WriteSweep(int index, string path)
    {
        var keys = SweepKeys();
        var model = new MutableModel(_source);
        string done;
        if (index < keys.Count * HostileNumberCount)
        {
            string key = keys[index / HostileNumberCount];
            var value = HostileNumber(index % HostileNumberCount);
            model.Set(key, value);
            done = $"{key} = {value.ToDisplayString(40)} ({value.Type})";
        }
        else
        {
            int rest = index - keys.Count * HostileNumberCount;
            var types = Enum.GetValues<GgmlType>();
            var tensor = model.Tensors.First(t => t.Name == SweepTensors()[rest / types.Length]);
            var type = types[rest % types.Length];
            if (GgufTensorInfo.TryMeasure(tensor.Dims, type, out _, out _) is { } problem)
            {
                // Rows too short for the type's blocks: the reader's refusal is the outcome.
                File.WriteAllBytes(path, []);
                return $"tensor {tensor.Name} type {type} (not writable: {problem})";
            }

            tensor.Type = type;
            tensor.Fill = Fill.Random;
            done = $"tensor {tensor.Name} type {type}";
        }

        model.Write(path, _source, _bytes, new Random(index));
        return done;
    }

    private static GgufValue HostileNumber(Random rng) => HostileNumber(rng.Next(HostileNumberCount), rng);

    private static GgufValue HostileNumber(int which, Random? rng = null) => which switch
    {
        0 => GgufValue.FromUInt32(0),
        1 => GgufValue.FromUInt32(uint.MaxValue),
        2 => GgufValue.FromInt32(-1),
        3 => GgufValue.FromInt32(int.MinValue),
        4 => GgufValue.FromUInt64(ulong.MaxValue),
        5 => GgufValue.FromFloat32(float.NaN),
        6 => GgufValue.FromFloat32(float.PositiveInfinity),
        7 => GgufValue.FromFloat32(-1e-5f),
        8 => GgufValue.FromFloat32(1e30f),
        9 => GgufValue.FromFloat64(-1),
        10 => GgufValue.FromUInt32((uint)(rng?.Next(1, 100_000) ?? 65_537)),
        11 => GgufValue.FromString("12"),
        12 => GgufValue.FromUInt32(1),
        _ => GgufValue.FromUInt32((uint)(rng?.Next(0, 64) ?? 3)),
    };

    private static GgufValue Resize(GgufValue array, int length, Random rng)
    {
        switch (array.ElementType)
        {
            case GgufValueType.String:
            {
                var values = array.GetArray<string>();
                return GgufValue.FromStringArray(Enumerable.Range(0, length).Select(i => i < values.Length ? values[i] : "extra" + i.ToString(CultureInfo.InvariantCulture)));
            }
            case GgufValueType.Float32:
            {
                var values = array.GetArray<float>();
                return GgufValue.FromArray(Enumerable.Range(0, length).Select(i => i < values.Length ? values[i] : (float)rng.NextDouble()).ToArray().AsSpan());
            }
            case GgufValueType.Int32:
            {
                var values = array.GetArray<int>();
                return GgufValue.FromArray(Enumerable.Range(0, length).Select(i => i < values.Length ? values[i] : 1).ToArray().AsSpan());
            }
            default:
                return GgufValue.FromArray(new uint[length].AsSpan());
        }
    }

    private static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    internal enum Fill { Source, Zeros, Random, NaN, Infinity, SomeNaN }

    internal sealed class MutableTensor(string name, GgmlType type, ulong[] dims, int sourceIndex)
    {
        public string Name { get; set; } = name;
        public GgmlType Type { get; set; } = type;
        public ulong[] Dims { get; set; } = dims;
        public int SourceIndex { get; } = sourceIndex;
        public Fill Fill { get; set; } = Fill.Source;
    }

    private sealed class MutableModel
    {
        public List<KeyValuePair<string, GgufValue>> Metadata { get; }
        public List<MutableTensor> Tensors { get; }

        public MutableModel(GgufFile source)
        {
            Metadata = [.. source.Metadata];
            Tensors = [.. source.Tensors.Select((t, i) => new MutableTensor(t.Name, t.Type, [.. t.Dimensions], i))];
        }

        public GgufValue? Get(string key) => Metadata.FirstOrDefault(kv => kv.Key == key).Value;

        public void Set(string key, GgufValue value)
        {
            int i = Metadata.FindIndex(kv => kv.Key == key);
            if (i >= 0) Metadata[i] = new(key, value);
            else Metadata.Add(new(key, value));
        }

        public void Remove(string key) => Metadata.RemoveAll(kv => kv.Key == key);

        public string[]? Tokens() => Get("tokenizer.ggml.tokens") is { IsArray: true, ElementType: GgufValueType.String } v ? [.. v.GetArray<string>()] : null;

        public void Write(string path, GgufFile source, byte[] sourceBytes, Random rng)
        {
            using var writer = new GgufWriter(path);
            // The writer decides offsets from the alignment, so it must come first.
            foreach (var kv in Metadata.OrderBy(kv => kv.Key == GgufReader.AlignmentKey ? 0 : 1)) writer.AddMetadata(kv.Key, kv.Value);
            var declared = Tensors.Select(t => writer.AddTensor(t.Name, t.Type, t.Dims)).ToList();
            for (int i = 0; i < Tensors.Count; i++)
            {
                var t = Tensors[i];
                var info = declared[i];
                byte[] data = new byte[info.ByteSize];
                var original = t.SourceIndex >= 0 ? source.Tensors[t.SourceIndex] : null;
                bool same = original is not null && original.Type == t.Type && original.ByteSize == info.ByteSize;
                switch (t.Fill)
                {
                    case Fill.Source when same:
                    case Fill.NaN or Fill.Infinity or Fill.SomeNaN when same:
                        sourceBytes.AsSpan((int)source.DataStartOf(original!), data.Length).CopyTo(data);
                        break;
                    case Fill.Zeros:
                        break;
                    default:
                        rng.NextBytes(data);
                        break;
                }

                if (t.Fill is Fill.NaN or Fill.Infinity or Fill.SomeNaN) Poison(data, t.Type, t.Fill, rng);
                writer.WriteTensorBytes(data);
            }

            writer.Complete();
        }

        private static void Poison(byte[] data, GgmlType type, Fill fill, Random rng)
        {
            int size = type == GgmlType.F32 ? 4 : 2;
            for (int at = 0; at + size <= data.Length; at += size)
            {
                if (fill == Fill.SomeNaN && rng.Next(16) != 0) continue;
                if (size == 4) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(at), fill == Fill.Infinity ? float.PositiveInfinity : float.NaN);
                else BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(at), fill == Fill.Infinity ? Half.PositiveInfinity : Half.NaN);
            }
        }
    }
}
