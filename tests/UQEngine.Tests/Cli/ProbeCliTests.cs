using System.CommandLine;
using System.Text.Json;
using UQEngine.Cli;
using UQEngine.Cli.Commands;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Grading;
using UQEngine.Inference;
using UQEngine.Models;
using UQEngine.Tests.Gguf;
using UQEngine.Methods;

namespace UQEngine.Tests.Cli;

/// <summary>`uqengine probe train|eval|sweep` and `eval --probe --escalate`, in process, on the synthetic model.</summary>
[Trait("Category", "Integration")]
public sealed class ProbeCliTests
{
    private static (int Code, string Stdout, string Stderr) Process(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "UQEngine.Cli.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_THREADS"] = "1";
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(true); throw new TimeoutException("uqengine did not finish"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static int Run(params string[] args) => new RootCommand { ProbeCommand.Create(), EvalCommand.Create() }.Parse(args).Invoke();

    /// <summary>
    /// A dataset the random model gets half right: its own greedy answer is the reference of every other item, a
    /// nonsense word of the rest. (Graded the way the commands grade, so the labels are known before they run.)
    /// </summary>
    private static (string Path, int Correct) Dataset(string folder)
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(new ContextOptions { ContextSize = 512 });
        using var generator = new Generator(context);
        var prompts = new ItemPrompts(model);
        var lines = new List<string>();
        int correct = 0;
        for (int i = 0; i < 14; i++)
        {
            var item = new EvaluationItem { Id = $"q{i}", Kind = EvaluationItemKind.OpenAnswer, Question = $"What is thing {i} called, world {i * 7}?", Answer = "x" };
            string text = generator.Generate(prompts.Answer(item), new GenerationOptions { MaxTokens = 5, Stop = ["\n"] }).Text;
            string prediction = OpenAnswerGrader.ExtractAnswer(text);
            bool makeCorrect = i % 2 == 0 && OpenAnswerGrader.ExactMatch(prediction, [prediction]);
            if (makeCorrect) correct++;
            lines.Add(JsonSerializer.Serialize(new { id = item.Id, question = item.Question, answer = makeCorrect ? prediction : "zqxjv", metadata = new { split = i < 10 ? "train" : "test" } }));
        }
        string path = Path.Combine(folder, "items.jsonl");
        File.WriteAllLines(path, lines);
        return (path, correct);
    }

