namespace UQEngine.Evaluation.Metrics;

/// <summary>
/// Item indices sorted ascending by a score, split into tie groups (runs of exactly equal scores; -0.0 equals 0.0).
/// Sorting once and walking the groups with per-item multiplicities is what makes the ranking, selective and
/// equal-mass metrics O(n) per bootstrap resample (see <see cref="Bootstrap"/>).
/// </summary>
/// <remarks>
/// Within a tie group the indices are ascending, so the order is canonical (it depends only on the scores).
/// No metric in this namespace depends on the order inside a group: ties are always treated as a group.
/// NaN scores are rejected; infinities are ordered normally.
/// </remarks>
public sealed class ScoreOrder
{
    private readonly int[] _order;
    private readonly int[] _groupEnds;

    private ScoreOrder(int[] order, int[] groupEnds)
    {
        _order = order;
        _groupEnds = groupEnds;
    }

    /// <summary>Number of items ordered.</summary>
    public int Count => _order.Length;

    /// <summary>Item indices, ascending by score.</summary>
    public ReadOnlySpan<int> Order => _order;

    /// <summary>Number of distinct score values.</summary>
    public int GroupCount => _groupEnds.Length;

    /// <summary>Exclusive end position (in <see cref="Order"/>) of each tie group, ascending.</summary>
    public ReadOnlySpan<int> GroupEnds => _groupEnds;

    /// <summary>The indices of tie group <paramref name="group"/> (0 = lowest score).</summary>
    public ReadOnlySpan<int> Group(int group)
    {
        int start = group == 0 ? 0 : _groupEnds[group - 1];
        return _order.AsSpan(start, _groupEnds[group] - start);
    }

    /// <summary>Sorts <paramref name="scores"/> ascending (O(n log n)). Throws on NaN.</summary>
    public static ScoreOrder Ascending(ReadOnlySpan<double> scores)
    {
        Guard.NoNaN(scores, nameof(scores));
        int n = scores.Length;
        double[] keys = scores.ToArray();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(keys, order);

        int groups = 0;
        for (int i = 0; i < n; i++)
            if (i == n - 1 || keys[i + 1] != keys[i]) groups++;

        int[] ends = new int[groups];
        int g = 0, start = 0;
        for (int i = 0; i < n; i++)
        {
            if (i != n - 1 && keys[i + 1] == keys[i]) continue;
            ends[g++] = i + 1;
            if (i + 1 - start > 1) Array.Sort(order, start, i + 1 - start);
            start = i + 1;
        }
        return new ScoreOrder(order, ends);
    }
}
