using UQEngine.Gguf;
using UQEngine.Models;

namespace UQEngine.Tests.Gguf;

public sealed class GgufModelFactsTests
{
    [Fact]
    public void FactsOfTheSyntheticModelMatchItsConstruction()
    {
        using var temp = new TempDirectory();
        string path = temp.File("synthetic.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = path });

        var facts = GgufModelFacts.Read(path);
        int vocabulary = ByteLevelBpeVocabulary.CreateSmallEnglish().Count;
        var layout = new LlamaGgufLayout(new LlamaHyperparameters { VocabularySize = vocabulary });

        Assert.Equal("llama", facts.Architecture);
        Assert.Equal("uqengine-synthetic-llama", facts.Name);
        Assert.Equal(2ul, facts.LayerCount);
        Assert.Equal(64ul, facts.EmbeddingLength);
        Assert.Equal(128ul, facts.FeedForwardLength);
        Assert.Equal(4ul, facts.HeadCount);
        Assert.Equal(2ul, facts.HeadCountKv);
        Assert.Equal(512ul, facts.ContextLength);
        Assert.Equal(16ul, facts.RopeDimensionCount);
        Assert.Equal(1e-5, facts.RmsNormEpsilon);
        Assert.Equal(10000.0, facts.RopeFreqBase);
        Assert.Equal((ulong)vocabulary, facts.VocabularySize);
        Assert.Equal("gpt2", facts.TokenizerModel);
        Assert.Equal("gpt-2", facts.TokenizerPre);
        Assert.True(facts.MergeCount > 20);
        Assert.Equal(0u, facts.FileType);
        Assert.False(facts.FileTypeIsGuessed);
        Assert.Equal("ALL_F32", facts.FileTypeName);
        Assert.True(facts.HasChatTemplate);
        Assert.Contains("<|im_start|>", facts.ChatTemplate);
        Assert.Equal((ulong)layout.ParameterCount, facts.ParameterCount);
        Assert.Equal(facts.ParameterCount * 4, facts.TensorDataBytes);
        Assert.Equal(32.0, facts.BitsPerWeight);
        Assert.Equal(new FileInfo(path).Length, facts.FileSize);
        Assert.Equal(2 * 9 + 3, facts.TensorCount);
        var usage = Assert.Single(facts.TypeUsage);
        Assert.Equal(new GgmlTypeUsage(GgmlType.F32, facts.TensorCount, facts.ParameterCount, facts.TensorDataBytes), usage);
        Assert.Null(facts.ExpertCount);
    }

    [Fact]
    public void F16ModelReportsMostlyF16AndASplitBreakdown()
    {
        using var temp = new TempDirectory();
        string path = temp.File("f16.gguf");
        SyntheticLlamaModel.Write(new SyntheticLlamaOptions { OutputPath = path, WeightType = GgmlType.F16 });

        var facts = GgufModelFacts.Read(path);
        Assert.Equal("MOSTLY_F16", facts.FileTypeName);
        Assert.Equal([GgmlType.F16, GgmlType.F32], facts.TypeUsage.Select(u => u.Type));
        var f16 = facts.TypeUsage[0];
        var f32 = facts.TypeUsage[1];
        Assert.Equal(16, f16.TensorCount); // 7 matrices per layer, embedding and output
        Assert.Equal(5, f32.TensorCount); // 2 norms per layer and the output norm
        Assert.Equal(f16.ElementCount * 2, f16.ByteCount);
        Assert.Equal(f32.ElementCount * 4, f32.ByteCount);
        Assert.InRange(facts.BitsPerWeight, 16.0, 16.1);
    }

    [Fact]
    public void MissingFileTypeIsGuessedFromTheMostCommonTensorType()
    {
        using var temp = new TempDirectory();
        string path = temp.File("guess.gguf");
        using (var writer = new GgufWriter(path))
        {
            writer.AddMetadata("general.architecture", GgufValue.FromString("custom"));
            writer.AddMetadata("custom.block_count", GgufValue.FromUInt64(3)); // a u64 where u32 is usual
            writer.AddMetadata("custom.attention.head_count", GgufValue.FromArray(new uint[] { 8, 16, 8 }));
            writer.AddTensor("a", GgmlType.Q4_K, [256]);
            writer.AddTensor("b", GgmlType.Q4_K, [256]);
            writer.AddTensor("c", GgmlType.F32, [4]);
            writer.WriteTensorBytes(new byte[144]);
            writer.WriteTensorBytes(new byte[144]);
            writer.WriteTensorData([1f, 2f, 3f, 4f]);
            writer.Complete();
        }

        var facts = GgufModelFacts.Read(path);
        Assert.Equal(LlamaFileType.MostlyQ4_K_M, facts.FileType);
        Assert.True(facts.FileTypeIsGuessed);
        Assert.Equal("MOSTLY_Q4_K_M (guessed)", facts.FileTypeName);
        Assert.Equal(3ul, facts.LayerCount);
        Assert.Equal(16ul, facts.HeadCount);
        Assert.Equal(16ul, facts.HeadCountKv);
        Assert.Equal(516ul, facts.ParameterCount);
        Assert.Equal(2 * 144ul + 16, facts.TensorDataBytes);
        Assert.Null(facts.VocabularySize);
        Assert.False(facts.HasChatTemplate);
        Assert.Equal(GgmlType.Q4_K, facts.TypeUsage[0].Type);
    }

    [Theory]
    [InlineData(15u, "MOSTLY_Q4_K_M")]
    [InlineData(7u, "MOSTLY_Q8_0")]
    [InlineData(32u, "MOSTLY_BF16")]
    [InlineData(38u, "MOSTLY_MXFP4_MOE")]
    [InlineData(4u, "UNKNOWN_4")]
    public void FileTypeIdsHaveLlamaCppNames(uint id, string name) => Assert.Equal(name, LlamaFileType.GetName(id));

    [Theory]
    [InlineData(GgmlType.F32, 1, 4)]
    [InlineData(GgmlType.F16, 1, 2)]
    [InlineData(GgmlType.BF16, 1, 2)]
    [InlineData(GgmlType.Q4_0, 32, 18)]
    [InlineData(GgmlType.Q8_0, 32, 34)]
    [InlineData(GgmlType.Q4_K, 256, 144)]
    [InlineData(GgmlType.Q6_K, 256, 210)]
    [InlineData(GgmlType.IQ4_XS, 256, 136)]
    [InlineData(GgmlType.MXFP4, 32, 17)]
    [InlineData(GgmlType.Q1_0, 128, 18)]
    public void TypeTraitsMatchTheNativeTable(GgmlType type, int blockSize, int typeSize)
    {
        Assert.Equal(blockSize, GgmlTypeTraits.BlockSize(type));
        Assert.Equal(typeSize, GgmlTypeTraits.TypeSize(type));
        Assert.Equal((ulong)(typeSize * 4), GgmlTypeTraits.ByteSize(type, (ulong)blockSize * 4));
    }

    [Fact]
    public void RemovedTypeIdsAreUnknown()
    {
        foreach (int id in new[] { -1, 4, 5, 31, 32, 33, 36, 37, 38, 43, 1000 })
        {
            Assert.False(GgmlTypeTraits.IsKnown(id), $"type id {id}");
        }

        Assert.Equal(35, Enum.GetValues<GgmlType>().Count(t => GgmlTypeTraits.IsKnown(t)));
        Assert.Throws<ArgumentException>(() => GgmlTypeTraits.ByteSize(GgmlType.Q8_0, 33));
    }
}
