using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>
/// Owns the native memory behind a <see cref="LlamaBatch"/>: one block holding tokens, positions, sequence-id
/// counts, sequence-id pointers, the sequence ids themselves and output flags. Managed allocation here rather than
/// llama_batch_init so that one owner frees it, and reuse across steps needs no native call.
/// </summary>
public sealed unsafe class LlamaBatchBuffer : SafeHandle
{
    public int Capacity { get; }
    public int MaxSequencesPerToken { get; }
    private LlamaBatch _batch;

    public LlamaBatchBuffer(int capacity, int maxSequencesPerToken = 1) : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequencesPerToken, 1);
        Capacity = capacity;
        MaxSequencesPerToken = maxSequencesPerToken;
        nuint ints = (nuint)capacity * (nuint)(3 + maxSequencesPerToken); // tokens, positions, counts, ids
        nuint bytes = ints * sizeof(int) + (nuint)capacity * (nuint)sizeof(int*) + (nuint)capacity + 64;
        byte* block = (byte*)NativeMemory.AllocZeroed(bytes);
        SetHandle((nint)block);
        // Pointers first (8-byte aligned), then 4-byte arrays, then the byte flags.
        int** seqPtrs = (int**)block;
        int* tokens = (int*)(seqPtrs + capacity);
        int* positions = tokens + capacity;
        int* counts = positions + capacity;
        int* ids = counts + capacity;
        sbyte* outputs = (sbyte*)(ids + (nint)capacity * maxSequencesPerToken);
        for (int i = 0; i < capacity; i++) seqPtrs[i] = ids + (nint)i * maxSequencesPerToken;
        _batch = new LlamaBatch
        {
            TokenCount = 0, Tokens = tokens, Embeddings = null, Positions = positions,
            SequenceIdCounts = counts, SequenceIds = seqPtrs, Outputs = outputs,
        };
    }

    public int Count => _batch.TokenCount;

    public void Clear() => _batch.TokenCount = 0;

    /// <summary>Appends one token at a position for one sequence; returns its index in the batch.</summary>
    public int Add(int token, int position, int sequenceId, bool wantOutput)
    {
        int i = _batch.TokenCount;
        if (i >= Capacity) throw new InvalidOperationException($"batch is full ({Capacity} tokens)");
        _batch.Tokens[i] = token;
        _batch.Positions[i] = position;
        _batch.SequenceIdCounts[i] = 1;
        _batch.SequenceIds[i][0] = sequenceId;
        _batch.Outputs[i] = wantOutput ? (sbyte)1 : (sbyte)0;
        _batch.TokenCount = i + 1;
        return i;
    }

    /// <summary>Appends one token shared by several sequences (e.g. a common prompt).</summary>
    public int Add(int token, int position, ReadOnlySpan<int> sequenceIds, bool wantOutput)
    {
        if (sequenceIds.Length == 0 || sequenceIds.Length > MaxSequencesPerToken)
            throw new ArgumentOutOfRangeException(nameof(sequenceIds), $"1..{MaxSequencesPerToken} sequence ids per token");
        int i = Add(token, position, sequenceIds[0], wantOutput);
        for (int s = 0; s < sequenceIds.Length; s++) _batch.SequenceIds[i][s] = sequenceIds[s];
        _batch.SequenceIdCounts[i] = sequenceIds.Length;
        return i;
    }

    /// <summary>The sequence ids of the token at <paramref name="index"/>.</summary>
    public ReadOnlySpan<int> SequencesOf(int index)
    {
        if ((uint)index >= (uint)_batch.TokenCount) throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is outside the batch (0..{_batch.TokenCount - 1})");
        return new ReadOnlySpan<int>(_batch.SequenceIds[index], _batch.SequenceIdCounts[index]);
    }

    public void SetOutput(int index, bool wantOutput) => _batch.Outputs[index] = wantOutput ? (sbyte)1 : (sbyte)0;

    /// <summary>Tokens of the current batch that asked for output.</summary>
    public int OutputCount
    {
        get
        {
            int n = 0;
            for (int i = 0; i < _batch.TokenCount; i++) n += _batch.Outputs[i] != 0 ? 1 : 0;
            return n;
        }
    }

    internal LlamaBatch Native => _batch;

    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { NativeMemory.Free((void*)handle); return true; }
}
