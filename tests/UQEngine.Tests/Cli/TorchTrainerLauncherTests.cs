using UQEngine.Cli.Commands;

namespace UQEngine.Tests.Cli;

/// <summary>`model build` reads the TorchSharp trainer's "step i/n ..." lines for its progress bar and passes the rest through.</summary>
public sealed class TorchTrainerLauncherTests
{
    [Fact]
    public void Step_lines_give_the_step_the_total_and_the_rest_of_the_line()
    {
        var step = TorchTrainerLauncher.TryParseStep("step 120/2719 epoch 1/16 loss 2.345 lr 1.5e-3");
        Assert.NotNull(step);
        Assert.Equal(120, step.Step);
        Assert.Equal(2719, step.TotalSteps);
        Assert.Equal("epoch 1/16 loss 2.345 lr 1.5e-3", step.Text);
    }

    [Theory]
    [InlineData("epoch 3: 169 steps, mean loss 0.707, 9.2 min")]
    [InlineData("step")]
    [InlineData("step 12 of 40")]
    [InlineData("step -1/40 epoch 1/2")]
    [InlineData("steps 1/2")]
    [InlineData("")]
    public void Other_lines_are_not_steps(string line) => Assert.Null(TorchTrainerLauncher.TryParseStep(line));
}
