using UQEngine.Demo;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.ModelCheck;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.ModelCheck;

/// <summary>
/// A bounded slice of the seeded GGUF fuzzer (docs/ROBUSTNESS.md has the full run): mutants of two models through the
/// product's load path, llama.cpp in a child; not one may crash, hang or fault.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelFuzzerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_seeded_slice_of_150_mutants_of_two_models_has_no_crash_hang_or_fault()
    {
        string demo = DemoModels.FindModel() ?? throw new InvalidOperationException("demo model not found");
        var report = ModelFuzzer.Run(new FuzzOptions
        {
            Models = [demo, TestModels.SyntheticPath], Seed = 13, Count = 75, WorkDirectory = _temp.Path, Timeout = TimeSpan.FromSeconds(60),
        });
        string table = report.Render();
        Assert.Equal(150, report.Total);
        Assert.True(report.Findings.Count == 0, table);
        Assert.Equal(0, report.Count(ModelCheckOutcome.Crashed));
        Assert.Equal(0, report.Count(ModelCheckOutcome.TimedOut));
        Assert.Equal(0, report.Count(ModelCheckOutcome.Faulted));
        // The slice exercises every stage of the path, not only the reader.
        Assert.True(report.Count(ModelCheckOutcome.RefusedByReader) > 0, table);
        Assert.True(report.Count(ModelCheckOutcome.RefusedByValidator) > 0, table);
        Assert.True(report.Count(ModelCheckOutcome.Passed) > 0, table);
        Assert.True(report.Count(ModelCheckOutcome.LoadFailed) > 0, table);
    }

    [Fact]
    public void Without_validation_the_fuzzer_observes_native_crashes_in_the_child_and_goes_on()
    {
        // What the validator prevents: the same kind of slice, straight to llama.cpp. Crashes are counted with the
        // assertion that fired, and the run completes.
        var report = ModelFuzzer.Run(new FuzzOptions
        {
            Models = [TestModels.SyntheticPath], Seed = 1, Count = 40, WorkDirectory = _temp.Path, Validate = false, Timeout = TimeSpan.FromSeconds(60),
        });
        Assert.Equal(40, report.Total);
        Assert.True(report.Count(ModelCheckOutcome.Crashed) > 0, report.Render());
        Assert.Contains(report.Findings, f => f.Outcome == ModelCheckOutcome.Crashed && f.Signal is 6 or 11);
        Assert.True(report.CheckerProcesses > 1, "the child is restarted after a crash");
        Assert.True(report.Count(ModelCheckOutcome.Passed) > 0, report.Render());
    }

    [Fact]
    public void Mutant_i_of_seed_s_is_always_the_same_file()
    {
        var mutator = new GgufMutator(TestModels.SyntheticPath);
        string a = _temp.File("a.gguf"), b = _temp.File("b.gguf"), c = _temp.File("c.gguf");
        for (long i = 0; i < 20; i++)
        {
            string first = mutator.Write(5, i, a), second = mutator.Write(5, i, b);
            Assert.Equal(first, second);
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        }

        // Different indices give different mutants.
        mutator.Write(5, 100, a);
        mutator.Write(5, 101, c);
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Fact]
    public void The_sweep_tries_every_ggml_type_on_each_tensor_role_and_is_deterministic()
    {
        var mutator = new GgufMutator(TestModels.SyntheticPath);
        int types = Enum.GetValues<GgmlType>().Length;
        Assert.True(mutator.SweepCount > 7 * types);
        string a = _temp.File("a.gguf"), b = _temp.File("b.gguf");
        var seen = new HashSet<string>();
        for (int i = mutator.SweepCount - types; i < mutator.SweepCount; i++)
        {
            string done = mutator.WriteSweep(i, a);
            Assert.Equal(done, mutator.WriteSweep(i, b));
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
            seen.Add(done.Split(' ')[3]);
        }

        // The last block of the sweep is one tensor role with each type once.
        Assert.Equal(types, seen.Count);
    }
}
