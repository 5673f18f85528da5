using UQEngine.Gguf;

namespace UQEngine.MiniLM;

/// <summary>
/// Writes all-MiniLM-L6-v2 (the package's ONNX initializers and WordPiece vocabulary) as a GGUF of llama.cpp's
/// <c>bert</c> architecture, so the same model runs through <see cref="UQEngine.Inference.GgufTextEmbedder"/>
/// (<c>--embedding-model</c>). Tensor names and metadata keys follow llama.cpp's bert loader: token_embd,
/// token_types, position_embd, token_embd_norm, and per block attn_q/k/v, attn_output, attn_output_norm, ffn_up,
/// ffn_down, layer_output_norm (each .weight and .bias); mean pooling, non-causal attention. The vocabulary is
/// written the way llama.cpp's WordPiece tokenizer reads it: a word-initial piece carries a leading U+2581
/// ("phantom space"), a continuation piece loses its "##", bracketed specials stay as they are.
/// </summary>
public static class MiniLmGgufConverter
{
    /// <summary>Bumped whenever the written file changes, so cached conversions are redone.</summary>
    public const int FormatRevision = 1;

    private const int Layers = 6, Heads = 12, Width = 384, FeedForward = 1536, Positions = 512;
    private const float LayerNormEpsilon = 1e-12f;

    /// <summary>The cached conversion (<see cref="ModelFiles.CacheDirectory"/>/models), converting on first use.</summary>
    public static string Ensure(bool f16 = false, string? cacheDirectory = null)
    {
        string dir = cacheDirectory ?? Path.Combine(ModelFiles.CacheDirectory, "models");
        string path = Path.Combine(dir, $"all-MiniLM-L6-v2-r{FormatRevision}-{(f16 ? "f16" : "f32")}.gguf");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(dir);
        Convert(path, f16); // GgufWriter writes under a temporary name and moves the file into place when complete
        return path;
    }

