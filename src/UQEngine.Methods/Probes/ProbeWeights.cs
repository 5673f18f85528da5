using UQEngine.Methods.Samples;
using System.Numerics.Tensors;

namespace UQEngine.Methods.Probes;

/// <summary>
/// A trained probe's parameters. The optimizer works on standardized features; the stored weights are those, with the
/// standardization beside them. For scoring, the standardization is folded into the first layer once
/// (w'ⱼ = wⱼ / σⱼ, b' = b − Σ wⱼ μⱼ / σⱼ), so a logistic probe's score is one dot product with the raw features.
/// </summary>
public sealed record ProbeWeights
{
    public required ProbeKind Kind { get; init; }
    public required double[] Mean { get; init; }
    public required double[] Std { get; init; }
    /// <summary>0 for logistic regression.</summary>
    public int HiddenUnits { get; init; }
    /// <summary>Logistic: w (d). MLP: W1 (H·d, row per hidden unit).</summary>
    public required double[] InputWeights { get; init; }
    /// <summary>Logistic: [b]. MLP: b1 (H).</summary>
    public required double[] InputBiases { get; init; }
    /// <summary>MLP: w2 (H); empty for logistic.</summary>
    public double[] OutputWeights { get; init; } = [];
    /// <summary>MLP: b2.</summary>
    public double OutputBias { get; init; }
    /// <summary>Platt scaling of the logit: confidence = σ(A·z + B). A = 1, B = 0 when nothing was held out.</summary>
    public double PlattA { get; init; } = 1;
    public double PlattB { get; init; }
    public ProbeTrainingMetrics Metrics { get; init; } = new();

    public int Dimension => Mean.Length;

    private Folded? _folded;

    private sealed record Folded(float[] Input, double[] Bias, double[] From, double[] FromBiases, double[] FromMean, double[] FromStd);

    public static ProbeWeights FromStandardized(ProbeKind kind, Standardizer scaler, double[] p, int hidden)
    {
        int d = scaler.Mean.Length;
        return hidden == 0
            ? new ProbeWeights { Kind = kind, Mean = scaler.Mean, Std = scaler.Std, InputWeights = p[..d], InputBiases = [p[d]] }
            : new ProbeWeights
            {
                Kind = kind, Mean = scaler.Mean, Std = scaler.Std, HiddenUnits = hidden,
                InputWeights = p[..(hidden * d)], InputBiases = p[(hidden * d)..(hidden * d + hidden)],
                OutputWeights = p[(hidden * d + hidden)..(hidden * d + 2 * hidden)], OutputBias = p[hidden * d + 2 * hidden],
            };
    }

    /// <summary>Checks shapes and values (after reading a file); throws naming what is wrong.</summary>
    public void Validate()
    {
        int d = Mean.Length, rows = Kind == ProbeKind.Mlp ? HiddenUnits : 1;
        if (d == 0 || Std.Length != d) throw new FormatException($"normalization has {Mean.Length} means and {Std.Length} standard deviations");
        if (Kind == ProbeKind.Mlp && HiddenUnits < 1) throw new FormatException("an MLP probe needs hidden_units >= 1");
        if (Kind == ProbeKind.Logistic && HiddenUnits != 0) throw new FormatException("a logistic probe has hidden_units 0");
        if (InputWeights.Length != rows * d) throw new FormatException($"input weights have {InputWeights.Length} values, expected {rows * d}");
        if (InputBiases.Length != rows) throw new FormatException($"input biases have {InputBiases.Length} values, expected {rows}");
        if (OutputWeights.Length != (Kind == ProbeKind.Mlp ? HiddenUnits : 0)) throw new FormatException($"output weights have {OutputWeights.Length} values");
        foreach (var (name, values) in new[] { ("mean", Mean), ("std", Std), ("input weights", InputWeights), ("input biases", InputBiases), ("output weights", OutputWeights), ("platt", new[] { PlattA, PlattB, OutputBias }) })
            if (values.Any(v => !double.IsFinite(v))) throw new FormatException($"{name} hold a non-finite value");
        if (Std.Any(s => !(s > 0))) throw new FormatException("a standard deviation is not positive");
    }

