using System.Runtime.CompilerServices;
using UQEngine.Native;

namespace UQEngine.Tests.Native;

/// <summary>
/// Guards the hand-written struct mirrors against drift from llama.cpp v0.5.0: if a field is added, removed or
/// reordered upstream, the defaults llama.cpp fills in land in the wrong fields and these values stop matching.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LlamaAbiTests
{
    [Fact]
    public void Struct_sizes_match_the_x64_C_layout()
    {
        Assert.Equal(80, Unsafe.SizeOf<LlamaModelParams>());
        Assert.Equal(160, Unsafe.SizeOf<LlamaContextParams>());
        Assert.Equal(56, Unsafe.SizeOf<LlamaBatch>());
        Assert.Equal(1, Unsafe.SizeOf<LlamaSamplerChainParams>());
        Assert.Equal(16, Unsafe.SizeOf<LlamaChatMessage>());
    }

    [Fact]
    public void Model_default_params_read_back_as_llama_cpp_sets_them()
    {
        var p = LlamaNative.llama_model_default_params();
        Assert.Equal(0, p.Devices);
        Assert.Equal(-1, p.GpuLayerCount);
        Assert.Equal(LlamaSplitMode.Layer, p.SplitMode);
        Assert.Equal(LlamaLoadMode.Auto, p.LoadMode);
        Assert.Equal(LlamaLazyMode.Auto, p.LazyMode);
        Assert.Equal(0, p.MainGpu);
        Assert.Equal(0, p.ProgressCallback);
        Assert.Equal(0, p.KvOverrides);
        Assert.Equal(new byte[] { 0, 0, 1, 0, 0, 0 }, new[] { p.VocabOnly, p.CheckTensors, p.UseExtraBufferTypes, p.NoHost, p.NoAlloc, p.LoadMtp });
    }

    [Fact]
    public void Context_default_params_read_back_as_llama_cpp_sets_them()
    {
        var p = LlamaNative.llama_context_default_params();
        Assert.Equal(512u, p.ContextSize);
        Assert.Equal(2048u, p.BatchSize);
        Assert.Equal(512u, p.MicroBatchSize);
        Assert.Equal(1u, p.MaxSequences);
        Assert.Equal(0u, p.RecurrentStateSnapshots);
        Assert.Equal(0u, p.MaxOutputs);
        Assert.Equal(1u, p.MaxOutputsPerSequence);
        Assert.Equal(LlamaPoolingType.Unspecified, p.PoolingType);
        Assert.Equal(LlamaFlashAttentionType.Auto, p.FlashAttentionType);
        Assert.Equal(0f, p.RopeFreqBase);
        Assert.Equal(-1f, p.YarnExtFactor);
        Assert.Equal(-1f, p.YarnBetaSlow);
        Assert.Equal(0u, p.YarnOrigContext);
        Assert.Equal(-1f, p.DefragThreshold);
        Assert.Equal(0, p.EvalCallback);
        Assert.Equal(1, p.TypeK); // GGML_TYPE_F16
        Assert.Equal(1, p.TypeV);
        Assert.Equal(0, p.AbortCallback);
        Assert.Equal(new byte[] { 0, 1, 1, 1, 1, 0 }, new[] { p.Embeddings, p.OffloadKqv, p.NoPerf, p.OpOffload, p.SwaFull, p.KvUnified });
        Assert.Equal(0, p.Samplers);
        Assert.Equal(0u, p.SamplerCount);
        Assert.Equal(0, p.OtherContext);
    }

    [Fact]
    public void System_info_reports_the_cpu_backend_loaded_from_the_native_folder()
    {
        var info = NativeSystemInfo.Read();
        Assert.Contains("CPU", info.SystemInfo);
        Assert.True(File.Exists(Path.Combine(info.Directory, "libllama.v0.5.0.so")), info.Directory);
        Assert.Contains(info.Devices, d => d.Type == "cpu");
    }

    [Fact]
    public void Locating_libraries_in_an_empty_override_folder_names_the_variable_and_the_folder()
    {
        string empty = Directory.CreateTempSubdirectory("uq-native-").FullName;
        try
        {
            var e = Assert.Throws<NativeLibraryException>(() => NativeLibraryLoader.Locate(NativeBackend.Cpu, empty));
            Assert.Contains(NativeLibraryLoader.DirectoryVariable, e.Message);
            Assert.Contains(empty, e.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public void Batch_buffer_lays_out_tokens_positions_and_sequences_where_llama_batch_points()
    {
        using var batch = new LlamaBatchBuffer(4, maxSequencesPerToken: 3);
        batch.Add(7, 0, 0, wantOutput: false);
        batch.Add(9, 1, [0, 2], wantOutput: true);
        var b = batch.Native;
        unsafe
        {
            Assert.Equal(2, b.TokenCount);
            Assert.Equal(7, b.Tokens[0]);
            Assert.Equal(9, b.Tokens[1]);
            Assert.Equal(1, b.Positions[1]);
            Assert.Equal(2, b.SequenceIdCounts[1]);
            Assert.Equal(2, b.SequenceIds[1][1]);
            Assert.Equal(0, b.Outputs[0]);
            Assert.Equal(1, b.Outputs[1]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Add(1, 2, [0, 1, 2, 3], wantOutput: false));
        batch.Add(1, 2, 0, false);
        batch.Add(1, 3, 0, false);
        Assert.Throws<InvalidOperationException>(() => batch.Add(1, 4, 0, false));
    }
}
