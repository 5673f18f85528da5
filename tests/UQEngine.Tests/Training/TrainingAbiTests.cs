using System.Runtime.CompilerServices;
using UQEngine.Native;

namespace UQEngine.Tests.Training;

/// <summary>Guards the training and quantization struct mirrors against drift from llama.cpp v0.5.0.</summary>
[Trait("Category", "Integration")]
public sealed class TrainingAbiTests
{
    [Fact]
    public void Struct_sizes_match_the_x64_C_layout()
    {
        Assert.Equal(48, Unsafe.SizeOf<LlamaOptParams>());
        Assert.Equal(28, Unsafe.SizeOf<GgmlOptOptimizerParams>());
        Assert.Equal(64, Unsafe.SizeOf<LlamaModelQuantizeParams>());
    }

    [Fact]
    public unsafe void Optimizer_default_params_read_back_as_ggml_sets_them()
    {
        var p = LlamaNative.ggml_opt_get_default_optimizer_params(null);
        Assert.Equal(0.001f, p.AdamWAlpha);
        Assert.Equal(0.9f, p.AdamWBeta1);
        Assert.Equal(0.999f, p.AdamWBeta2);
        Assert.Equal(1e-8f, p.AdamWEpsilon);
        Assert.Equal(0f, p.AdamWWeightDecay);
        Assert.Equal(0.001f, p.SgdAlpha);
        Assert.Equal(0f, p.SgdWeightDecay);
    }

    [Fact]
    public void Quantize_default_params_read_back_as_llama_cpp_sets_them()
    {
        var p = LlamaNative.llama_model_quantize_default_params();
        Assert.Equal(0, p.ThreadCount);
        Assert.Equal(7, p.FileType); // LLAMA_FTYPE_MOSTLY_Q8_0
        Assert.Equal(43, p.OutputTensorType); // GGML_TYPE_COUNT: chosen by the file type
        Assert.Equal(43, p.TokenEmbeddingType);
        Assert.Equal(new byte[] { 0, 1, 0, 0, 0, 0 }, new[] { p.AllowRequantize, p.QuantizeOutputTensor, p.OnlyCopy, p.Pure, p.KeepSplit, p.DryRun });
        Assert.Equal(0, p.ImportanceMatrix);
        Assert.Equal(0, p.KvOverrides);
        Assert.Equal(0, p.TensorTypeOverrides);
        Assert.Equal(0, p.PruneLayers);
        Assert.Equal(8UL * 1024 * 1024 * 1024, (ulong)p.MaxBufferSize); // 64-bit only, like the rest of the binding
    }

    [Fact]
    public void Callback_functions_are_exported_where_the_trainer_looks_for_them()
    {
        Assert.NotEqual(0, LlamaNative.ExportedFunction(LlamaNative.Llama, "llama_opt_param_filter_all"));
        Assert.NotEqual(0, LlamaNative.ExportedFunction(LlamaNative.GgmlBase, "ggml_opt_get_constant_optimizer_params"));
        Assert.Throws<NativeLibraryException>(() => LlamaNative.ExportedFunction(LlamaNative.GgmlBase, "no_such_function"));
    }
}