    private Folded Fold()
    {
        // Cached per parameter arrays: a `with` copy that swaps weights must not reuse another fold.
        if (_folded is { } c && ReferenceEquals(c.From, InputWeights) && ReferenceEquals(c.FromBiases, InputBiases) && ReferenceEquals(c.FromMean, Mean) && ReferenceEquals(c.FromStd, Std)) return c;
        int d = Dimension, rows = Kind == ProbeKind.Mlp ? HiddenUnits : 1;
        var input = new float[rows * d];
        var bias = new double[rows];
        for (int k = 0; k < rows; k++)
        {
            double b = InputBiases[k];
            for (int j = 0; j < d; j++)
            {
                double w = InputWeights[k * d + j] / Std[j];
                input[k * d + j] = (float)w;
                b -= w * Mean[j];
            }
            bias[k] = b;
        }
        return _folded = new Folded(input, bias, InputWeights, InputBiases, Mean, Std);
    }

    /// <summary>The probe's logit for a raw feature vector (higher = more likely correct).</summary>
    public double Logit(ReadOnlySpan<float> features)
    {
        if (features.Length != Dimension) throw new ArgumentException($"the probe reads {Dimension} features, got {features.Length}", nameof(features));
        var f = Fold();
        if (Kind == ProbeKind.Logistic) return TensorPrimitives.Dot(f.Input, features) + f.Bias[0];
        int d = Dimension;
        double z = OutputBias;
        for (int k = 0; k < HiddenUnits; k++)
            z += OutputWeights[k] * Math.Tanh(TensorPrimitives.Dot(f.Input.AsSpan(k * d, d), features) + f.Bias[k]);
        return z;
    }

    /// <summary>Logistic probes only: w'·h over the first h.Length features (the hidden state), without bias.</summary>
    internal double LinearPartial(ReadOnlySpan<float> values, int offset) => TensorPrimitives.Dot(Fold().Input.AsSpan(offset, values.Length), values);

    internal double LinearBias => Fold().Bias[0];

    /// <summary>The calibrated confidence σ(A·z + B).</summary>
    public double Confidence(double logit) => LogMath.Sigmoid(PlattA * logit + PlattB);
}

/// <summary>Which classifier a probe is.</summary>
public enum ProbeKind
{
    /// <summary>L2-regularised, class-balanced logistic regression.</summary>
    Logistic,

    /// <summary>One tanh hidden layer, then a logistic output; L2 on the weights, class-balanced.</summary>
    Mlp,
}

/// <summary>Per-feature standardization (x − mean) / std; a constant feature keeps std 1.</summary>
public sealed record Standardizer(double[] Mean, double[] Std)
{
    public static Standardizer Fit(IReadOnlyList<float[]> rows)
    {
        int d = rows[0].Length;
        var mean = new double[d];
        var std = new double[d];
        foreach (var r in rows) for (int j = 0; j < d; j++) mean[j] += r[j];
        for (int j = 0; j < d; j++) mean[j] /= rows.Count;
        foreach (var r in rows) for (int j = 0; j < d; j++) { double c = r[j] - mean[j]; std[j] += c * c; }
        for (int j = 0; j < d; j++)
        {
            double s = Math.Sqrt(std[j] / rows.Count);
            std[j] = s > 1e-8 * (1 + Math.Abs(mean[j])) ? s : 1;
        }
        return new Standardizer(mean, std);
    }

    public double[] Apply(ReadOnlySpan<float> row)
    {
        var z = new double[row.Length];
        for (int j = 0; j < row.Length; j++) z[j] = (row[j] - Mean[j]) / Std[j];
        return z;
    }
}

/// <summary>What training measured, stored in the probe file.</summary>
public sealed record ProbeTrainingMetrics
{
    public int TrainCount { get; init; }
    public int TrainPositives { get; init; }
    public int CalibrationCount { get; init; }
    public int CalibrationPositives { get; init; }
    /// <summary>AUROC of the probe's score for correctness on the training part.</summary>
    public double? TrainAuroc { get; init; }
    /// <summary>AUROC on the held-out calibration part (null when it is empty or one class).</summary>
    public double? HeldOutAuroc { get; init; }
    public double FinalLoss { get; init; }
    public int Iterations { get; init; }
    public string OptimizerExit { get; init; } = "";
}
