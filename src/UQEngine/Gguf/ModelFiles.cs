using System.Security.Cryptography;

namespace UQEngine.Gguf;

/// <summary>Facts about model files on disk that several layers key on: checksums and the user's model cache.</summary>
public static class ModelFiles
{
    /// <summary>The file's SHA-256, lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The first 12 hex digits of the file's SHA-256: enough to tell rebuilt models apart in file names.</summary>
    public static string ShortSha256(string path) => Sha256(path)[..12];

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
}
