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
