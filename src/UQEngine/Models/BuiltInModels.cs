namespace UQEngine.Models;

/// <summary>
/// The model used when none is given. Until a trained demo model is committed under models/, this is the
/// synthetic random llama model, written once to the user's cache (a few hundred KB, milliseconds to make).
/// </summary>
public static class BuiltInModels
{
    /// <summary>Bumped whenever the synthetic model's recipe changes, so stale cached files are not reused.</summary>
    private const string SyntheticFileName = "synthetic-llama-v1.gguf";

    /// <summary>UQENGINE_CACHE, else $XDG_CACHE_HOME/uqengine, else ~/.cache/uqengine.</summary>
    public static string CacheDirectory
    {
        get
        {
            string? explicitDir = Environment.GetEnvironmentVariable("UQENGINE_CACHE");
            if (!string.IsNullOrWhiteSpace(explicitDir)) return explicitDir;
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string root = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "uqengine");
        }
    }

    /// <summary>Returns the default model's path, making it first if needed; <paramref name="log"/> hears what was chosen.</summary>
    public static string DefaultModelPath(Action<string>? log = null)
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
        log?.Invoke($"no --model given: using the built-in synthetic llama model (random weights, so its text is noise) at {path}");
        return path;
    }
}
