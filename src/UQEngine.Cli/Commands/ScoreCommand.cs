using System.CommandLine;
using Spectre.Console;
using UQEngine.Cli.Rendering;
using UQEngine.Inference;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine score`: teacher-forced probability of a given answer to a given prompt.</summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var prompt = new Option<string>("--prompt", "-p") { Description = "The prompt", Required = true };
        var answer = new Option<string>("--answer", "-a") { Description = "The answer to score", Required = true };
        var system = new Option<string?>("--system") { Description = "System message (chat mode)" };
        var raw = new Option<bool>("--raw") { Description = "Use the prompt as plain text, without the chat template" };
        var topLogprobs = new Option<int>("--top-logprobs") { Description = "Alternatives to show per token (0..20)", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("score", "Score a given answer (teacher forcing): the probability the model gives each of its tokens")
        {
            prompt, answer, system, raw, topLogprobs, json,
        };
        model.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            bool asJson = result.GetValue(json);
            using var llm = model.LoadModel(result, asJson ? null : AnsiConsole.Console);
            using var context = llm.CreateContext(model.ContextOptions(result));
            using var generator = new Generator(context);
            string text = PromptBuilder.Build(llm, result.GetValue(prompt)!, result.GetValue(system), result.GetValue(raw));
            var scored = generator.Score(text, result.GetValue(answer)!, new GenerationOptions { TopAlternatives = result.GetValue(topLogprobs) }, cancellation);
            if (asJson) JsonOutput.Write(new { model = llm.Facts.Path, prompt = text, answer = result.GetValue(answer), uncertainty = JsonOutput.Scores(scored.Uncertainty), tokens = scored.Tokens.Select(JsonOutput.Token) });
            else UncertaintyView.ShowScored(AnsiConsole.Console, scored);
            return 0;
        })));
        return command;
    }
}
