using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace UQEngine.Gguf;

/// <summary>Facts about model files on disk that several layers key on: checksums and the user's model cache.</summary>
public static class ModelFiles
{
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string> Hashes = new();

    /// <summary>
    /// The file's SHA-256, lower-case hex. Hashing a model reads all of it, so the result is kept per path, size and
    /// modification time for the life of the process (a rewritten file is hashed again).
    /// </summary>
    public static string Sha256(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists) throw new FileNotFoundException($"'{path}' does not exist", path);
        return Hashes.GetOrAdd((file.FullName, file.Length, file.LastWriteTimeUtc), key =>
        {
            using var stream = new FileStream(key.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        });
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
