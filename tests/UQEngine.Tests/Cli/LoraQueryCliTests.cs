using System.CommandLine;
using System.Text.Json;
using UQEngine.Cli.Commands;
using UQEngine.Inference;
using UQEngine.Tests.Gguf;
using UQEngine.Tests.Inference;

namespace UQEngine.Tests.Cli;

/// <summary>`uqengine eval --lora-query` and `generate --lora-query` on the synthetic model with a random query adapter.</summary>
[Trait("Category", "Integration")]
public sealed class LoraQueryCliTests
{
    private static int Run(params string[] args) => new RootCommand { EvalCommand.Create() }.Parse(args).Invoke();

    [Fact]
    public void Eval_and_generate_report_the_query_confidence_and_refuse_what_does_not_fit()
    {
        using var dir = new TempDirectory();
        string adapter, wrongBase;
        using (var model = LlamaModel.Load(TestModels.SyntheticPath))
        {
            adapter = LoraQueryTests.WriteQueryAdapter(model, "cli-query.gguf");
            wrongBase = LoraQueryTests.WriteQueryAdapter(model, "cli-query-other.gguf", baseSha256: new string('b', 64));
        }
        string data = dir.File("items.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 6).Select(i => JsonSerializer.Serialize(new { id = $"q{i}", question = $"What is thing {i} called?", answer = "x" })));

        Assert.Equal(0, Run("eval", "-m", TestModels.SyntheticPath, "-d", data, "-o", dir.File("run"), "--methods", "lora_query,msp", "--lora-query", adapter, "-n", "5", "--bootstrap", "10", "--threads", "1"));
        var items = File.ReadAllLines(dir.File("run/items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(6, items.Count);
        Assert.All(items, i => Assert.InRange(i.GetProperty("methods").GetProperty("lora_query").GetProperty("confidence").GetDouble(), 0, 1));
        // Each item's query followed its own greedy answer in the cache (nothing decoded twice).
        Assert.All(items, i => Assert.Contains("cache reused", i.GetProperty("methods").GetProperty("lora_query").GetRawText()));

        Assert.Equal(1, Run("eval", "-m", TestModels.SyntheticPath, "-d", data, "-o", dir.File("run2"), "--methods", "lora_query"));
        Assert.Equal(1, Run("eval", "-m", TestModels.SyntheticPath, "-d", data, "-o", dir.File("run3"), "--methods", "lora_query", "--lora-query", wrongBase));

        var (code, stdout, stderr) = UqengineProcess.Run(TimeSpan.FromMinutes(2), "generate", "Hello world", "-m", TestModels.SyntheticPath, "-n", "4", "--lora-query", adapter, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var reading = json.RootElement.GetProperty("lora_query")[0];
        Assert.InRange(reading.GetProperty("confidence").GetDouble(), 0, 1);
        Assert.True(reading.GetProperty("reused_cache").GetBoolean());
    }
}
