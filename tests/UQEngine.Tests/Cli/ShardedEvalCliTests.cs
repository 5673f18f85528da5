using System.Diagnostics;
using System.Text.Json;
using UQEngine.Demo;
using UQEngine.Tests.Gguf;
using Xunit;

namespace UQEngine.Tests.Cli;

/// <summary>
/// `eval --shard` (and the Kubernetes / Slurm variables) over the demo model, four shards merged by `uqengine merge`,
/// against the unsharded run: identical per-item results, metrics, run.json, report and figures.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ShardedEvalCliTests(ITestOutputHelper output)
{
    /// <summary>No scheduler variable leaks in from the machine running the tests (a CI job on Slurm, say).</summary>
    private static Dictionary<string, string?> Clean(params (string Name, string Value)[] set)
    {
        var env = new Dictionary<string, string?>
        {
            ["JOB_COMPLETION_INDEX"] = null, ["UQENGINE_SHARD_COUNT"] = null, ["SLURM_ARRAY_TASK_ID"] = null,
            ["SLURM_ARRAY_TASK_MIN"] = null, ["SLURM_ARRAY_TASK_COUNT"] = null, ["SLURM_ARRAY_TASK_STEP"] = null,
        };
        foreach (var (name, value) in set) env[name] = value;
        return env;
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(Dictionary<string, string?> env, params string[] args) =>
        UqengineProcess.Run(TimeSpan.FromMinutes(3), env, args);

    [Fact]
    public void Four_shards_merged_equal_the_unsharded_run()
    {
        string? folder = DemoModels.FindFolder();
        Assert.SkipUnless(folder is not null, "the demo model (models/demo) is not in this checkout");
        string model = Path.Combine(folder!, DemoModels.FileName);
        using var dir = new TempDirectory();
        // 20 items: shards of 5; a sampling method too, so per-item seeding must not depend on which items ran before.
        string[] Eval(string outFolder) => ["eval", "-d", "demo:open:eval", "--limit", "20", "-m", model, "-o", outFolder, "--bootstrap", "200",
            "--methods", "msp,mean_entropy,semantic_entropy", "--sample-count", "3"];
        var clock = Stopwatch.StartNew();
        var (code, _, stderr) = Run(Clean(), Eval(dir.File("full")));
        Assert.True(code == 0, stderr);
        output.WriteLine($"unsharded: {clock.Elapsed.TotalSeconds:F1} s");

        string[] shards = [.. Enumerable.Range(0, 4).Select(i => dir.File($"shard{i}"))];
        clock.Restart();
        (code, var stdout, stderr) = Run(Clean(), [.. Eval(shards[0]), "--shard", "0/4"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("Shard 0/4 (from --shard)", stdout);
        (code, stdout, stderr) = Run(Clean(), [.. Eval(shards[1]), "--shard", "1/4"]);
        Assert.True(code == 0, stderr);
        (code, stdout, stderr) = Run(Clean(("JOB_COMPLETION_INDEX", "2"), ("UQENGINE_SHARD_COUNT", "4")), Eval(shards[2]));
        Assert.True(code == 0, stderr);
        Assert.Contains("Shard 2/4 (from the Kubernetes Indexed Job: JOB_COMPLETION_INDEX=2, UQENGINE_SHARD_COUNT=4)", stdout);
        (code, stdout, stderr) = Run(Clean(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")), Eval(shards[3]));
        Assert.True(code == 0, stderr);
        Assert.Contains("Shard 3/4 (from the Slurm job array: SLURM_ARRAY_TASK_ID=4", stdout);
        output.WriteLine($"4 shards one after another: {clock.Elapsed.TotalSeconds:F1} s");
        using (var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(shards[2], "run.json"))))
            Assert.Equal("2/4", run.RootElement.GetProperty("shard").GetString());
        Assert.Equal(5, File.ReadAllLines(Path.Combine(shards[2], "items.jsonl")).Length);

        string merged = dir.File("merged");
        clock.Restart();
        (code, _, stderr) = Run(Clean(), ["merge", .. shards, "-o", merged]);
        Assert.True(code == 0, stderr);
        output.WriteLine($"merge: {clock.Elapsed.TotalSeconds:F1} s");

        string full = dir.File("full");
        string Text(string f, string name) => File.ReadAllText(Path.Combine(f, name));
        Assert.Equal(Text(full, "items.jsonl"), Text(merged, "items.jsonl"));
        Assert.Equal(Text(full, "run.json"), Text(merged, "run.json"));
        var a = File.ReadAllLines(Path.Combine(full, "items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var b = File.ReadAllLines(Path.Combine(merged, "items.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(20, a.Count);
        double itemDiff = a.Zip(b).Max(p => MaxDifference(p.First, p.Second));
        using var sa = JsonDocument.Parse(Text(full, "summary.json"));
        using var sb = JsonDocument.Parse(Text(merged, "summary.json"));
        double metricDiff = sa.RootElement.EnumerateObject().Where(p => p.Name != "timing").Max(p => MaxDifference(p.Value, sb.RootElement.GetProperty(p.Name)));
        output.WriteLine($"largest difference: per-item values {itemDiff:G3}, summary metrics {metricDiff:G3}");
        Assert.True(itemDiff <= 1e-12 && metricDiff <= 1e-12, $"items {itemDiff}, metrics {metricDiff}");
        string report = Text(full, "report.md"), mergedReport = Text(merged, "report.md");
        Assert.Equal(report[..report.IndexOf("## Where the time went", StringComparison.Ordinal)], mergedReport[..mergedReport.IndexOf("## Where the time went", StringComparison.Ordinal)]);
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "risk_coverage.png")), File.ReadAllBytes(Path.Combine(merged, "risk_coverage.png")));

        // A shard left out is refused by name.
        (code, _, stderr) = Run(Clean(), ["merge", shards[0], shards[1], shards[3], "-o", dir.File("bad")]);
        Assert.Equal(1, code);
        Assert.Contains("shard(s) 2/4 missing", stderr);
        Assert.False(Directory.Exists(dir.File("bad")));
    }

    [Fact]
    public void A_Kubernetes_index_without_a_count_is_a_one_line_error_before_anything_loads()
    {
        var (code, _, stderr) = Run(Clean(("JOB_COMPLETION_INDEX", "1")), "eval", "-d", "demo:open:eval", "-o", Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(1, code);
        Assert.Contains("uqengine: error: JOB_COMPLETION_INDEX=1 is set (a Kubernetes Indexed Job) but the shard count is not: set UQENGINE_SHARD_COUNT", stderr);
        (code, _, stderr) = Run(Clean(), "eval", "-d", "demo:open:eval", "-o", "x", "--shard", "4/4");
        Assert.Equal(1, code);
        Assert.Contains("--shard: shard '4/4': I must be in 0..3", stderr);
    }

    /// <summary>The largest absolute difference between numbers at the same place; structure and other values must be equal.</summary>
    private static double MaxDifference(JsonElement a, JsonElement b)
    {
        Assert.Equal(a.ValueKind, b.ValueKind);
        switch (a.ValueKind)
        {
            case JsonValueKind.Number: return Math.Abs(a.GetDouble() - b.GetDouble());
            case JsonValueKind.Object:
                Assert.Equal(a.EnumerateObject().Select(p => p.Name), b.EnumerateObject().Select(p => p.Name));
                return a.EnumerateObject().Select(p => MaxDifference(p.Value, b.GetProperty(p.Name))).DefaultIfEmpty(0).Max();
            case JsonValueKind.Array:
                Assert.Equal(a.GetArrayLength(), b.GetArrayLength());
                return a.EnumerateArray().Zip(b.EnumerateArray()).Select(p => MaxDifference(p.First, p.Second)).DefaultIfEmpty(0).Max();
            default:
                Assert.Equal(a.GetRawText(), b.GetRawText());
                return 0;
        }
    }
}
