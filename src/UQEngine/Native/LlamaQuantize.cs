using System.Text;

namespace UQEngine.Native;

/// <summary>llama.cpp's model quantizer (llama_model_quantize).</summary>
internal static unsafe class LlamaQuantize
{
    /// <summary>
    /// Quantizes the GGUF at <paramref name="inputPath"/> into <paramref name="outputPath"/> (full paths) with
    /// llama.cpp's default quantize parameters but <paramref name="fileType"/> (enum llama_ftype) and
    /// <paramref name="threads"/> (&lt;= 0: every hardware thread). Returns llama.cpp's code: 0 = success.
    /// </summary>
    internal static uint Run(string inputPath, string outputPath, int fileType, int threads)
    {
        var p = LlamaNative.llama_model_quantize_default_params();
        p.FileType = fileType;
        p.ThreadCount = threads;
        byte[] i8 = Encoding.UTF8.GetBytes(inputPath + "\0");
        byte[] o8 = Encoding.UTF8.GetBytes(outputPath + "\0");
        fixed (byte* ip = i8)
        fixed (byte* op = o8)
            return LlamaNative.llama_model_quantize(ip, op, &p);
    }
}
