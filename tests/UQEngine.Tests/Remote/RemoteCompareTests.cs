using System.Text.Json;
using UQEngine.Cli;
using UQEngine.Cli.Commands;
using UQEngine.Tests.Cli;
using UQEngine.Tests.Gguf;

namespace UQEngine.Tests.Remote;

/// <summary>
/// `uqengine compare --endpoint` against two real `uqengine serve` processes on loopback (the demo model and
/// demo-tiny): each variant's numbers are `eval --endpoint`'s on the same server, tokens/s and memory are reported as
/// not measured, and the local-only options are refused.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RemoteCompareTests
{
    private const string Methods = "msp,mean_entropy,semantic_entropy";
    private const int Count = 8;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(8);

    private static string[] Common(string folder) =>
        ["-d", "demo:open:eval", "--limit", Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--methods", Methods, "-o", folder, "--bootstrap", "100"];

    private static Dictionary<string, JsonElement> Items(string folder) =>
        File.ReadAllLines(Path.Combine(folder, "items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(e => e.GetProperty("id").GetString()!);

    [Fact]
    public async Task Compare_over_two_servers_gives_each_variant_evals_numbers_and_no_local_speed_figures()
    {
        using var dir = new TempDirectory();
        using var demo = await ServeProcess.StartAsync("--max-sequences", "5");
        using var tiny = await ServeProcess.StartAsync("--max-sequences", "5", "--model", "demo-tiny");
        string folder = dir.File("cmp");
        var c = UqengineProcess.Run(Limit, ["compare", .. Common(folder), "--endpoint", $"demo={demo.BaseAddress},tiny={tiny.BaseAddress}"]);
        Assert.True(c.ExitCode == 0, c.Stderr + c.Stdout);

        foreach (var (name, server) in new[] { ("demo", demo), ("tiny", tiny) })
        {
            string alone = dir.File("eval-" + name);
            var e = UqengineProcess.Run(Limit, ["eval", .. Common(alone), "--endpoint", server.BaseAddress]);
            Assert.True(e.ExitCode == 0, e.Stderr + e.Stdout);
            var viaCompare = Items(Path.Combine(folder, "variants", name));
            var viaEval = Items(alone);
            Assert.Equal(Count, viaCompare.Count);
            Assert.Equal(viaEval.Keys.Order(), viaCompare.Keys.Order());
            foreach (var (id, item) in viaEval)
            {
                Assert.Equal(item.GetProperty("response").GetString(), viaCompare[id].GetProperty("response").GetString());
                Assert.Equal(item.GetProperty("correct").GetBoolean(), viaCompare[id].GetProperty("correct").GetBoolean());
                foreach (string m in Methods.Split(','))
                    // Same server, same seeds; the batcher's slot layout may move float logits in the last bits.
                    Assert.Equal(item.GetProperty("methods").GetProperty(m).GetProperty("uncertainty").GetDouble(),
                        viaCompare[id].GetProperty("methods").GetProperty(m).GetProperty("uncertainty").GetDouble(), 1e-6);
            }
            Assert.Contains(server.BaseAddress, File.ReadAllText(Path.Combine(folder, "variants", name, "run.json")));
        }

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        var variants = summary.RootElement.GetProperty("variants").EnumerateArray().ToList();
        Assert.Equal(["demo", "tiny"], variants.Select(v => v.GetProperty("label").GetString()));
        foreach (var v in variants)
        {
            Assert.Equal("Ok", v.GetProperty("status").GetString());
            Assert.Equal(JsonValueKind.Null, v.TryGetProperty("performance", out var p) ? p.ValueKind : JsonValueKind.Null);
            Assert.Contains("not measured over an endpoint", v.GetProperty("not_measured").GetString());
        }
        Assert.Contains("uqengine-demo-tiny-f16", variants[1].GetProperty("endpoint").GetString());
        // demo-tiny against demo, item by item.
        var effects = summary.RootElement.GetProperty("effects").EnumerateArray().ToList();
        Assert.Equal(2, effects.Count);
        Assert.Equal(Count, effects[1].GetProperty("methods").GetProperty("msp").GetProperty("differences").GetProperty("pairs").GetInt32());
        string report = File.ReadAllText(Path.Combine(folder, "report.md"));
        Assert.Contains("not measured (reason 1)", report);
        Assert.Contains("## Paired differences", report);

        // Plain URL without --model: the variants are what /v1/models lists (one model here), labelled by its name.
        string listed = dir.File("listed");
        var l = UqengineProcess.Run(Limit, ["compare", .. Common(listed), "--endpoint", tiny.BaseAddress]);
        Assert.True(l.ExitCode == 0, l.Stderr + l.Stdout);
        Assert.Equal(Count, File.ReadAllLines(Path.Combine(listed, "variants", "uqengine-demo-tiny-f16", "items.jsonl")).Length);
    }

    [Fact]
    public void Local_model_options_and_mixed_endpoint_forms_are_refused_before_any_request()
    {
        using var dir = new TempDirectory();
        string[] Run(params string[] extra) => ["compare", .. Common(dir.File("x")), .. extra];
        // Nothing listens on port 9: every refusal comes before a request.
        var ladder = UqengineProcess.Run(Limit, Run("--endpoint", "http://127.0.0.1:9/v1", "--ladder", "demo", "--devices", "cuda"));
        Assert.Equal(1, ladder.ExitCode);
        Assert.Contains("--ladder, --devices set up local models", ladder.Stderr);
        var mixed = UqengineProcess.Run(Limit, Run("--endpoint", "a=http://127.0.0.1:9/v1,http://127.0.0.1:10/v1"));
        Assert.Equal(1, mixed.ExitCode);
        Assert.Contains("mixes NAME=URL entries with plain URLs ('http://127.0.0.1:10/v1')", mixed.Stderr);
        var both = UqengineProcess.Run(Limit, Run("--endpoint", "a=http://127.0.0.1:9/v1", "--model", "x"));
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("--model is for plain URLs", both.Stderr);
        var probe = UqengineProcess.Run(Limit, "compare", "-d", "demo:open:eval", "-o", dir.File("x"), "--endpoint", "http://127.0.0.1:9/v1", "--model", "x", "--methods", "msp,inv_entropy");
        Assert.Equal(1, probe.ExitCode);
        Assert.Contains("'inv_entropy'", probe.Stderr);
        Assert.False(Directory.Exists(dir.File("x")), "a refused comparison wrote its folder");
    }

    [Fact]
    public void Named_endpoints_group_replicas_by_name_and_keep_query_strings()
    {
        var named = CompareCommand.ParseNamedEndpoints("f16=http://a:1/v1, q4=http://b:2/v1,f16=http://c:3/v1?x=1");
        Assert.NotNull(named);
        Assert.Equal([("f16", "http://a:1/v1,http://c:3/v1?x=1"), ("q4", "http://b:2/v1")], named!);
        Assert.Null(CompareCommand.ParseNamedEndpoints("http://a:1/v1?key=v,http://b:2/v1"));
        Assert.Throws<CliException>(() => CompareCommand.ParseNamedEndpoints("f16="));
    }
}
