using System.Numerics.Tensors;
using UQEngine.Inference;

namespace UQEngine.Methods.Probes;

/// <summary>Which summary of the answer's hidden states a probe reads.</summary>
public enum HiddenFeatureKind
{
    /// <summary>The state at the answer's last step: the one that read the last answer token and chose what ends it.</summary>
    LastToken,

    /// <summary>The mean of the states over every step of the answer.</summary>
    MeanOverAnswer,
}

/// <summary>
/// What a probe reads: the hidden state at <see cref="Layer"/> summarised by <see cref="Kind"/>, optionally followed by
/// the <see cref="TokenProbabilityFeatures"/> of the answer.
/// </summary>
/// <param name="Layer">0..n_layer−1: the state entering that layer (0 = token embeddings); n_layer: the final hidden
/// state after the output norm (what the LM head reads). See <see cref="ProbeLayers"/>.</param>
/// <param name="Kind">Last-token state or mean over the answer.</param>
/// <param name="TokenProbabilityFeatures">Append the answer's <see cref="AnswerTokenStatistics"/>.</param>
public sealed record ProbeFeatureSpec(int Layer, HiddenFeatureKind Kind, bool TokenProbabilityFeatures)
{
    /// <summary>Length of the feature vector for a model with hidden width <paramref name="hiddenSize"/>.</summary>
    public int Dimension(int hiddenSize) => hiddenSize + (TokenProbabilityFeatures ? AnswerTokenStatistics.Count : 0);
}

/// <summary>How probe layer numbers map onto what the context exposes.</summary>
public static class ProbeLayers
{
    /// <summary>The layer number of the final hidden state: n_layer.</summary>
    public static int Final(ModelFacts facts) => facts.LayerCount;

    /// <summary>
    /// Every probe layer a model can be read at: 0..n_layer, or only the final state (n_layer) for an architecture
    /// whose per-layer inputs cannot be read (<see cref="LlamaContext.ExposesLayerInputs"/>).
    /// </summary>
    public static IReadOnlyList<int> All(ModelFacts facts) =>
        LlamaContext.ExposesLayerInputs(facts.Architecture) ? [.. Enumerable.Range(0, facts.LayerCount + 1)] : [Final(facts)];

    /// <summary>Checks layer numbers against a model; throws naming the layer and the valid range (or the architecture that has only the final state).</summary>
    public static void Validate(IEnumerable<int> layers, ModelFacts facts)
    {
        foreach (int layer in layers)
        {
            if (layer < 0 || layer > facts.LayerCount)
                throw new ArgumentOutOfRangeException(nameof(layers), layer, $"probe layer {layer} is outside 0..{facts.LayerCount} for '{facts.Path}' ({facts.LayerCount} = the final hidden state)");
            // Checked here, not at context creation, so the error speaks of probe layers rather than context options.
            if (layer < facts.LayerCount && !LlamaContext.ExposesLayerInputs(facts.Architecture))
                throw new ArgumentOutOfRangeException(nameof(layers), layer, $"probe layer {layer} cannot be read for '{facts.Path}': per-layer inputs of architecture '{facts.Architecture}' can be read neither from llama.cpp v0.5.0's record nor from its graph; use the final hidden state (layer {facts.LayerCount}, 'final')");
        }
    }

    /// <summary>Context options that expose <paramref name="layers"/> (adds to what <paramref name="options"/> already exposes).</summary>
    public static ContextOptions Expose(ContextOptions options, IEnumerable<int> layers, ModelFacts facts)
    {
        var list = layers.ToList();
        Validate(list, facts);
        var inner = list.Where(l => l < facts.LayerCount).Concat(options.HiddenLayers).Distinct().Order().ToList();
        return options with { HiddenLayers = inner, FinalHiddenState = options.FinalHiddenState || list.Contains(facts.LayerCount) };
    }

