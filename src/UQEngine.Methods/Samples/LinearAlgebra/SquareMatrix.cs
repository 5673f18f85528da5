namespace UQEngine.Methods.Samples.LinearAlgebra;

/// <summary>
/// A small dense n×n matrix of doubles stored row-major in one array (n is the number of samples, typically ≤ 50).
/// Similarity matrices, NLI probability matrices and transition matrices all use it.
/// </summary>
public sealed class SquareMatrix
{
    private readonly double[] _data;

    public SquareMatrix(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        Size = size;
        _data = new double[size * size];
    }

    private SquareMatrix(int size, double[] data) { Size = size; _data = data; }

    /// <summary>Rows and columns.</summary>
    public int Size { get; }

    public double this[int row, int column]
    {
        get => _data[row * Size + column];
        set => _data[row * Size + column] = value;
    }

    /// <summary>The row-major storage (length Size²).</summary>
    public Span<double> AsSpan() => _data;

    public ReadOnlySpan<double> Row(int row) => new(_data, row * Size, Size);

    /// <summary>Wraps row-major values (copied). Length must be a perfect square.</summary>
    public static SquareMatrix FromRowMajor(ReadOnlySpan<double> values)
    {
        int n = (int)Math.Round(Math.Sqrt(values.Length));
        if (n * n != values.Length) throw new ArgumentException($"{values.Length} values do not form a square matrix.", nameof(values));
        return new SquareMatrix(n, values.ToArray());
    }

    /// <summary>Builds from jagged rows (each row must have as many entries as there are rows).</summary>
    public static SquareMatrix FromRows(params double[][] rows)
    {
        var m = new SquareMatrix(rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Length != rows.Length) throw new ArgumentException($"Row {i} has {rows[i].Length} entries; expected {rows.Length}.", nameof(rows));
            rows[i].CopyTo(m._data, i * rows.Length);
        }
        return m;
    }

    public static SquareMatrix Identity(int size)
    {
        var m = new SquareMatrix(size);
        for (int i = 0; i < size; i++) m[i, i] = 1;
        return m;
    }

    public SquareMatrix Clone() => new(Size, (double[])_data.Clone());

    /// <summary>(W + Wᵀ)/2, the symmetrization LM-Polygraph applies to directional NLI matrices.</summary>
    public SquareMatrix Symmetrized()
    {
        var s = new SquareMatrix(Size);
        for (int i = 0; i < Size; i++)
            for (int j = 0; j < Size; j++)
                s[i, j] = 0.5 * (this[i, j] + this[j, i]);
        return s;
    }

    /// <summary>1 − W elementwise (e.g. the "contra" affinity 1 − p_contradiction).</summary>
    public SquareMatrix OneMinus()
    {
        var s = new SquareMatrix(Size);
        for (int k = 0; k < _data.Length; k++) s._data[k] = 1 - _data[k];
        return s;
    }

    /// <summary>The principal submatrix on the given indices (rows and columns in that order).</summary>
    public SquareMatrix Submatrix(ReadOnlySpan<int> indices)
    {
        var s = new SquareMatrix(indices.Length);
        for (int i = 0; i < indices.Length; i++)
            for (int j = 0; j < indices.Length; j++)
                s[i, j] = this[indices[i], indices[j]];
        return s;
    }

    /// <summary>Matrix product this·other.</summary>
    public SquareMatrix Multiply(SquareMatrix other)
    {
        if (other.Size != Size) throw new ArgumentException("Sizes differ.", nameof(other));
        int n = Size;
        var r = new SquareMatrix(n);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double a = this[i, k];
                if (a == 0) continue;
                for (int j = 0; j < n; j++) r._data[i * n + j] += a * other._data[k * n + j];
            }
        return r;
    }

    /// <summary>Sum of all entries.</summary>
    public double Sum()
    {
        double s = 0;
        foreach (double v in _data) s += v;
        return s;
    }

    internal void RequireFinite(string name)
    {
        for (int k = 0; k < _data.Length; k++)
            if (!double.IsFinite(_data[k])) throw new ArgumentException($"'{name}'[{k / Size}, {k % Size}] = {_data[k]} is not finite.", name);
    }

    internal void RequireSize(int expected, string name)
    {
        if (Size != expected) throw new ArgumentException($"'{name}' is {Size}×{Size}; expected {expected}×{expected}.", name);
    }
}
