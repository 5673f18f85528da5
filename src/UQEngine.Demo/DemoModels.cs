using UQEngine.Gguf;
using UQEngine.Training;

namespace UQEngine.Demo;

/// <summary>
/// Where the committed demo model and its quantized variants live: models/demo/ beside the app (the CLI copies it
/// there) or in a parent folder of the app (a source checkout). Quantized variants are made on demand into
/// models/cache/ of the checkout (ignored by git), or the user cache when no checkout is found.
/// </summary>
public static class DemoModels
{
    public const string FileName = "uqengine-demo-f16.gguf";
    public const string RecipeFileName = "recipe.json";
    public const string ChecksumFileName = "uqengine-demo-f16.gguf.sha256";
    public const string RelativeFolder = "models/demo";

    /// <summary>The built-in demo models by size, smallest first; "demo" is the default model.</summary>
    public static IReadOnlyList<DemoModelSize> Sizes { get; } =
    [
        new("demo-tiny", "models/demo-tiny", "uqengine-demo-tiny-f16.gguf", "128 wide, 2 layers, ff 512"),
        new("demo-small", "models/demo-small", "uqengine-demo-small-f16.gguf", "256 wide, 2 layers, ff 512"),
        new("demo", RelativeFolder, FileName, "256 wide, 4 layers, ff 768"),
    ];

    /// <summary>The --ladder name of every size x the quantization ladder.</summary>
    public const string SizeLadderName = "demo-sizes";

    /// <summary>
    /// "demo-sizes" → the whole quantization ladder (<see cref="ModelLadder.Demo"/>) for every size;
    /// "demo-sizes:F16,Q4_0,Q2_K" → those types for every size; null for any other spec (a plain ladder).
    /// Throws ArgumentException naming an unknown type or an empty list.
    /// </summary>
    public static IReadOnlyList<QuantizationType>? ParseSizeLadder(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        string s = spec.Trim();
        if (s.Equals(SizeLadderName, StringComparison.OrdinalIgnoreCase)) return ModelLadder.Demo;
        if (!s.StartsWith(SizeLadderName + ":", StringComparison.OrdinalIgnoreCase)) return null;
        string types = s[(SizeLadderName.Length + 1)..];
        if (string.IsNullOrWhiteSpace(types)) throw new ArgumentException($"'{spec}' names no quantization type after '{SizeLadderName}:' (e.g. {SizeLadderName}:F16,Q4_0,Q2_K)");
        return ModelLadder.Parse(types);
    }

    /// <summary>The size named <paramref name="name"/> ("demo", "demo-small", "demo-tiny"; case-insensitive), or null.</summary>
    public static DemoModelSize? Size(string name) =>
        Sizes.FirstOrDefault(s => s.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The committed file of the built-in model <paramref name="size"/>, found like <see cref="FindFolder"/>; null when not found.</summary>
    public static string? FindModel(DemoModelSize size, string? startDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(size);
        for (var d = new DirectoryInfo(startDirectory ?? AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string path = Path.Combine(d.FullName, size.RelativeFolder, size.FileName);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>The models/demo folder holding the committed model, or null.</summary>
    public static string? FindFolder(string? startDirectory = null)
    {
        for (var d = new DirectoryInfo(startDirectory ?? AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string folder = Path.Combine(d.FullName, "models", "demo");
            if (File.Exists(Path.Combine(folder, FileName))) return folder;
        }
        return null;
    }

    /// <summary>The committed demo model's path, or null when it is not found.</summary>
    public static string? FindModel(string? startDirectory = null) => FindFolder(startDirectory) is { } f ? Path.Combine(f, FileName) : null;

    /// <summary>The recipe committed beside the model (the default recipe when none is found).</summary>
    public static DemoRecipe LoadRecipe(string? folder = null)
    {
        folder ??= FindFolder();
        string? path = folder is null ? null : Path.Combine(folder, RecipeFileName);
        return path is not null && File.Exists(path) ? DemoRecipe.FromJson(File.ReadAllText(path)) : new DemoRecipe();
    }

    /// <summary>
    /// The source checkout's models/cache (a parent folder with a .git entry and models/), else the user cache.
    /// </summary>
    public static string CacheDirectory()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, "models", "demo")) && (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git"))))
                return Path.Combine(d.FullName, "models", "cache");
        return Path.Combine(ModelFiles.CacheDirectory, "models");
    }

    /// <summary>
    /// The demo model at <paramref name="type"/>: the committed file for F16, otherwise a variant quantized by
    /// llama.cpp from it on first use into <paramref name="cacheDirectory"/> (default <see cref="CacheDirectory"/>).
    /// </summary>
    public static string Variant(QuantizationType type, string? source = null, string? cacheDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(type);
        source ??= FindModel() ?? throw new FileNotFoundException($"the demo model ({RelativeFolder}/{FileName}) was not found beside the app or in a parent folder; run `uqengine model build`.");
        if (type == QuantizationType.F16) return source;
        return ModelLadder.Ensure(source, type, cacheDirectory ?? CacheDirectory());
    }
}

/// <summary>One built-in demo model: the same world and recipe style at another size.</summary>
/// <param name="Name">What commands call it (--model demo-small).</param>
/// <param name="RelativeFolder">Its folder in a checkout (recipe.json, the F16 file, its .sha256, world.jsonl).</param>
/// <param name="FileName">The committed F16 file.</param>
/// <param name="Shape">Width, depth and FFN size, for listings.</param>
public sealed record DemoModelSize(string Name, string RelativeFolder, string FileName, string Shape)
{
    /// <summary>The checksum file beside the model.</summary>
    public string ChecksumFileName => FileName + ".sha256";
}
