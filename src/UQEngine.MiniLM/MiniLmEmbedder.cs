using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using UQEngine.Inference;

namespace UQEngine.MiniLM;

/// <summary>
/// Sentence embeddings of all-MiniLM-L6-v2 through ONNX Runtime (CPU), as sentence-transformers computes them: the
/// texts of one call are tokenized (<see cref="MiniLmTokenizer"/>), padded to the longest and run as one batch; each
/// text's vector is the mean of its last hidden states over the attention mask, L2-normalised. 384 floats a text.
/// </summary>
public sealed class MiniLmEmbedder : ITextEmbedder, IDisposable
{
    private readonly InferenceSession _session;
    private readonly MiniLmTokenizer _tokenizer;
    private readonly int _maxBatch;

    /// <param name="threads">ONNX Runtime's intra-op threads (0 = its default: one per core).</param>
    /// <param name="maxBatch">Texts per ONNX run at most (larger calls are split).</param>
    public MiniLmEmbedder(int threads = 0, int maxBatch = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _maxBatch = maxBatch;
        _tokenizer = new MiniLmTokenizer();
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        _session = new InferenceSession(MiniLmResources.ModelBytes(), options);
    }

    /// <summary>Embedding width (384).</summary>
    public int Dimension => MiniLmResources.Dimension;

    public MiniLmTokenizer Tokenizer => _tokenizer;

    public IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var result = new float[texts.Count][];
        for (int start = 0; start < texts.Count; start += _maxBatch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(_maxBatch, texts.Count - start);
            var ids = new int[count][];
            for (int i = 0; i < count; i++)
                ids[i] = _tokenizer.Encode(texts[start + i] ?? throw new ArgumentException($"text {start + i} is null", nameof(texts)));
            var vectors = Run(ids);
            for (int i = 0; i < count; i++) result[start + i] = vectors[i];
        }
        return result;
    }

    /// <summary>One ONNX run over token-id sequences (each with its [CLS] and [SEP]): pooled, normalised vectors.</summary>
    public float[][] Run(IReadOnlyList<int[]> sequences)
    {
        int batch = sequences.Count;
        if (batch == 0) return [];
        int length = sequences.Max(s => s.Length);
        var inputIds = new DenseTensor<long>([batch, length]);
        var mask = new DenseTensor<long>([batch, length]);
        var types = new DenseTensor<long>([batch, length]);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
            {
                bool real = t < sequences[b].Length;
                inputIds[b, t] = real ? sequences[b][t] : _tokenizer.PaddingTokenId;
                mask[b, t] = real ? 1 : 0;
            }
        var inputs = new List<NamedOnnxValue>(3)
        {
            NamedOnnxValue.CreateFromTensor("input_ids", inputIds),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
            NamedOnnxValue.CreateFromTensor("token_type_ids", types),
        };
        using var outputs = _session.Run(inputs, ["last_hidden_state"]);
        var hidden = outputs[0].AsTensor<float>();
        int width = hidden.Dimensions[2];
        var result = new float[batch][];
        for (int b = 0; b < batch; b++)
        {
            // Mean over the attended positions (sum(h · mask) / max(sum(mask), 1e-9)), then x / max(‖x‖, 1e-12).
            var sum = new double[width];
            int n = sequences[b].Length;
            for (int t = 0; t < n; t++)
                for (int d = 0; d < width; d++) sum[d] += hidden[b, t, d];
            double count = Math.Max(n, 1e-9);
            double norm = 0;
            for (int d = 0; d < width; d++) { sum[d] /= count; norm += sum[d] * sum[d]; }
            norm = Math.Max(Math.Sqrt(norm), 1e-12);
            var v = new float[width];
            for (int d = 0; d < width; d++) v[d] = (float)(sum[d] / norm);
            result[b] = v;
        }
        return result;
    }

    public void Dispose() => _session.Dispose();
}
