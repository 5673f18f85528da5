using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using UQEngine.Inference;

namespace UQEngine.Tests.Apps;

/// <summary>
/// The core package alone is enough for generation with per-token uncertainty: its dependency graph holds none of
/// the heavy packages, and tests/Apps/CoreOnlyApp (a console app referencing only src/UQEngine) builds and runs.
/// </summary>
public sealed class CoreOnlyAppTests
{
    private static readonly string[] Heavy = ["Parquet.Net", "Google.Protobuf", "MathNet.Numerics", "Microsoft.ML.Tokenizers", "Microsoft.Extensions.AI.Abstractions"];

    internal static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UQEngine.sln"))) return d.FullName;
        throw new InvalidOperationException("UQEngine.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void The_core_package_depends_on_nothing_heavy_even_transitively()
    {
        // project.assets.json is what `dotnet list package --include-transitive` reads.
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "src", "UQEngine", "obj", "project.assets.json")));
        var packages = assets.RootElement.GetProperty("libraries").EnumerateObject()
            .Where(p => p.Value.GetProperty("type").GetString() == "package").Select(p => p.Name.Split('/')[0]).ToList();
        Assert.Contains("System.Numerics.Tensors", packages);
        Assert.Empty(packages.Intersect(Heavy, StringComparer.OrdinalIgnoreCase));
        Assert.DoesNotContain(assets.RootElement.GetProperty("libraries").EnumerateObject(), p => p.Value.GetProperty("type").GetString() == "project");
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void A_console_app_on_the_core_alone_generates_with_per_token_uncertainty()
    {
        string root = RepositoryRoot();
        string output = Directory.CreateTempSubdirectory("uqengine-coreonly-").FullName;
        try
        {
#if DEBUG
            const string configuration = "Debug";
#else
            const string configuration = "Release";
#endif
            var (buildCode, buildOut) = Run("dotnet", root, "build", Path.Combine(root, "tests", "Apps", "CoreOnlyApp", "CoreOnlyApp.csproj"), "-c", configuration, "-o", output, "-nologo", "-v", "q");
            Assert.True(buildCode == 0, buildOut);
            Assert.Empty(Directory.GetFiles(output, "*.dll").Select(Path.GetFileNameWithoutExtension).Intersect(Heavy, StringComparer.OrdinalIgnoreCase));

            const string prompt = "Hello world";
            var (code, stdout) = Run("dotnet", root, Path.Combine(output, "CoreOnlyApp.dll"), TestModels.SyntheticPath, prompt);
            Assert.True(code == 0, stdout);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("loaded: UQEngine", lines[^1]);
            var tokens = lines.Where(l => l.StartsWith("token\t", StringComparison.Ordinal)).Select(l => l.Split('\t')).ToList();
            Assert.NotEmpty(tokens);

            // The same numbers as the library in this process (same model, greedy).
            using var model = LlamaModel.Load(TestModels.SyntheticPath);
            using var context = model.CreateContext(new ContextOptions { ContextSize = 512 });
            using var generator = new Generator(context);
            var expected = generator.Generate(prompt, new GenerationOptions { MaxTokens = 8, Stop = ["\n"] });
            Assert.Equal(expected.Tokens.Count, tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                Assert.Equal(expected.Tokens[i].Text, tokens[i][1]);
                Assert.Equal(expected.Tokens[i].Probability, double.Parse(tokens[i][2], CultureInfo.InvariantCulture), 1e-4);
                Assert.Equal(expected.Tokens[i].Entropy, double.Parse(tokens[i][3], CultureInfo.InvariantCulture), 1e-3);
            }
        }
        finally { Directory.Delete(output, recursive: true); }
    }

    private static (int Code, string Output) Run(string file, string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["UQENGINE_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4))) { process.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