    /// <summary>The hidden state of one step at a probe layer (a view into llama.cpp's buffer, valid during the step).</summary>
    public static ReadOnlySpan<float> Read(in DecodeStep step, int layer) =>
        layer == step.Context.Model.Facts.LayerCount ? step.FinalHiddenState : step.LayerHiddenState(layer);
}

/// <summary>
/// Token-probability features of an answer (or of its first t steps): mean and min chosen-token log-probability, mean
/// and max entropy (nats). Reads the statistics the fused kernel already computed for the step, so it costs no pass
/// over the logits.
/// </summary>
public struct AnswerTokenStatistics
{
    /// <summary>How many features <see cref="Write"/> produces.</summary>
    public const int Count = 4;

    /// <summary>Feature names, in order.</summary>
    public static readonly IReadOnlyList<string> Names = ["mean_logprob", "min_logprob", "mean_entropy", "max_entropy"];

    private double _sumLogProbability, _minLogProbability, _sumEntropy, _maxEntropy;

    public int Steps { get; private set; }

    public void Add(float logProbability, float entropy)
    {
        if (Steps == 0) { _minLogProbability = double.PositiveInfinity; _maxEntropy = double.NegativeInfinity; }
        // A probability-0 token (−∞ log-prob) would poison the standardized features; clamp to float's range.
        double lp = Math.Max(logProbability, -100.0);
        _sumLogProbability += lp;
        _minLogProbability = Math.Min(_minLogProbability, lp);
        _sumEntropy += entropy;
        _maxEntropy = Math.Max(_maxEntropy, entropy);
        Steps++;
    }

    /// <summary>Writes the <see cref="Count"/> features (zeros when no step was seen).</summary>
    public readonly void Write(Span<float> destination)
    {
        if (Steps == 0) { destination[..Count].Clear(); return; }
        destination[0] = (float)(_sumLogProbability / Steps);
        destination[1] = (float)_minLogProbability;
        destination[2] = (float)(_sumEntropy / Steps);
        destination[3] = (float)_maxEntropy;
    }
}

/// <summary>The hidden-state summaries of one answer at several layers, plus its token statistics.</summary>
public sealed class AnswerFeatures
{
    private readonly Dictionary<int, (float[] Last, float[] Mean)> _layers;

    internal AnswerFeatures(Dictionary<int, (float[] Last, float[] Mean)> layers, AnswerTokenStatistics tokens, int steps)
    {
        _layers = layers; TokenStatistics = tokens; Steps = steps;
    }

    /// <summary>Decoding steps the answer took (including the one that ended it).</summary>
    public int Steps { get; }

    public AnswerTokenStatistics TokenStatistics { get; }

    public IReadOnlyCollection<int> Layers => _layers.Keys;

    /// <summary>The feature vector <paramref name="spec"/> describes.</summary>
    public float[] Vector(ProbeFeatureSpec spec)
    {
        if (!_layers.TryGetValue(spec.Layer, out var states))
            throw new InvalidOperationException($"layer {spec.Layer} was not recorded (recorded: {string.Join(", ", _layers.Keys.Order())})");
        float[] hidden = spec.Kind == HiddenFeatureKind.LastToken ? states.Last : states.Mean;
        var vector = new float[spec.Dimension(hidden.Length)];
        hidden.CopyTo(vector, 0);
        if (spec.TokenProbabilityFeatures) TokenStatistics.Write(vector.AsSpan(hidden.Length));
        return vector;
    }
}

/// <summary>
/// A <see cref="DecodeStepObserver"/> that records, for one answer, the last and the summed hidden state at each of
/// the given layers, and the token statistics. Attach <see cref="Observe"/> to <see cref="GenerationOptions.OnStep"/>
/// (generation decodes one sequence here) or to a teacher-forced <see cref="Generator.Score(string, string, GenerationOptions?, CancellationToken)"/>.
/// </summary>
public sealed class AnswerFeatureRecorder
{
    private readonly int[] _layers;
    private readonly float[][] _last;
    private readonly float[][] _sum;
    private AnswerTokenStatistics _tokens;
    private int _steps;

