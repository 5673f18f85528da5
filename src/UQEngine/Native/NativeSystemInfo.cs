using System.Runtime.InteropServices;

namespace UQEngine.Native;

/// <summary>One ggml backend device (CPU, GPU, ...).</summary>
public sealed record NativeDevice(string Name, string Description, string Type, ulong FreeMemoryBytes, ulong TotalMemoryBytes);

/// <summary>What the loaded llama.cpp build reports about itself and this machine.</summary>
public sealed record NativeSystemInfo(string Release, string Directory, string SystemInfo, bool SupportsGpuOffload, IReadOnlyList<NativeDevice> Devices)
{
    public static unsafe NativeSystemInfo Read()
    {
        NativeLibraryLoader.EnsureLoaded();
        var devices = new List<NativeDevice>();
        nuint count = LlamaNative.ggml_backend_dev_count();
        for (nuint i = 0; i < count; i++)
        {
            nint d = LlamaNative.ggml_backend_dev_get(i);
            nuint free, total;
            LlamaNative.ggml_backend_dev_memory(d, &free, &total);
            string type = LlamaNative.ggml_backend_dev_type(d) switch { 0 => "cpu", 1 => "gpu", 2 => "igpu", 3 => "accel", var t => $"type {t}" };
            devices.Add(new NativeDevice(Str(LlamaNative.ggml_backend_dev_name(d)), Str(LlamaNative.ggml_backend_dev_description(d)), type, free, total));
        }
        return new NativeSystemInfo("v0.5.0", NativeLibraryLoader.LoadedFrom ?? "", Str(LlamaNative.llama_print_system_info()).Trim(), LlamaNative.llama_supports_gpu_offload(), devices);
    }

    private static unsafe string Str(byte* p) => p == null ? "" : Marshal.PtrToStringUTF8((nint)p) ?? "";
}