    /// <summary>Converts the package's model to <paramref name="outputPath"/>.</summary>
    /// <param name="outputPath">The GGUF file to write.</param>
    /// <param name="f16">Store the matrices (token embeddings and linear weights) as F16; norms, biases and the small embeddings stay F32.</param>
    public static void Convert(string outputPath, bool f16 = false)
    {
        var onnx = OnnxModelFile.Parse(MiniLmResources.ModelBytes());
        var linear = onnx.LinearWeightsByBias();
        var vocab = MiniLmResources.Vocabulary();

        // (GGUF name, values, extents innermost first, matrix?) in file order.
        var tensors = new List<(string Name, Func<float[]> Values, ulong[] Dims, bool Matrix)>();
        void Plain(string gguf, string onnxName, bool matrix = false)
        {
            var t = Require(onnx, onnxName);
            ulong[] dims = [.. t.Shape.Reverse().Select(d => (ulong)d)]; // row-major [rows, cols] -> ggml [cols, rows]
            tensors.Add((gguf, t.ToFloats, dims, matrix));
        }
        void Linear(string gguf, string module)
        {
            string bias = module + ".bias";
            if (!linear.TryGetValue(bias, out var w)) throw new InvalidDataException($"the ONNX graph has no MatMul weight feeding '{bias}'");
            if (w.Shape.Length != 2) throw new InvalidDataException($"'{w.Name}' (weight of {module}) is not a matrix");
            int rows = (int)w.Shape[0], cols = (int)w.Shape[1]; // stored [in, out]: transpose to [out, in], rows of 'in'
            tensors.Add((gguf + ".weight", () => Transpose(w.ToFloats(), rows, cols), [(ulong)rows, (ulong)cols], true));
            Plain(gguf + ".bias", bias);
        }

        Plain("token_embd.weight", "embeddings.word_embeddings.weight", matrix: true);
        Plain("token_types.weight", "embeddings.token_type_embeddings.weight");
        Plain("position_embd.weight", "embeddings.position_embeddings.weight");
        Plain("token_embd_norm.weight", "embeddings.LayerNorm.weight");
        Plain("token_embd_norm.bias", "embeddings.LayerNorm.bias");
        for (int l = 0; l < Layers; l++)
        {
            string hf = $"encoder.layer.{l}.", blk = $"blk.{l}.";
            Linear(blk + "attn_q", hf + "attention.self.query");
            Linear(blk + "attn_k", hf + "attention.self.key");
            Linear(blk + "attn_v", hf + "attention.self.value");
            Linear(blk + "attn_output", hf + "attention.output.dense");
            Plain(blk + "attn_output_norm.weight", hf + "attention.output.LayerNorm.weight");
            Plain(blk + "attn_output_norm.bias", hf + "attention.output.LayerNorm.bias");
            Linear(blk + "ffn_up", hf + "intermediate.dense");
            Linear(blk + "ffn_down", hf + "output.dense");
            Plain(blk + "layer_output_norm.weight", hf + "output.LayerNorm.weight");
            Plain(blk + "layer_output_norm.bias", hf + "output.LayerNorm.bias");
        }

        using var writer = new GgufWriter(outputPath);
        writer.AddMetadata("general.architecture", GgufValue.FromString("bert"));
        writer.AddMetadata("general.name", GgufValue.FromString("all-MiniLM-L6-v2"));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(f16 ? 1u : 0u));
        writer.AddMetadata("bert.context_length", GgufValue.FromUInt32(Positions));
        writer.AddMetadata("bert.embedding_length", GgufValue.FromUInt32(Width));
        writer.AddMetadata("bert.feed_forward_length", GgufValue.FromUInt32(FeedForward));
        writer.AddMetadata("bert.block_count", GgufValue.FromUInt32(Layers));
        writer.AddMetadata("bert.attention.head_count", GgufValue.FromUInt32(Heads));
        writer.AddMetadata("bert.attention.layer_norm_epsilon", GgufValue.FromFloat32(LayerNormEpsilon));
        writer.AddMetadata("bert.attention.causal", GgufValue.FromBool(false));
        writer.AddMetadata("bert.pooling_type", GgufValue.FromUInt32(1)); // mean, as sentence-transformers pools
        writer.AddMetadata("tokenizer.ggml.model", GgufValue.FromString("bert"));
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.FromStringArray(vocab.Select(GgufVocabularySpelling.WordPiece)));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.FromArray([.. vocab.Select(t => IsSpecial(t) ? 3 : 1)])); // control : normal
        writer.AddMetadata("tokenizer.ggml.token_type_count", GgufValue.FromUInt32((uint)Require(onnx, "embeddings.token_type_embeddings.weight").Shape[0]));
        int Id(string token) => IndexOf(vocab, token);
        writer.AddMetadata("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)Id("[CLS]")));
        writer.AddMetadata("tokenizer.ggml.cls_token_id", GgufValue.FromUInt32((uint)Id("[CLS]")));
        writer.AddMetadata("tokenizer.ggml.seperator_token_id", GgufValue.FromUInt32((uint)Id("[SEP]"))); // llama.cpp's spelling
        writer.AddMetadata("tokenizer.ggml.unknown_token_id", GgufValue.FromUInt32((uint)Id("[UNK]")));
        writer.AddMetadata("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)Id("[PAD]")));
        writer.AddMetadata("tokenizer.ggml.mask_token_id", GgufValue.FromUInt32((uint)Id("[MASK]")));

        foreach (var t in tensors) writer.AddTensor(t.Name, f16 && t.Matrix ? GgmlType.F16 : GgmlType.F32, t.Dims);
        foreach (var t in tensors) writer.WriteTensorData(t.Values());
        writer.Complete();
    }

    private static bool IsSpecial(string token) => token is "[PAD]" or "[UNK]" or "[CLS]" or "[SEP]" or "[MASK]";

    private static int IndexOf(IReadOnlyList<string> vocab, string token)
    {
        for (int i = 0; i < vocab.Count; i++) if (vocab[i] == token) return i;
        throw new InvalidDataException($"the vocabulary has no {token}");
    }

    private static OnnxTensor Require(OnnxModelFile onnx, string name) =>
        onnx.Initializers.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"the ONNX model has no initializer '{name}'");

    private static float[] Transpose(float[] values, int rows, int cols)
    {
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) result[c * rows + r] = values[r * cols + c];
        return result;
    }
}
