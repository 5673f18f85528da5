using UQEngine.Gguf;
using UQEngine.Models;

namespace UQEngine.Demo;

/// <summary>
/// The model used when none is given: the committed demo model (models/demo/uqengine-demo-f16.gguf, trained by
/// llama.cpp on a synthetic world) when it is found beside the app or in a parent folder (a source checkout);
/// otherwise the synthetic random llama model, written once to the user's cache (a few hundred KB, milliseconds to make).
/// </summary>
public static class BuiltInModels
{
    /// <summary>Bumped whenever the synthetic model's recipe changes, so stale cached files are not reused.</summary>
    private const string SyntheticFileName = "synthetic-llama-v1.gguf";

    /// <summary>The user's model cache (<see cref="ModelFiles.CacheDirectory"/>).</summary>
    public static string CacheDirectory => ModelFiles.CacheDirectory;

    /// <summary>Returns the default model's path, making the synthetic one if needed; <paramref name="log"/> hears what was chosen.</summary>
    public static string DefaultModelPath(Action<string>? log = null)
    {
        if (DemoModels.FindModel() is { } demo)
        {
            log?.Invoke($"no --model given: using the demo model (trained on a synthetic world; ask it e.g. \"Where does <name> live?\") at {demo}");
            return demo;
        }
        return SyntheticModelPath(log);
    }

    /// <summary>True for the files this program ships or writes itself (the demo models of every size, the cached synthetic model).</summary>
    public static bool IsBuiltIn(string path)
    {
        string full = Path.GetFullPath(path);
        return DemoModels.Sizes.Any(size => DemoModels.FindModel(size) is { } demo && full == Path.GetFullPath(demo))
            || full == Path.GetFullPath(Path.Combine(CacheDirectory, SyntheticFileName));
    }

    /// <summary>
    /// A --model value: an existing file is itself; otherwise a built-in name (demo, demo-small, demo-tiny) is its
    /// committed file. Null when the value is neither (the caller reports the missing file).
    /// </summary>
    public static string? Resolve(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        if (File.Exists(value)) return value;
        if (DemoModels.Size(value) is not { } size) return null;
        return DemoModels.FindModel(size) ?? throw new FileNotFoundException(
            $"the built-in model '{size.Name}' ({size.RelativeFolder}/{size.FileName}) was not found beside the app or in a parent folder", size.FileName);
    }

    /// <summary>The synthetic random model in the user cache, written on first use.</summary>
    public static string SyntheticModelPath(Action<string>? log = null)
    {
        string path = Path.Combine(CacheDirectory, SyntheticFileName);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(CacheDirectory);
            // Write to a temporary name and rename, so a concurrent or interrupted run never sees half a file.
            string temp = path + $".{Environment.ProcessId}.tmp";
            SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = temp });
            File.Move(temp, path, overwrite: true);
        }
        log?.Invoke($"no --model given and no demo model found: using the built-in synthetic llama model (random weights, so its text is noise) at {path}");
        return path;
    }
}
