namespace UQEngine.Native;

/// <summary>
/// A context's memory (KV cache), llama_memory_t from <see cref="SafeLlamaContextHandle.GetMemory"/>. Not owned:
/// llama.cpp frees it with the context, so the caller keeps the context alive (and checks it is not disposed).
/// </summary>
internal readonly struct LlamaMemory(nint memory)
{
    private readonly nint _memory = memory;

    /// <summary>llama_memory_clear: empties every sequence (and the cells' data when <paramref name="data"/>).</summary>
    public void Clear(bool data) => LlamaNative.llama_memory_clear(_memory, data);

    /// <summary>llama_memory_seq_rm: removes a sequence's tokens in [p0, p1) (-1 = open end); false when a partial removal is impossible.</summary>
    public bool RemoveTokens(int sequence, int p0, int p1) => LlamaNative.llama_memory_seq_rm(_memory, sequence, p0, p1);

    /// <summary>llama_memory_seq_cp: makes <paramref name="destination"/> share <paramref name="source"/>'s tokens in [p0, p1).</summary>
    public void CopySequence(int source, int destination, int p0, int p1) => LlamaNative.llama_memory_seq_cp(_memory, source, destination, p0, p1);

    /// <summary>llama_memory_seq_pos_max: highest cached position of a sequence, or -1 when it is empty.</summary>
    public int LastPosition(int sequence) => LlamaNative.llama_memory_seq_pos_max(_memory, sequence);
}
