using BenchmarkDotNet.Attributes;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;

namespace UQEngine.Benchmarks.Decoding;

/// <summary>
/// Greedy decoding with a logistic hidden-state probe scored inside the loop (one dot product of n_embd per step,
/// mean-over-answer feature plus token-statistic features) against the same decoding without it. Both contexts
/// expose the probe's layer, so the model work is identical and the difference is the probe's own cost; the
/// <c>Plain</c> case adds a context that exposes nothing, to show what exposing a layer costs. Same model as
/// <see cref="DecodeBenchmarks"/>; the probe's weights are random (the cost does not depend on them).
/// </summary>
[MemoryDiagnoser]
public class ProbeDecodeBenchmarks
{
    public enum Mode { Plain, LayerExposed, ProbeOn }

    private string _folder = "";
    private LlamaModel _model = null!;
    private LlamaContext _context = null!;
    private Generator _generator = null!;
    private ProbeScorer? _scorer;
    private GenerationOptions _options = null!;

    [Params(Mode.Plain, Mode.LayerExposed, Mode.ProbeOn)]
    public Mode Probe { get; set; }

    public const int Tokens = 64;
    private const int Layer = 2;

    [GlobalSetup]
    public void Setup()
    {
        string path = BenchModel.Write(out _folder);
        _model = LlamaModel.Load(path);
        var contextOptions = new ContextOptions { ContextSize = 512, Threads = 1 };
        if (Probe != Mode.Plain) contextOptions = ProbeLayers.Expose(contextOptions, [Layer], _model.Facts);
        _context = _model.CreateContext(contextOptions);
        _generator = new Generator(_context);
        _options = new GenerationOptions { MaxTokens = Tokens };
        if (Probe == Mode.ProbeOn)
        {
            var spec = new ProbeFeatureSpec(Layer, HiddenFeatureKind.MeanOverAnswer, TokenProbabilityFeatures: true);
            int d = spec.Dimension(_model.Facts.EmbeddingSize);
            var random = new Random(3);
            var weights = new ProbeWeights
            {
                Kind = ProbeKind.Logistic, Mean = new double[d], Std = [.. Enumerable.Repeat(1.0, d)],
                InputWeights = [.. Enumerable.Range(0, d).Select(_ => random.NextDouble() - 0.5)], InputBiases = [0.1],
            };
            _scorer = new ProbeScorer(new ProbeFile { Model = ModelIdentity.Of(_model), Features = spec, Dimension = d, Weights = weights });
            _options = _options with { OnStep = _scorer.Observe };
        }
    }

    [Benchmark]
    public int Generate64()
    {
        _scorer?.Reset();
        int n = _generator.Generate("Hello world", _options).Tokens.Count;
        return _scorer is null || _scorer.Result().Confidence <= 2 ? n : -1; // reads the result so it is not dead code
    }

    /// <summary>The same decode on the same context without the observer (for <see cref="ProbeOverheadRun"/>).</summary>
    public int GenerateWithoutProbe() => _generator.Generate("Hello world", _options with { OnStep = null }).Tokens.Count;

    [GlobalCleanup]
    public void Cleanup()
    {
        _generator.Dispose();
        _context.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
