using System.Runtime.CompilerServices;

namespace UQEngine.Kernels;

/// <summary>
/// Streaming top-k over logits, stored in the caller's span: during the scan the span holds a binary min-heap of
/// (id, logit) whose root is the current k-th best, so <see cref="Threshold"/> is the bar a new logit must clear.
/// Candidates arrive in increasing id order, so a tie with the root always loses (ties go to the lower id) and a
/// strict "logit &gt; Threshold" test is exact. NaN and −∞ never clear the bar; they are appended by
/// <see cref="Complete"/> only when fewer than k logits are above −∞.
/// </summary>
internal ref struct TopKSelector
{
    private readonly Span<TopToken> _heap; // LogProbability holds the raw logit until Complete converts it
    private int _count;

    /// <summary>A logit must be strictly greater than this to enter: +∞ when k = 0, −∞ until the heap is full, then the root.</summary>
    public float Threshold;

    public TopKSelector(Span<TopToken> destination, int vocabularySize)
    {
        _heap = destination[..Math.Min(destination.Length, vocabularySize)];
        _count = 0;
        Threshold = _heap.Length == 0 ? float.PositiveInfinity : float.NegativeInfinity;
    }

    /// <summary>min(k, V): how many entries the selection will hold.</summary>
    public readonly int Capacity => _heap.Length;

    /// <summary>Adds a candidate; the caller has checked <c>logit &gt; Threshold</c> and offers ids in increasing order.</summary>
    public void Offer(int tokenId, float logit)
    {
        var entry = new TopToken(tokenId, logit);
        if (_count < _heap.Length)
        {
            SiftUp(_count++, entry);
            if (_count == _heap.Length)
            {
                Threshold = _heap[0].LogProbability;
            }
        }
        else
        {
            SiftDown(0, _count, entry);
            Threshold = _heap[0].LogProbability;
        }
    }

    /// <summary>Offers every element of <paramref name="block"/> above the threshold; <paramref name="firstTokenId"/> is the id of block[0].</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // cold path: keeps the SIMD loop that calls it small
    public void OfferBlock(ReadOnlySpan<float> block, int firstTokenId)
    {
        for (int i = 0; i < block.Length; i++)
        {
            if (block[i] > Threshold)
            {
                Offer(firstTokenId + i, block[i]);
            }
        }
    }

    /// <summary>
    /// Sorts the selection descending (ties by lower id), tops it up with the lowest-id −∞, then NaN, logits if fewer than
    /// min(k, V) logits were above −∞, and converts logits to log-probabilities with <paramref name="toLogProbability"/>.
    /// Slots of the caller's span beyond min(k, V) are set to (−1, −∞). Returns min(k, V).
    /// </summary>
    public int Complete(ReadOnlySpan<float> logits, Span<TopToken> destination, LogProbabilityMap toLogProbability)
    {
        // Heapsort: moving the root (worst) to the end each time leaves the span best-first.
        for (int end = _count - 1; end > 0; end--)
        {
            TopToken worst = _heap[0];
            SiftDown(0, end, _heap[end]);
            _heap[end] = worst;
        }

        // −∞ first, then NaN (never offered during the scan): NaN ranks last, so it is never top-1 (see the NaN rule).
        int filled = _count;
        for (int id = 0; filled < _heap.Length && id < logits.Length; id++)
        {
            if (float.IsNegativeInfinity(logits[id]))
            {
                _heap[filled++] = new TopToken(id, float.NegativeInfinity);
            }
        }
        for (int id = 0; filled < _heap.Length && id < logits.Length; id++)
        {
            if (float.IsNaN(logits[id]))
            {
                _heap[filled++] = new TopToken(id, float.NegativeInfinity);
            }
        }

        for (int i = 0; i < filled; i++)
        {
            _heap[i] = new TopToken(_heap[i].TokenId, toLogProbability.Apply(_heap[i].LogProbability));
        }

        destination[filled..].Fill(new TopToken(-1, float.NegativeInfinity));
        return filled;
    }

    // Min-heap on "worse": lower logit, or equal logit and higher id.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWorse(in TopToken a, in TopToken b) =>
        a.LogProbability < b.LogProbability || (a.LogProbability == b.LogProbability && a.TokenId > b.TokenId);

    private readonly void SiftUp(int index, TopToken entry)
    {
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (!IsWorse(entry, _heap[parent]))
            {
                break;
            }
            _heap[index] = _heap[parent];
            index = parent;
        }
        _heap[index] = entry;
    }

    private readonly void SiftDown(int index, int count, TopToken entry)
    {
        while (true)
        {
            int child = 2 * index + 1;
            if (child >= count)
            {
                break;
            }
            if (child + 1 < count && IsWorse(_heap[child + 1], _heap[child]))
            {
                child++;
            }
            if (!IsWorse(_heap[child], entry))
            {
                break;
            }
            _heap[index] = _heap[child];
            index = child;
        }
        _heap[index] = entry;
    }
}

/// <summary>Maps a raw logit to its reported log-probability for each <see cref="DistributionStatus"/>.</summary>
internal readonly struct LogProbabilityMap
{
    private readonly DistributionStatus _status;
    private readonly double _max;
    private readonly double _logSum;
    private readonly float _uniformLogProbability;

    /// <param name="status">Which definition applies.</param>
    /// <param name="max">The maximum logit m (regular steps).</param>
    /// <param name="logSum">ln S = ln Σ e^{x−m} (regular steps).</param>
    /// <param name="uniformLogProbability">ln p of every supported token in a degenerate step.</param>
    public LogProbabilityMap(DistributionStatus status, double max, double logSum, float uniformLogProbability)
    {
        _status = status;
        _max = max;
        _logSum = logSum;
        _uniformLogProbability = uniformLogProbability;
    }

    /// <summary>ln p for a logit, with NaN treated as −∞.</summary>
    public float Apply(float logit) => _status switch
    {
        // (x − m) is exact in double and ln S is not added to m first: the dominant token's ln p = −ln S stays exact.
        DistributionStatus.Regular => logit > float.NegativeInfinity ? (float)((logit - _max) - _logSum) : float.NegativeInfinity,
        DistributionStatus.PositiveInfinity => float.IsPositiveInfinity(logit) ? _uniformLogProbability : float.NegativeInfinity,
        _ => _uniformLogProbability,
    };
}
