using UQEngine.Cli.Commands;
using UQEngine.Demo;
using UQEngine.Tests.Cli;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.ModelCheck;

/// <summary>`info --check` and `serve --check-model` as a user meets them.</summary>
[Trait("Category", "Integration")]
public sealed class ModelCheckCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Info_check_passes_a_sound_model()
    {
        var (code, stdout, stderr) = UqengineProcess.Run(TimeSpan.FromMinutes(2), "info", TestModels.SyntheticPath, "--check");
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("check: load: loaded and decoded one token in a child process", stdout);
        Assert.Contains("check: ok", stdout);
    }

    [Fact]
    public void Info_check_names_each_NaN_tensor_and_the_non_finite_logits_and_exits_1()
    {
        string path = BrokenModels.WithNonFiniteTensor(_temp.File("nan.gguf"));
        var (code, stdout, stderr) = UqengineProcess.Run(TimeSpan.FromMinutes(2), "info", path, "--check");
        Assert.True(code == 1, stdout + stderr);
        Assert.Contains("check: non-finite: tensor 'output_norm.weight' (F32) has 64 NaN or infinite values of 64", stdout);
        Assert.Contains("check: load: loaded and decoded one token, but its logits were NaN or infinite", stdout);
        Assert.Contains("check: FAILED", stdout);
    }

    [Fact]
    public void Info_check_lists_the_validators_problems_and_does_not_load_a_refused_file()
    {
        string path = BrokenModels.WithSmallAlignment(_temp.File("align4.gguf"));
        var (code, stdout, stderr) = UqengineProcess.Run(TimeSpan.FromMinutes(2), "info", path, "--check");
        Assert.True(code == 1, stdout + stderr);
        Assert.Contains("check: problem: 'general.alignment' is 4", stdout);
        Assert.Contains("check: load: skipped", stdout);
    }

    [Fact]
    public void Serve_check_model_auto_checks_files_of_unknown_origin_only()
    {
        string demo = DemoModels.FindModel()!;
        Assert.False(ServeCommand.IsolatedCheckWanted("auto", demo));
        Assert.True(ServeCommand.IsolatedCheckWanted("auto", TestModels.SyntheticPath)); // a test file, not the cached built-in one
        Assert.True(ServeCommand.IsolatedCheckWanted("isolated", demo));
        Assert.False(ServeCommand.IsolatedCheckWanted("off", TestModels.SyntheticPath));
        Assert.Throws<UQEngine.Cli.CliException>(() => ServeCommand.IsolatedCheckWanted("maybe", demo));
        // Here the checker and a dotnet host exist, so auto's check is not skipped for want of them.
        Assert.Null(UQEngine.Inference.IsolatedModelChecker.Unavailable());
    }
}
