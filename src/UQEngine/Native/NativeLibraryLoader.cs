using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace UQEngine.Native;

/// <summary>Which build of llama.cpp to load. Chosen once per process, before the first native call.</summary>
public enum NativeBackend { Cpu, Cuda }

/// <summary>Raised when llama.cpp's libraries cannot be found or loaded; the message says where it looked and what to do.</summary>
public sealed class NativeLibraryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Finds and loads llama.cpp's shared libraries and routes the "llama"/"ggml"/"ggml-base" LibraryImport names to them.
/// Search order: UQENGINE_NATIVE_DIR; then native/&lt;backend&gt;/ beside the app; then native/&lt;backend&gt;/ in any
/// parent folder (a source checkout). ggml's CPU variants are then loaded from the same folder, which makes
/// ggml pick the best one this processor supports (e.g. zen4 / AVX-512).
/// </summary>
public static class NativeLibraryLoader
{
    public const string DirectoryVariable = "UQENGINE_NATIVE_DIR";
    private static readonly Lock Gate = new();
    private static NativeBackend _backend = NativeBackend.Cpu;
    private static bool _loaded, _initializing;
    private static nint _llama, _ggml, _ggmlBase;

    /// <summary>The folder the libraries were loaded from (null before loading).</summary>
    public static string? LoadedFrom { get; private set; }

    /// <summary>The backend that is (or will be) loaded.</summary>
    public static NativeBackend Backend => _backend;

    /// <summary>Selects the backend. Must be called before any model is loaded; a later different choice throws.</summary>
    public static void UseBackend(NativeBackend backend)
    {
        lock (Gate)
        {
            if (_loaded && backend != _backend)
                throw new NativeLibraryException($"llama.cpp's {_backend} libraries are already loaded in this process; the backend ({backend}) must be chosen before the first model is loaded.");
            _backend = backend;
        }
    }

    /// <summary>Loads the libraries once; safe to call from many threads.</summary>
    public static void EnsureLoaded()
    {
        if (_loaded) return;
        lock (Gate)
        {
            // _initializing: Load's own native calls run LlamaNative's static constructor, which comes back here on
            // this thread (Lock is re-entrant); other threads wait on the lock until loading has finished.
            if (_loaded || _initializing) return;
            _initializing = true;
            try { Load(); _loaded = true; }
            finally { _initializing = false; }
        }
    }

    private static unsafe void Load()
    {
        var (dir, names) = Locate(_backend);
        try
        {
            // Dependencies first so each dlopen finds the one already in the process.
            _ggmlBase = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
            _ggml = NativeLibrary.Load(Path.Combine(dir, names.Ggml));
            _llama = NativeLibrary.Load(Path.Combine(dir, names.Llama));
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new NativeLibraryException(
                $"llama.cpp's {_backend} libraries in '{dir}' could not be loaded: {e.Message}" +
                (_backend == NativeBackend.Cuda ? " The CUDA build needs libcudart.so.13, libcublas.so.13 and libcuda.so.1 on the library path." : ""), e);
        }
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
        LoadedFrom = dir;
        NativeLogging.Install(); // first, so the backend loader's messages go through it too
        byte[] dirUtf8 = System.Text.Encoding.UTF8.GetBytes(dir + "\0");
        fixed (byte* p = dirUtf8) LlamaNative.ggml_backend_load_all_from_path(p);
        LlamaNative.llama_backend_init();
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        LlamaNative.Llama => _llama,
        LlamaNative.Ggml => _ggml,
        LlamaNative.GgmlBase => _ggmlBase,
        _ => IntPtr.Zero,
    };

    /// <summary>The address of an exported C function of one of the loaded libraries ("llama", "ggml", "ggml-base").</summary>
    internal static nint Export(string library, string name)
    {
        EnsureLoaded();
        nint handle = Resolve(library, typeof(NativeLibraryLoader).Assembly, null);
        if (handle == IntPtr.Zero) throw new NativeLibraryException($"no loaded library is called '{library}'");
        if (!NativeLibrary.TryGetExport(handle, name, out nint address))
            throw new NativeLibraryException($"llama.cpp's '{library}' library (from {LoadedFrom}) does not export {name}; the libraries are not release v0.5.0.");
        return address;
    }

    internal readonly record struct LibraryNames(string Llama, string Ggml);

    /// <summary>Finds the folder for a backend, or throws with every place it looked and how to fix it.</summary>
    internal static (string Directory, LibraryNames Names) Locate(NativeBackend backend) =>
        Locate(backend, Environment.GetEnvironmentVariable(DirectoryVariable));

    internal static (string Directory, LibraryNames Names) Locate(NativeBackend backend, string? env)
    {
        string sub = backend == NativeBackend.Cuda ? "cuda" : "cpu";
        var looked = new List<string>();
        var candidates = new List<string>();
        if (!string.IsNullOrWhiteSpace(env)) candidates.Add(env);
        candidates.Add(Path.Combine(AppContext.BaseDirectory, "native", sub));
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            candidates.Add(Path.Combine(d.FullName, "native", sub));

        foreach (string dir in candidates)
        {
            looked.Add(dir);
            var names = NamesIn(dir, backend);
            if (names is not null) return (Path.GetFullPath(dir), names.Value);
            if (!string.IsNullOrWhiteSpace(env) && dir == env)
                throw new NativeLibraryException($"{DirectoryVariable} is set to '{env}', but that folder holds no llama.cpp {sub} libraries (expected libllama*.so, libggml*.so and libggml-base.so of llama.cpp release v0.5.0).");
        }
        throw new NativeLibraryException(
            $"llama.cpp's {sub} libraries were not found. Looked in: {string.Join(", ", looked.Distinct())}. " +
            $"Run `bash native/fetch.sh {sub}` in the source checkout (it needs npm), or set {DirectoryVariable} to a folder holding them.");
    }

    private static LibraryNames? NamesIn(string dir, NativeBackend backend)
    {
        if (!Directory.Exists(dir) || !File.Exists(Path.Combine(dir, "libggml-base.so"))) return null;
        string manifest = Path.Combine(dir, "manifest.json");
        if (File.Exists(manifest))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
                var root = doc.RootElement;
                if (root.TryGetProperty("llama", out var l) && root.TryGetProperty("ggml", out var g))
                {
                    var n = new LibraryNames(l.GetString()!, g.GetString()!);
                    if (File.Exists(Path.Combine(dir, n.Llama)) && File.Exists(Path.Combine(dir, n.Ggml))) return n;
                }
            }
            catch (JsonException) { /* fall back to the file names below */ }
        }
        string prefix = backend == NativeBackend.Cuda ? ".cuda" : "";
        foreach (var n in new[] { new LibraryNames($"libllama{prefix}.v0.5.0.so", $"libggml{prefix}.v0.5.0.so"), new LibraryNames("libllama.so", "libggml.so") })
            if (File.Exists(Path.Combine(dir, n.Llama)) && File.Exists(Path.Combine(dir, n.Ggml))) return n;
        return null;
    }
}
