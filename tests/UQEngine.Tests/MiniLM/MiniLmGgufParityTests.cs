using System.Globalization;
using System.Numerics.Tensors;
using UQEngine.Inference;
using UQEngine.MiniLM;

namespace UQEngine.Tests.MiniLM;

/// <summary>
/// The converted bert GGUF through llama.cpp against ONNX Runtime: the same word-piece ids (llama.cpp's WordPiece on
/// the converted vocabulary vs the .NET tokenizer) and the same sentence embeddings (cosine ≥ 0.999 each).
/// UQENGINE_MINILM_PARITY_COUNT sets how many sentences (default 30; docs/SAMPLING.md runs 240).
/// </summary>
[Trait("Category", "Integration")]
public sealed class MiniLmGgufParityTests(ITestOutputHelper output)
{
    /// <summary>Varied sentences: the reference tokenizer cases, then seeded combinations (questions, answers, numbers, punctuation, accents).</summary>
    public static IReadOnlyList<string> Sentences(int count)
    {
        var list = new List<string>(MiniLmTokenizerTests.Expected.Keys.Where(s => s.Length > 0));
        string[] subjects = ["Zaibath", "The old fisherman", "A person", "My neighbour's cat", "Dr. Müller", "The committee", "She", "Two children", "The café owner", "Everyone"];
        string[] verbs = ["lives in", "plays", "was born in", "dreams about", "sold", "painted", "is afraid of", "walked to", "wrote about", "cooked"];
        string[] objects = ["Daixburg", "the guitar", "a red bicycle", "the stock market", "seven apples", "the night sky", "crème brûlée", "the 3rd floor", "New York (USA)", "an old, rusty key"];
        string[] endings = [".", "!", "?", " yesterday.", " every morning...", ", I think.", " — really?", " in 1999.", " for $5.00.", ""];
        var random = new Random(15);
        while (list.Count < count)
        {
            string s = $"{subjects[random.Next(subjects.Length)]} {verbs[random.Next(verbs.Length)]} {objects[random.Next(objects.Length)]}{endings[random.Next(endings.Length)]}";
            if (random.Next(4) == 0) s = "Question: " + s.TrimEnd('.', '!') + "? Answer: " + objects[random.Next(objects.Length)];
            list.Add(s);
        }
        return list.Take(count).ToList();
    }

    [Fact]
    public void Llama_cpp_bert_gives_the_onnx_word_pieces_and_embeddings()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("UQENGINE_MINILM_PARITY_COUNT"), out int n) && n > 0 ? n : 30;
        var sentences = Sentences(count);
        string dir = Path.Combine(Path.GetTempPath(), "uqengine-minilm-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = MiniLmGgufConverter.Ensure(f16: false, cacheDirectory: dir);
            using var onnx = new MiniLmEmbedder(threads: 2);

            using (var model = LlamaModel.Load(path))
            {
                int mismatches = 0;
                foreach (string s in sentences)
                {
                    var llama = model.Vocabulary.Tokenize(s, addSpecial: true);
                    var dotnet = onnx.Tokenizer.Encode(s);
                    if (!llama.SequenceEqual(dotnet))
                    {
                        mismatches++;
                        output.WriteLine($"ids differ for '{s}': llama.cpp [{string.Join(",", llama)}] vs .NET [{string.Join(",", dotnet)}]");
                    }
                }
                output.WriteLine($"token-id mismatches: {mismatches} of {sentences.Count}");
                Assert.Equal(0, mismatches);
            }

            using var gguf = new GgufTextEmbedder(path, sequences: 16, batchSize: 1024);
            var a = onnx.Embed(sentences);
            var b = gguf.Embed(sentences);
            var cosines = a.Zip(b, (x, y) => (double)TensorPrimitives.CosineSimilarity(x, y)).ToArray();
            var sorted = cosines.Order().ToArray();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"llama.cpp vs ONNX cosine over {cosines.Length} sentences: min {sorted[0]:F6}, median {sorted[sorted.Length / 2]:F6}"));
            for (int i = 0; i < cosines.Length; i++) Assert.True(cosines[i] >= 0.999, $"cosine {cosines[i]} for '{sentences[i]}'");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
