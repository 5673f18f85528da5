using UQEngine.Methods.Samples;
using UQEngine.Evaluation.Metrics;

namespace UQEngine.Evaluation.Calibration;

/// <summary>
/// Binary temperature scaling (Guo et al. 2017, one parameter): calibrated confidence = σ(z / T), where the input
/// score z is the <b>logit (log-odds) of the model's confidence</b> that its answer is correct; convert a
/// probability with <see cref="CalibrationMath.Logit"/>. T &gt; 1 softens over-confident scores, T &lt; 1 sharpens.
/// Temperature scaling keeps the ranking (AUROC is unchanged) and changes only calibration.
/// </summary>
/// <remarks>
/// T minimises the mean NLL −(1/n) Σ [y ln σ(z/T) + (1 − y) ln(1 − σ(z/T))] by golden-section search on ln T over
/// [ln <see cref="MinTemperature"/>, ln <see cref="MaxTemperature"/>] to a width of 1e−10. The NLL is convex in
/// β = 1/T (logistic regression without intercept), so it is unimodal in ln T and the search finds the global
/// minimum in the bracket. When the minimum is at a bracket end (separable data drives T → 0; anti-correlated
/// logits would need a negative T) the fit stops there and <see cref="HitBound"/> is set.
/// </remarks>
public sealed class TemperatureScaling : ICalibrator
{
    /// <summary>Smallest temperature searched.</summary>
    public const double MinTemperature = 1e-3;

    /// <summary>Largest temperature searched.</summary>
    public const double MaxTemperature = 1e3;

    public string Name => "temperature";

    public bool IsFitted { get; private set; }

    /// <summary>The fitted temperature (1 before fitting).</summary>
    public double Temperature { get; private set; } = 1;

    /// <summary>True when the optimum lay at a bound of the search range.</summary>
    public bool HitBound { get; private set; }

    /// <summary>Mean NLL on the calibration split at the fitted temperature.</summary>
    public double FittedNll { get; private set; }

    /// <summary>Fits T on calibration logits.</summary>
    public void Fit(ReadOnlySpan<double> logits, ReadOnlySpan<bool> labels)
    {
        CalibrationMath.CheckFit(logits, labels);
        double lo = Math.Log(MinTemperature), hi = Math.Log(MaxTemperature);
        double invPhi = (Math.Sqrt(5) - 1) / 2;
        double c = hi - invPhi * (hi - lo), d = lo + invPhi * (hi - lo);
        double fc = MeanNll(logits, labels, Math.Exp(c)), fd = MeanNll(logits, labels, Math.Exp(d));
        while (hi - lo > 1e-10)
        {
            if (fc <= fd)
            {
                hi = d; d = c; fd = fc;
                c = hi - invPhi * (hi - lo);
                fc = MeanNll(logits, labels, Math.Exp(c));
            }
            else
            {
                lo = c; c = d; fc = fd;
                d = lo + invPhi * (hi - lo);
                fd = MeanNll(logits, labels, Math.Exp(d));
            }
        }
        double t = (lo + hi) / 2;
        HitBound = t - Math.Log(MinTemperature) < 1e-6 || Math.Log(MaxTemperature) - t < 1e-6;
        Temperature = Math.Exp(t);
        FittedNll = MeanNll(logits, labels, Temperature);
        IsFitted = true;
    }

    /// <summary>σ(z / T).</summary>
    public double Apply(double logit)
    {
        if (!IsFitted) throw new InvalidOperationException("Fit the temperature first.");
        CalibrationMath.CheckApply(logit);
        return LogMath.Sigmoid(logit / Temperature);
    }

    public void Apply(ReadOnlySpan<double> logits, Span<double> destination)
    {
        CalibrationMath.CheckDestination(logits, destination);
        for (int i = 0; i < logits.Length; i++) destination[i] = Apply(logits[i]);
    }

    /// <summary>Mean NLL (nats) of σ(z / T) against the labels.</summary>
    public static double MeanNll(ReadOnlySpan<double> logits, ReadOnlySpan<bool> labels, double temperature)
    {
        Guard.SameLength(logits.Length, labels.Length, nameof(labels));
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        double beta = 1 / temperature, sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += CalibrationMath.LogLoss(beta * logits[i], labels[i] ? 1 : 0);
        return logits.IsEmpty ? 0 : sum / logits.Length;
    }
}