    [Fact]
    public void Train_eval_sweep_and_eval_with_the_probe_and_escalation_write_their_outputs()
    {
        using var dir = new TempDirectory();
        var (data, correct) = Dataset(dir.Path);
        Assert.True(correct >= 4, $"only {correct} items are answerable");
        string model = TestModels.SyntheticPath, probe = dir.File("p.json");

        Assert.Equal(0, Run("probe", "train", "-m", model, "-d", data, "--layer", "1,final", "-n", "5", "--calibration-fraction", "0.3", "-o", probe, "--threads", "1"));
        var file = UQEngine.Methods.Probes.ProbeFile.Load(probe);
        Assert.Contains(file.Features.Layer, new[] { 1, 2 });
        Assert.Equal(14, file.Weights.Metrics.TrainCount + file.Weights.Metrics.CalibrationCount);
        Assert.Equal(correct, file.Weights.Metrics.TrainPositives + file.Weights.Metrics.CalibrationPositives);

        Assert.Equal(0, Run("probe", "eval", "-m", model, "--probe", probe, "-d", data, "-n", "5", "--bootstrap", "20", "--json-out", dir.File("m.json"), "--threads", "1"));
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("m.json"))))
        {
            Assert.Equal(14, json.RootElement.GetProperty("items").GetInt32());
            Assert.Equal(correct, json.RootElement.GetProperty("correct").GetInt32());
            Assert.True(json.RootElement.GetProperty("methods").TryGetProperty("probe", out _));
        }

        Assert.Equal(0, Run("probe", "sweep", "-m", model, "-d", data, "-n", "5", "--test-fraction", "0.5", "-o", dir.File("sweep"), "--threads", "1"));
        string md = File.ReadAllText(dir.File("sweep/sweep.md"));
        foreach (string row in new[] { "| 0 (embeddings) |", "| 1 |", "| 2 (final) |" }) Assert.Contains(row, md);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(dir.File("sweep/sweep.png")).Take(4));

        Assert.Equal(0, Run("eval", "-m", model, "-d", data, "-o", dir.File("run"), "--methods", "probe,msp", "--probe", probe, "--escalate", "oracle", "-n", "5", "--bootstrap", "20", "--threads", "1"));
        var items = File.ReadAllLines(dir.File("run/items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(14, items.Count);
        Assert.Equal(correct, items.Count(i => i.GetProperty("correct").GetBoolean()));
        Assert.All(items, i => Assert.InRange(i.GetProperty("methods").GetProperty("probe").GetProperty("confidence").GetDouble(), 0, 1));
        string decisions = File.ReadAllText(dir.File("run/decisions.md"));
        Assert.Contains("| probe |", decisions);
        Assert.Contains("| msp |", decisions);
        Assert.Contains("1.000 (100 %)", decisions); // all escalated to an oracle: every item right
        Assert.True(File.Exists(dir.File("run/decisions.png")));

        // generate --probe --json (a real process): one confidence per step, the answer's equals its last step's.
        var (code, stdout, stderr) = Process("generate", "Hello world", "-m", model, "-n", "4", "--probe", probe, "--json");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout))
        {
            int tokenCount = json.RootElement.GetProperty("results")[0].GetProperty("tokens").GetArrayLength();
            var reading = json.RootElement.GetProperty("probe")[0];
            var perStep = reading.GetProperty("token_confidences").EnumerateArray().Select(e => e.GetDouble()).ToList();
            Assert.InRange(perStep.Count, tokenCount, tokenCount + 1); // + the end-of-generation step
            Assert.Equal(perStep[^1], reading.GetProperty("confidence").GetDouble(), 12);
        }

        // Cross-model from the CLI: a copy of the model writes the answers (same answers, so the labels stay mixed).
        string writer = dir.File("writer.gguf");
        File.Copy(model, writer);
        string cross = dir.File("cross.json");
        Assert.Equal(0, Run("probe", "train", "-m", model, "--answers-from", writer, "-d", data, "-n", "5", "-o", cross, "--threads", "1"));
        Assert.Equal("writer.gguf", UQEngine.Methods.Probes.ProbeFile.Load(cross).AnswersFrom!.FileName);
        Assert.Equal(1, Run("probe", "eval", "-m", model, "--probe", cross, "-d", data, "-n", "5")); // the writer is required
        Assert.Equal(0, Run("probe", "eval", "-m", model, "--probe", cross, "--answers-from", writer, "-d", data, "-n", "5", "--bootstrap", "10", "--threads", "1"));

        // Errors: a probe for another model, and method probe without --probe, are one-line failures (exit 1).
        string other = dir.File("other.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = other, Seed = 5 });
        Assert.Equal(1, Run("probe", "eval", "-m", other, "--probe", probe, "-d", data, "-n", "5"));
        Assert.Equal(1, Run("eval", "-m", model, "-d", data, "-o", dir.File("run2"), "--methods", "probe"));
        Assert.Equal(1, Run("probe", "train", "-m", model, "-d", data, "--layer", "7", "-o", dir.File("x.json")));
    }

    /// <summary>
    /// Regression (issue 14's family matrix): `probe sweep`'s default `--layers all` asked models for layer inputs
    /// that could not be read (qwen2, gemma2, gemma3 and phi3 then), so the command failed with an error about
    /// context options. "all" is every layer the model can be read at (the final state alone where no layer input
    /// can be read), and a layer number is refused as a probe layer, naming the architecture and the way out.
    /// qwen2's layer inputs are read from the graph since (LayerInputCapture).
    /// </summary>
    [Fact]
    public void All_layers_of_an_architecture_without_layer_inputs_is_the_final_state_and_a_layer_number_a_named_error()
    {
        var falcon = new ModelFacts("falcon.gguf", "falcon", "", 24, 896, 14, 2, 32768, 151936, "F16", 0, 0, true);
        Assert.Equal([24], UQEngine.Methods.Probes.ProbeLayers.All(falcon));
        Assert.Equal([24], ProbeCommand.ParseLayers("all", falcon));
        Assert.Equal([24], ProbeCommand.ParseLayers("final", falcon));
        string error = Assert.Throws<CliException>(() => ProbeCommand.ParseLayers("12", falcon)).Message;
        Assert.Contains("probe layer 12", error);
        Assert.Contains("'falcon'", error);
        Assert.Contains("'final'", error);

        var qwen2 = falcon with { Architecture = "qwen2" };
        Assert.Equal(Enumerable.Range(0, 25), UQEngine.Methods.Probes.ProbeLayers.All(qwen2));
        var llama = falcon with { Architecture = "llama" };
        Assert.Equal(Enumerable.Range(0, 25), UQEngine.Methods.Probes.ProbeLayers.All(llama));
        Assert.Equal([0, 12, 24], ProbeCommand.ParseLayers("0,12,final", llama));
    }
}
