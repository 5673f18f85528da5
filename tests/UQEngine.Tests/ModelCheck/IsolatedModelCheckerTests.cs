using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.ModelCheck;

/// <summary>
/// The isolated check (defence in depth, issue 13): a child process loads the file and decodes one token, so a file
/// that makes llama.cpp abort ends the child, and this process gets a clear error naming the assertion and signal.
/// </summary>
[Trait("Category", "Integration")]
public sealed class IsolatedModelCheckerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_file_that_aborts_llama_cpp_is_a_clean_error_naming_the_assertion_and_the_process_survives()
    {
        string path = BrokenModels.WithSmallAlignment(_temp.File("align4.gguf"));
        // The validator refuses this file, so the product never hands it to llama.cpp; the check is told to skip
        // validation, to show what happens when a crash class gets past it.
        using var checker = new IsolatedModelChecker(new IsolatedCheckOptions { Validate = false });
        var crashed = checker.Check(path);
        Assert.Equal(ModelCheckOutcome.Crashed, crashed.Outcome);
        Assert.Equal(6, crashed.Signal); // SIGABRT
        Assert.NotNull(crashed.Assertion);
        Assert.Contains("GGML_ASSERT", crashed.Assertion);
        Assert.Contains("TENSOR_ALIGNMENT", crashed.Assertion);
        Assert.Contains("signal 6 (SIGABRT)", crashed.Message);
        Assert.Contains(crashed.Assertion, crashed.Message);

        // The checker restarts its child after the crash and goes on with the next file.
        var passed = checker.Check(TestModels.SyntheticPath);
        Assert.True(passed.Passed, passed.Message);
        Assert.False(passed.NonFiniteLogits);
        Assert.Equal(2, checker.ProcessesStarted);
    }

    [Fact]
    public void With_validation_the_same_file_is_refused_by_the_validator_before_llama_cpp()
    {
        string path = BrokenModels.WithSmallAlignment(_temp.File("align4.gguf"));
        var result = IsolatedModelChecker.CheckOnce(path);
        Assert.Equal(ModelCheckOutcome.RefusedByValidator, result.Outcome);
        Assert.Contains("'general.alignment' is 4", result.Message);
    }

    [Fact]
    public void Model_loading_with_IsolatedCheck_loads_a_good_file()
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath, new ModelOptions { IsolatedCheck = true });
        Assert.True(model.Facts.VocabularySize > 0);
    }

    [Fact]
    public void A_model_with_NaN_weights_loads_but_its_logits_are_flagged_non_finite()
    {
        string path = BrokenModels.WithNonFiniteTensor(_temp.File("nan.gguf"));
        var result = IsolatedModelChecker.CheckOnce(path);
        Assert.True(result.Passed, result.Message);
        Assert.True(result.NonFiniteLogits);
        Assert.Contains("not finite", result.Message);
    }

    [Fact]
    public void A_check_that_takes_too_long_is_stopped_and_reported_as_a_hang_and_the_next_check_starts_a_new_child()
    {
        // 1 ms is less than a child needs to start and load: the answer cannot come in time.
        using var slow = new IsolatedModelChecker(new IsolatedCheckOptions { Timeout = TimeSpan.FromMilliseconds(1) });
        var hung = slow.Check(TestModels.SyntheticPath);
        Assert.Equal(ModelCheckOutcome.TimedOut, hung.Outcome);
        Assert.Contains("took longer than", hung.Message);
        slow.Check(TestModels.SyntheticPath);
        Assert.Equal(2, slow.ProcessesStarted);
    }
}

/// <summary>Reading the child's last words: the line that names the failure.</summary>
public sealed class IsolatedModelCheckerParsingTests
{
    [Fact]
    public void The_assertion_line_is_found_and_its_path_shortened()
    {
        string stderr = "llama_model_loader: loaded meta data\n/home/runner/work/llama.cpp/src/llama-model.cpp:1293: GGML_ASSERT(hparams.n_expert <= LLAMA_MAX_EXPERTS) failed\n";
        Assert.Equal("llama-model.cpp:1293: GGML_ASSERT(hparams.n_expert <= LLAMA_MAX_EXPERTS) failed", IsolatedModelChecker.FindAssertion(stderr));
    }

    [Fact]
    public void An_uncaught_cpp_exception_is_named_with_its_what()
    {
        string stderr = "terminate called after throwing an instance of 'std::out_of_range'\n  what():  unordered_map::at\n";
        Assert.Equal("terminate called after throwing an instance of 'std::out_of_range' what():  unordered_map::at", IsolatedModelChecker.FindAssertion(stderr));
    }

    [Fact]
    public void A_ggml_abort_message_without_the_macro_is_found_by_its_location()
    {
        string stderr = "/src/ggml/src/ggml-cpu/binary-ops.cpp:135: binary_op: unsupported types: dst: f32, src0: f32, src1: q4_K\n";
        Assert.Equal("binary-ops.cpp:135: binary_op: unsupported types: dst: f32, src0: f32, src1: q4_K", IsolatedModelChecker.FindAssertion(stderr));
        Assert.Null(IsolatedModelChecker.FindAssertion("nothing useful\n"));
    }
}
