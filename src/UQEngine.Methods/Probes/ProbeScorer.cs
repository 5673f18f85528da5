using System.Numerics.Tensors;
using UQEngine.Inference;

namespace UQEngine.Methods.Probes;

/// <summary>A probe's reading of one answer: a confidence per decoding step and for the whole answer.</summary>
/// <param name="TokenConfidences">Step t: the probe applied to the answer so far (the state at step t for a
/// last-token probe, the mean of steps 0..t for a mean probe), Platt-calibrated. The last equals <see cref="Confidence"/>.</param>
/// <param name="Logit">The answer's uncalibrated probe logit.</param>
/// <param name="Confidence">The answer's calibrated P(correct).</param>
public sealed record ProbeReading(IReadOnlyList<double> TokenConfidences, double Logit, double Confidence);

/// <summary>
/// Applies a probe inside the decoding loop: <see cref="Observe"/> is a <see cref="DecodeStepObserver"/> that reads
/// each step's hidden state in place (no copy) and the token statistics the fused kernel already computed. A logistic
/// probe costs one dot product of n_embd per step: the mean over the answer of w·h is w·(mean h), so only the running
/// sum of dot products is kept. An MLP probe keeps the running sum of states. One scorer per sequence; call
/// <see cref="Reset"/> between answers.
/// </summary>
public sealed class ProbeScorer
{
    private readonly ProbeFile _probe;
    private readonly ProbeWeights _w;
    private readonly int _layer;
    private readonly bool _mean;
    private readonly bool _tokenFeatures;
    private readonly float[] _features;   // MLP: the feature vector being built
    private readonly float[] _sum;        // MLP + mean: running sum of states
    private readonly float[] _tokenBuffer = new float[AnswerTokenStatistics.Count];
    private readonly List<double> _confidences = [];
    private AnswerTokenStatistics _tokens;
    private double _dotSum;
    private double _lastLogit;
    private int _steps;

    public ProbeScorer(ProbeFile probe)
    {
        _probe = probe;
        _w = probe.Weights;
        _layer = probe.Features.Layer;
        _mean = probe.Features.Kind == HiddenFeatureKind.MeanOverAnswer;
        _tokenFeatures = probe.Features.TokenProbabilityFeatures;
        _features = new float[probe.Dimension];
        _sum = new float[probe.Model.EmbeddingSize];
    }

    public ProbeFile Probe => _probe;

    public void Reset()
    {
        _confidences.Clear();
        _tokens = default;
        _dotSum = 0;
        _lastLogit = 0;
        _steps = 0;
        Array.Clear(_sum);
    }

    /// <summary>Context options that expose the layer this probe reads.</summary>
    public ContextOptions Configure(ContextOptions options, LlamaModel model) => ProbeLayers.Expose(options, [_layer], model.Facts);

    public void Observe(in DecodeStep step)
    {
        ReadOnlySpan<float> hidden = ProbeLayers.Read(step, _layer);
        _steps++;
        if (_tokenFeatures)
        {
            _tokens.Add(step.Statistics.ChosenLogProbability, step.Statistics.Entropy);
            _tokens.Write(_tokenBuffer);
        }
        double z;
        if (_w.Kind == ProbeKind.Logistic)
        {
            double dot = _w.LinearPartial(hidden, 0);
            _dotSum += dot;
            z = (_mean ? _dotSum / _steps : dot) + _w.LinearBias;
            if (_tokenFeatures) z += _w.LinearPartial(_tokenBuffer, hidden.Length);
        }
        else
        {
            var h = _features.AsSpan(0, hidden.Length);
            if (_mean)
            {
                TensorPrimitives.Add(_sum, hidden, _sum);
                TensorPrimitives.Divide(_sum, _steps, h);
            }
            else hidden.CopyTo(h);
            if (_tokenFeatures) _tokenBuffer.CopyTo(_features.AsSpan(hidden.Length));
            z = _w.Logit(_features);
        }
        _lastLogit = z;
        _confidences.Add(_w.Confidence(z));
    }

    /// <summary>The reading of the answer observed since <see cref="Reset"/>.</summary>
    public ProbeReading Result()
    {
        if (_steps == 0) throw new InvalidOperationException("the probe observed no decoding step");
        return new ProbeReading([.. _confidences], _lastLogit, _w.Confidence(_lastLogit));
    }
}

/// <summary>
/// One <see cref="ProbeScorer"/> per sequence of a batched generation (samples of one prompt): <see cref="Observe"/>
/// routes each step to its sequence's scorer.
/// </summary>
public sealed class ProbeScorerSet
{
    private readonly ProbeScorer[] _scorers;

    public ProbeScorerSet(ProbeFile probe, int sequences)
    {
        if (sequences < 1) throw new ArgumentOutOfRangeException(nameof(sequences), sequences, "at least one sequence");
        _scorers = [.. Enumerable.Range(0, sequences).Select(_ => new ProbeScorer(probe))];
    }

    public void Reset() { foreach (var s in _scorers) s.Reset(); }

    public void Observe(in DecodeStep step) => _scorers[step.Sequence].Observe(step);

    /// <summary>The reading of sequence <paramref name="sequence"/>.</summary>
    public ProbeReading Result(int sequence) => _scorers[sequence].Result();
}
