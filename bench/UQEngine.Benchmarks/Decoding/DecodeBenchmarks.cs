using BenchmarkDotNet.Attributes;
using UQEngine.Inference;

namespace UQEngine.Benchmarks.Decoding;

/// <summary>
/// Greedy decoding of a fixed continuation with the per-step token statistics (TPU) on and off, on a synthetic
/// llama with a realistic vocabulary width: the cost of uncertainty inside the decoding loop. Greedy decoding picks
/// the same tokens in both modes, so both runs do identical model work. One decode thread: on a shared 2-core
/// machine, two spinning ggml threads make timings swing by 100x (see ContextOptions.DefaultThreads).
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private string _folder = "";
    private LlamaModel _model = null!;
    private LlamaContext _context = null!;
    private Generator _generator = null!;

    [Params(32000)]
    public int Vocabulary { get; set; }

    [Params(false, true)]
    public bool TokenStatistics { get; set; }

    public const int Tokens = 64;

    [GlobalSetup]
    public void Setup()
    {
        string path = BenchModel.Write(out _folder, Vocabulary);
        _model = LlamaModel.Load(path);
        _context = _model.CreateContext(new ContextOptions { ContextSize = 512, Threads = 1 });
        _generator = new Generator(_context);
    }

    [Benchmark]
    public int Generate64() =>
        _generator.Generate("Hello world", new GenerationOptions { MaxTokens = Tokens, TokenStatistics = TokenStatistics }).Tokens.Count;

    [GlobalCleanup]
    public void Cleanup()
    {
        _generator.Dispose();
        _context.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