    public AnswerFeatureRecorder(IEnumerable<int> layers, int hiddenSize)
    {
        _layers = [.. layers.Distinct().Order()];
        if (_layers.Length == 0) throw new ArgumentException("give at least one layer", nameof(layers));
        _last = [.. _layers.Select(_ => new float[hiddenSize])];
        _sum = [.. _layers.Select(_ => new float[hiddenSize])];
    }

    public void Reset()
    {
        foreach (var a in _sum) Array.Clear(a);
        _tokens = default;
        _steps = 0;
    }

    public void Observe(in DecodeStep step)
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            var state = ProbeLayers.Read(step, _layers[i]);
            state.CopyTo(_last[i]);
            TensorPrimitives.Add(_sum[i], state, _sum[i]);
        }
        _tokens.Add(step.Statistics.ChosenLogProbability, step.Statistics.Entropy);
        _steps++;
    }

    /// <summary>What was recorded since the last <see cref="Reset"/>.</summary>
    public AnswerFeatures Result()
    {
        if (_steps == 0) throw new InvalidOperationException("no decoding step was observed");
        var layers = new Dictionary<int, (float[], float[])>();
        for (int i = 0; i < _layers.Length; i++)
        {
            var mean = new float[_sum[i].Length];
            TensorPrimitives.Divide(_sum[i], _steps, mean);
            layers[_layers[i]] = ((float[])_last[i].Clone(), mean);
        }
        return new AnswerFeatures(layers, _tokens, _steps);
    }
}

/// <summary>Reads answer features from a model: while it generates its own answer, or teacher-forced over a given one.</summary>
public static class ProbeFeatureExtractor
{
    /// <summary>The text appended to a teacher-forced answer so its last step reads the answer's last token, as the
    /// step that generates the stop newline does during generation.</summary>
    public const string AnswerTerminator = "\n";

    /// <summary>Generates an answer (one sequence) and records its features at <paramref name="layers"/>.</summary>
    public static (GenerationResult Answer, AnswerFeatures Features) Generate(Generator generator, string prompt, GenerationOptions options, IReadOnlyList<int> layers, CancellationToken cancellationToken = default)
    {
        var recorder = new AnswerFeatureRecorder(layers, generator.Context.HiddenSize);
        CheckExposed(generator.Context, layers);
        var result = generator.Generate(prompt, options with { OnStep = Chain(options.OnStep, recorder.Observe), TokenStatistics = true }, cancellationToken);
        return (result, recorder.Result());
    }

    /// <summary>
    /// Teacher-forces <paramref name="answer"/> (written by any model) after <paramref name="prompt"/> and records the
    /// reading model's features: the basis of cross-model probes. The answer is followed by <see cref="AnswerTerminator"/>.
    /// </summary>
    public static (ScoredSequence Scored, AnswerFeatures Features) TeacherForce(Generator generator, string prompt, string answer, IReadOnlyList<int> layers, CancellationToken cancellationToken = default)
    {
        var recorder = new AnswerFeatureRecorder(layers, generator.Context.HiddenSize);
        CheckExposed(generator.Context, layers);
        var scored = generator.Score(prompt, answer + AnswerTerminator, new GenerationOptions { OnStep = recorder.Observe }, cancellationToken);
        return (scored, recorder.Result());
    }

    internal static void CheckExposed(LlamaContext context, IEnumerable<int> layers)
    {
        var facts = context.Model.Facts;
        foreach (int layer in layers)
        {
            if (!context.ExposesHiddenState(layer == facts.LayerCount ? null : layer)) throw new InvalidOperationException($"probe layer {layer} is not exposed by this context; create it with ProbeLayers.Expose(options, layers, model.Facts)");
        }
    }

    private static DecodeStepObserver Chain(DecodeStepObserver? first, DecodeStepObserver second) =>
        first is null ? second : (in DecodeStep s) => { first(s); second(s); };
}
