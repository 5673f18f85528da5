using UQEngine.Models;

namespace UQEngine.Benchmarks;

/// <summary>
/// The synthetic llama the decoding benchmarks run (<see cref="SyntheticLlamaOptions.Benchmark"/>), written into a
/// fresh temp folder that the caller deletes.
/// </summary>
internal static class BenchModel
{
    public static string Write(out string folder, int vocabulary = 32000)
    {
        folder = Directory.CreateTempSubdirectory("uqengine-bench-").FullName;
        string path = Path.Combine(folder, "bench.gguf");
        SyntheticLlamaModel.Write(SyntheticLlamaOptions.Benchmark(path, vocabulary));
        return path;
    }
}
