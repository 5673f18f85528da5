namespace UQEngine.Gguf;

/// <summary>
/// One adapted matrix: y = W x + s · B (A x), s = alpha / rank (llama.cpp's build_lora_mm). <see cref="A"/> is
/// row-major [rank, in] and <see cref="B"/> row-major [out, rank] (PEFT's lora_A / lora_B), where the base tensor
/// <see cref="BaseTensor"/> has ggml dimensions [in, out].
/// </summary>
public sealed record LoraMatrix(string BaseTensor, int Rank, float[] A, float[] B);

/// <summary>
/// The GGUF LoRA adapter format llama.cpp v0.5.0 loads (llama_adapter_lora_init): general.type "adapter",
/// general.architecture of the base, adapter.type "lora", adapter.lora.alpha, and per adapted matrix the tensors
/// "&lt;base name&gt;.lora_a" (ggml [in, rank]) and ".lora_b" (ggml [rank, out]). An activated LoRA also carries
/// adapter.alora.invocation_tokens (u32 array): the adapter acts from those tokens on.
/// </summary>
public static class LoraAdapterFile
{
    public const string TypeKey = "general.type", AdapterTypeKey = "adapter.type", AlphaKey = "adapter.lora.alpha";
    public const string InvocationTokensKey = "adapter.alora.invocation_tokens";
    public const string LoraASuffix = ".lora_a", LoraBSuffix = ".lora_b";

    /// <summary>
    /// Writes an adapter for <paramref name="baseModel"/>: every matrix is checked against the base tensor's shape,
    /// so a wrong name or shape is an ArgumentException here rather than a load failure in llama.cpp.
    /// </summary>
    public static void Write(string path, GgufFile baseModel, float alpha, IReadOnlyList<LoraMatrix> matrices,
        IReadOnlyList<int>? invocationTokens = null, IEnumerable<KeyValuePair<string, GgufValue>>? extraMetadata = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(matrices);
        if (matrices.Count == 0) throw new ArgumentException("an adapter needs at least one matrix", nameof(matrices));
        if (!float.IsFinite(alpha) || alpha <= 0) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be a positive number");
        string architecture = baseModel.Metadata.TryGetValue("general.architecture", out var arch) ? arch.AsString()
            : throw new ArgumentException($"{baseModel.Path} has no general.architecture", nameof(baseModel));
        var shapes = new List<(LoraMatrix M, ulong In, ulong Out)>();
        foreach (var m in matrices)
        {
            if (!baseModel.TryGetTensor(m.BaseTensor, out var t)) throw new ArgumentException($"the base model {Path.GetFileName(baseModel.Path)} has no tensor '{m.BaseTensor}'", nameof(matrices));
            if (t.Dimensions.Length != 2) throw new ArgumentException($"'{m.BaseTensor}' is not a matrix ({t.ShapeText})", nameof(matrices));
            if (m.BaseTensor.EndsWith("token_embd.weight", StringComparison.Ordinal)) throw new ArgumentException("token_embd takes a transposed LoRA in llama.cpp; not supported here", nameof(matrices));
            ulong inputs = t.Dimensions[0], outputs = t.Dimensions[1];
            if (m.Rank < 1) throw new ArgumentException($"'{m.BaseTensor}': rank must be at least 1", nameof(matrices));
            if ((ulong)m.A.Length != (ulong)m.Rank * inputs) throw new ArgumentException($"'{m.BaseTensor}': A has {m.A.Length} values, rank {m.Rank} x {inputs} inputs expected", nameof(matrices));
            if ((ulong)m.B.Length != outputs * (ulong)m.Rank) throw new ArgumentException($"'{m.BaseTensor}': B has {m.B.Length} values, {outputs} outputs x rank {m.Rank} expected", nameof(matrices));
            if (!m.A.All(float.IsFinite) || !m.B.All(float.IsFinite)) throw new ArgumentException($"'{m.BaseTensor}': non-finite weights", nameof(matrices));
            shapes.Add((m, inputs, outputs));
        }

        using var writer = new GgufWriter(path);
        writer.AddMetadata("general.architecture", GgufValue.FromString(architecture));
        writer.AddMetadata(TypeKey, GgufValue.FromString("adapter"));
        writer.AddMetadata(AdapterTypeKey, GgufValue.FromString("lora"));
        writer.AddMetadata(AlphaKey, GgufValue.FromFloat32(alpha));
        if (invocationTokens is { Count: > 0 })
        {
            uint[] tokens = [.. invocationTokens.Select(t => checked((uint)t))];
            writer.AddMetadata(InvocationTokensKey, GgufValue.FromArray((ReadOnlySpan<uint>)tokens));
        }
        foreach (var kv in extraMetadata ?? []) writer.AddMetadata(kv.Key, kv.Value);
        foreach (var (m, inputs, outputs) in shapes)
        {
            writer.AddTensor(m.BaseTensor + LoraASuffix, GgmlType.F32, [inputs, (ulong)m.Rank]);
            writer.AddTensor(m.BaseTensor + LoraBSuffix, GgmlType.F32, [(ulong)m.Rank, outputs]);
        }
        foreach (var (m, _, _) in shapes)
        {
            writer.WriteTensorData(m.A);
            writer.WriteTensorData(m.B);
        }
        writer.Complete();
    }

    /// <summary>Whether the file's metadata says it is a LoRA adapter (general.type "adapter", adapter.type "lora").</summary>
    public static bool IsLoraAdapter(GgufFile file) =>
        file.Metadata.TryGetValue(TypeKey, out var type) && type.Type == GgufValueType.String && type.AsString() == "adapter"
        && file.Metadata.TryGetValue(AdapterTypeKey, out var at) && at.Type == GgufValueType.String && at.AsString() == "lora";
}
