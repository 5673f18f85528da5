using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.AI;
using UQEngine.Chat;
using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Grading;
using UQEngine.Evaluation.Metrics;
using UQEngine.Evaluation.Probes;
using UQEngine.Evaluation.Runner;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Methods;
using UQEngine.Methods.Probes;
using UQEngine.Models;
using UQEngine.Tests.Gguf;
using UQEngine.Training;
using InferenceChatMessage = UQEngine.Inference.ChatMessage;

namespace UQEngine.Tests.Models;

/// <summary>
/// The conformance matrix: every family the synthesizer writes (tiny size) through every feature of the host. Each
/// feature is one check returning the matrix cell ("tested" or why the family cannot have it); the checks assert.
/// <see cref="The_readme_support_matrix_is_what_these_checks_find"/> runs them all and compares the README's table,
/// printing the table to regenerate it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelFamilyConformanceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Generative => [.. ModelFamilies.All.Where(f => f.IsGenerative).Select(f => f.Name)];
    public static TheoryData<string> Every => [.. ModelFamilies.All.Select(f => f.Name)];

    private static readonly ConcurrentDictionary<string, Lazy<string>> Files = new();

    /// <summary>The family's tiny model, synthesized once per test run.</summary>
    private static string FileOf(ModelFamily family) =>
        Files.GetOrAdd(family.Name, name => new Lazy<string>(() =>
        {
            string path = TestModels.TempFile($"family-{name}-tiny.gguf");
            ModelFamilies.Write(family, path, seed: 5);
            return path;
        })).Value;

    private static readonly InferenceChatMessage[] Conversation =
    [
        InferenceChatMessage.System("You are a helpful assistant."),
        InferenceChatMessage.User("Hello"), InferenceChatMessage.Assistant("Hi there"),
        InferenceChatMessage.User("Who are you?"), InferenceChatMessage.Assistant("I am an assistant."),
        InferenceChatMessage.User("Where is Paris?"),
    ];

    private const string ChatMl =
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n" +
        "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\nI am an assistant.<|im_end|>\n<|im_start|>user\nWhere is Paris?<|im_end|>\n<|im_start|>assistant\n";

    /// <summary>
    /// The three-turn conversation as each family's documentation writes it (the BOS token, where the family adds one,
    /// comes from the tokenizer and is checked on the tokens); null where the family's own template refuses a system
    /// message, with the prompt without it.
    /// </summary>
    private static (string? WithSystem, string? WithoutSystem) Golden(string family) => family switch
    {
        // Meta Llama 3 model card: header per turn, content trimmed, <|eot_id|> closes it.
        "llama" => ("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
                    "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>" +
                    "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant.<|eot_id|>" +
                    "<|start_header_id|>user<|end_header_id|>\n\nWhere is Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
        // Qwen2.5 / Qwen3: ChatML; a given system message replaces the default one; Qwen3 adds no <think> to past turns.
        "qwen2" or "qwen3" => (ChatMl, null),
        // Gemma 2's template raises "System role not supported".
        "gemma2" => (null, "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n" +
                           "<start_of_turn>model\nI am an assistant.<end_of_turn>\n<start_of_turn>user\nWhere is Paris?<end_of_turn>\n<start_of_turn>model\n"),
        // Gemma 3: the system message opens the first user turn, followed by a blank line.
        "gemma3" => ("<start_of_turn>user\nYou are a helpful assistant.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n" +
                     "<start_of_turn>model\nI am an assistant.<end_of_turn>\n<start_of_turn>user\nWhere is Paris?<end_of_turn>\n<start_of_turn>model\n", null),
        // Phi-3.5: <|role|>, newline, content, <|end|>, newline.
        "phi3" => ("<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you?<|end|>\n" +
                   "<|assistant|>\nI am an assistant.<|end|>\n<|user|>\nWhere is Paris?<|end|>\n<|assistant|>\n", null),
        // Mistral 7B Instruct v0.1/v0.2: "[INST] user [/INST]answer</s>"; the template raises for any other role.
        "mistral" => (null, "[INST] Hello [/INST]Hi there</s>[INST] Who are you? [/INST]I am an assistant.</s>[INST] Where is Paris? [/INST]"),
        _ => (null, null),
    };

    private static readonly Dictionary<string, bool> AddsBos = new() { ["llama"] = true, ["qwen2"] = false, ["qwen3"] = false, ["gemma2"] = true, ["gemma3"] = true, ["phi3"] = false, ["mistral"] = true };

    // ---- the checks: each asserts and returns its matrix cell ----

    private const string Tested = "tested";

    internal static string Load(ModelFamily family)
    {
        string path = FileOf(family);
        Assert.Empty(GgufModelValidator.FindProblems(GgufFile.Read(path)));
        using var model = LlamaModel.Load(path);
        Assert.Equal(family.Architecture, model.Facts.Architecture);
        Assert.Equal(family == ModelFamilies.Gemma3 ? 6 : 2, model.Facts.LayerCount);
        Assert.Equal(256, model.Facts.EmbeddingSize);
        Assert.Equal(family.IsGenerative, !model.IsEmbeddingModel);
        return Tested;
    }

    internal static string Info(ModelFamily family)
    {
        var facts = GgufModelFacts.Read(FileOf(family));
        Assert.Equal(family.Architecture, facts.Architecture);
        Assert.Equal(family.TokenizerModel, facts.TokenizerModel);
        Assert.Equal(family.PreTokenizer, facts.TokenizerPre);
        Assert.Equal(family.ChatTemplate, facts.ChatTemplate);
        Assert.Equal("tiny", facts.SizeLabel);
        var (exit, stdout, stderr) = UQEngine.Tests.Cli.UqengineProcess.Run(TimeSpan.FromSeconds(60), "info", FileOf(family));
        Assert.True(exit == 0, stderr);
        Assert.Contains(family.Architecture, stdout);
        return Tested;
    }

    internal static string RawGeneration(ModelFamily family)
    {
        using var model = LlamaModel.Load(FileOf(family));
        if (!family.IsGenerative)
        {
            var error = Assert.Throws<InferenceException>(() => model.CreateContext(new ContextOptions { ContextSize = 256 }));
            Assert.Contains("embedding model", error.Message);
            return "refused: no logits ³";
        }

        using var context = model.CreateContext(new ContextOptions { ContextSize = 512, Threads = 1 });
        using var generator = new Generator(context);
        var result = generator.Generate("Hello world, the capital of France is", new GenerationOptions { MaxTokens = 12 });
        Assert.Equal(12, result.Tokens.Count);
        Assert.All(result.Tokens, t =>
        {
            Assert.False(t.HasNonFiniteLogits);
            Assert.InRange(t.Probability, 1e-9, 1.0);
            Assert.True(float.IsFinite(t.Entropy) && t.Entropy >= 0, $"entropy {t.Entropy}");
        });
        // Random weights over a ~400-token vocabulary: neither one-hot nor uniform, so the statistics are exercised.
        double meanEntropy = result.Tokens.Average(t => t.Entropy);
        Assert.InRange(meanEntropy, 0.05, Math.Log(model.Vocabulary.Count) - 0.05);
        return Tested;
    }

    internal static string ChatFormat(ModelFamily family)
    {
        if (!family.IsGenerative) return "n/a";
        using var model = LlamaModel.Load(FileOf(family));
        var (withSystem, withoutSystem) = Golden(family.Name);
        if (withSystem is not null)
        {
            Assert.Equal(withSystem, ChatTemplate.Format(model, Conversation));
        }
        else
        {
            var error = Assert.Throws<InferenceException>(() => ChatTemplate.Format(model, Conversation));
            Assert.Contains("refuses system messages", error.Message);
            Assert.Equal(withoutSystem, ChatTemplate.Format(model, Conversation[1..]));
        }

        // One BOS where the family adds one (the template's own bos_token is the tokenizer's to add), never two.
        var tokens = ChatTemplate.TokenizeOrTranscript(model, withSystem is null ? Conversation[1..] : Conversation);
        int bos = model.Vocabulary.BeginningOfSequence;
        Assert.Equal(AddsBos[family.Name], tokens[0] == bos);
        Assert.NotEqual(bos, tokens[1]);
        return withSystem is null ? "tested; system refused ²" : Tested;
    }

    internal static string ChatGeneration(ModelFamily family)
    {
        if (!family.IsGenerative) return "n/a";
        using var client = UqEngineChatClient.Open(FileOf(family));
        var messages = Conversation.Where(m => Golden(family.Name).WithSystem is not null || m.Role != "system")
            .Select(m => new Microsoft.Extensions.AI.ChatMessage(new ChatRole(m.Role), m.Content)).ToList();
        var response = client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 6 }).GetAwaiter().GetResult();
        var u = response.GetUncertainty();
        Assert.NotNull(u);
        Assert.InRange(u!.Tokens.Count, 1, 6);
        Assert.True(double.IsFinite(u.SequenceProbability) && u.SequenceProbability > 0);
        return Tested;
    }

    internal static string Serve(ModelFamily family)
    {
        if (!family.IsGenerative)
        {
            // The server's decoding context needs logits: an embedding model is refused when it starts.
            var error = Assert.ThrowsAny<Exception>(() => UQEngine.Tests.Server.LoopbackServer.StartAsync(o => o with { ModelPath = FileOf(family) }).GetAwaiter().GetResult());
            Assert.Contains("embedding model", error.Message);
            return "refused at start ³";
        }

        return ServeAsync(family).GetAwaiter().GetResult();
    }

    private static async Task<string> ServeAsync(ModelFamily family)
    {
        await using var server = await UQEngine.Tests.Server.LoopbackServer.StartAsync(o => o with { ModelPath = FileOf(family) });
        bool refusesSystem = Golden(family.Name).WithSystem is null;
        object Messages(IEnumerable<InferenceChatMessage> m) => m.Select(x => new { role = x.Role, content = x.Content }).ToArray();
        var (status, body) = await server.PostJsonAsync("/v1/chat/completions", new
        {
            model = UQEngine.Tests.Server.LoopbackServer.ModelId, messages = Messages(Conversation), max_tokens = 4, temperature = 0, logprobs = true, top_logprobs = 3,
        });
        if (refusesSystem)
        {
            Assert.Equal(400, status);
            Assert.Equal("chat_template_refused", body.GetProperty("error").GetProperty("code").GetString());
            (status, body) = await server.PostJsonAsync("/v1/chat/completions", new
            {
                model = UQEngine.Tests.Server.LoopbackServer.ModelId, messages = Messages(Conversation[1..]), max_tokens = 4, temperature = 0, logprobs = true, top_logprobs = 3,
            });
        }

        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        var content = choice.GetProperty("logprobs").GetProperty("content");
        Assert.InRange(content.GetArrayLength(), 1, 4);
        Assert.All(content.EnumerateArray(), t => Assert.Equal(3, t.GetProperty("top_logprobs").GetArrayLength()));
        Assert.True(double.IsFinite(choice.GetProperty("uncertainty").GetProperty("sequence_logprob").GetDouble()));
        return refusesSystem ? "tested; system → 400 ²" : Tested;
    }

    internal static string HiddenStates(ModelFamily family)
    {
        using var model = LlamaModel.Load(FileOf(family));
        int layers = model.Facts.LayerCount;
        if (!LlamaContext.ExposesLayerInputs(family.Architecture))
        {
            var error = Assert.ThrowsAny<Exception>(() => model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [0] }));
            Assert.Contains(family.Architecture, error.Message);
            if (!family.IsGenerative) return "n/a (layer inputs: clear error)";
            // The final hidden state is there for every architecture.
            using var final = model.CreateContext(new ContextOptions { ContextSize = 256, FinalHiddenState = true });
            var t = model.Vocabulary.Tokenize("Hello world", addSpecial: true);
            using var b = new UQEngine.Native.LlamaBatchBuffer(t.Length);
            for (int i = 0; i < t.Length; i++) b.Add(t[i], i, 0, wantOutput: true);
            final.Decode(b);
            var h = final.GetFinalHiddenState(t.Length - 1);
            Assert.Equal(256, h.Length);
            foreach (float v in h) Assert.True(float.IsFinite(v));
            return "final state only ¹";
        }

        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, HiddenLayers = [.. Enumerable.Range(0, layers)] });
        int[] tokens = model.Vocabulary.Tokenize("Hello world, the capital of France is", addSpecial: true);
        using var batch = new UQEngine.Native.LlamaBatchBuffer(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, 0, wantOutput: i == tokens.Length - 1);
        context.Decode(batch);
        float[]? previous = null;
        for (int layer = 0; layer < layers; layer++)
        {
            var h = context.GetLayerHiddenState(layer, tokens.Length - 1).ToArray();
            Assert.Equal(model.Facts.EmbeddingSize, h.Length);
            Assert.All(h, v => Assert.True(float.IsFinite(v)));
            Assert.Contains(h, v => v != 0);
            if (previous is not null) Assert.NotEqual(previous, h); // each layer changes the state
            previous = h;
        }

        // Layer 0's input is the token embedding row (Gemma scales it by sqrt(width)): independent of the graph.
        var embedding = GgufFile.Read(FileOf(family)).ReadTensorAsSingles(GgufFile.Read(FileOf(family)).GetTensor("token_embd.weight"));
        var layer0 = context.GetLayerHiddenState(0, tokens.Length - 1);
        int row = tokens[^1] * model.Facts.EmbeddingSize;
        float scale = family.Architecture.StartsWith("gemma", StringComparison.Ordinal) ? MathF.Sqrt(model.Facts.EmbeddingSize) : 1f;
        for (int k = 0; k < layer0.Length; k++) Assert.Equal(embedding[row + k] * scale, layer0[k], 1e-3f);
        return Tested;
    }

    /// <summary>
    /// The relevance pass's early exit: at the middle layer's input where llama.cpp records layer inputs, else at the
    /// final state before the LM head (<see cref="LlamaContext.DecodeSkippingLogits"/>); the self-check must pass and
    /// the numbers equal the naive re-encodings'.
    /// </summary>
    internal static string EarlyExit(ModelFamily family)
    {
        if (!family.IsGenerative) return "n/a";
        using var model = LlamaModel.Load(FileOf(family));
        int? layer = LlamaContext.ExposesLayerInputs(family.Architecture) ? model.Facts.LayerCount / 2 : null;
        using var context = model.CreateContext(new ContextOptions
        {
            ContextSize = 512, MaxSequences = 8, EarlyExit = true, HiddenLayers = layer is int l ? [l] : [], FinalHiddenState = layer is null,
        });
        using var encoder = new AnswerEncoder(context, layer);
        int[] prompt = model.Vocabulary.Tokenize("Q: Where is Paris? A:", addSpecial: true);
        int[][] answers = [model.Vocabulary.Tokenize(" in France", addSpecial: false), model.Vocabulary.Tokenize(" the capital", addSpecial: false)];
        var shared = encoder.Encode(prompt, answers, ablations: true);
        Assert.True(context.EarlyExitChecks[layer ?? model.Facts.LayerCount], "the early-exit self-check failed: the graph did not stop at the state read with the same numbers");
        var naive = encoder.EncodeNaive(prompt, answers, ablations: true);
        for (int a = 0; a < answers.Length; a++)
            for (int k = 0; k < shared[a].Embedding.Length; k++)
                Assert.True(Math.Abs(naive[a].Embedding[k] - shared[a].Embedding[k]) <= 3e-4 * (1 + Math.Abs(naive[a].Embedding[k])), $"answer {a} dim {k}");
        return layer is null ? "final state: LM head skipped ¹" : Tested;
    }

    internal static string Sar(ModelFamily family)
    {
        if (!family.IsGenerative) return "n/a";
        using var dir = new TempDirectory();
        var registry = UncertaintyMethodRegistry.CreateDefault();
        var settings = new SampleSettings { Samples = 3, MaxTokens = 4 };
        SampleMethods.Register(registry, settings);
        using var model = LlamaModel.Load(FileOf(family));
        using var context = model.CreateContext(settings.ContextOptionsFor(new ContextOptions { ContextSize = 1024 }, model.Facts));
        using var generator = new Generator(context);
        var run = new EvaluationRunner(generator, registry).Run(
            JsonlDatasetReader.Parse(new StringReader("""{"id":"p","question":"Where is Paris?","answer":"France"}"""), "t.jsonl", "t"),
            new EvaluationRunOptions { OutputFolder = dir.Path, Methods = ["sar"], Seed = 3, BootstrapResamples = 10, Statistics = new StatisticSettings { AnswerMaxTokens = 4 } });
        var item = Assert.Single(run.Items);
        Assert.True(double.IsFinite(item.Methods["sar"].Uncertainty), $"sar = {item.Methods["sar"].Uncertainty}");
        return LlamaContext.ExposesLayerInputs(family.Architecture) ? Tested : "tested (final state) ¹";
    }

    /// <summary>
    /// A probe the way `uqengine probe train` and `eval --methods probe` make and use one, on 24 items: the model
    /// answers and is read while it answers, a probe is trained, saved, loaded and scored inside the decoding loop by
    /// the probe method. Random weights answer nothing right (the Gemmas mostly end the answer at its first token), so
    /// the label is which half a question comes from ("red" or "blue" words): content a probe must find in the
    /// answer's hidden states, on held-out items.
    /// </summary>
    internal static string Probe(ModelFamily family)
    {
        using var model = LlamaModel.Load(FileOf(family));
        var facts = model.Facts;
        int final = ProbeLayers.Final(facts);
        if (!family.IsGenerative)
        {
            // `probe train` must answer the items: the generator refuses a model without logits.
            using var bare = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 256 }, [final], facts));
            Assert.Contains("embedding model", Assert.Throws<InferenceException>(() => new Generator(bare)).Message);
            return "refused: no logits ³";
        }

        // `probe train`'s default layer (final) and, where llama.cpp reports layer inputs, the middle one SAR reads.
        int? middle = new SampleSettings().ReadLayer(facts);
        int[] layers = middle is int m ? [m, final] : [final];
        Assert.Equal(middle is not null, LlamaContext.ExposesLayerInputs(family.Architecture));
        if (middle is null)
        {
            // `probe sweep --layers all` reads what exists; asking for a layer is a probe error naming the architecture.
            Assert.Equal([final], ProbeLayers.All(facts));
            Assert.Contains($"not '{family.Architecture}'", Assert.Throws<ArgumentOutOfRangeException>(() => ProbeLayers.Validate([1], facts)).Message);
        }

        using var context = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 512 }, layers, facts));
        using var generator = new Generator(context);
        var answerOptions = new GradedExampleOptions { AnswerMaxTokens = 4 };
        var items = UQEngine.Tests.Methods.Probes.ProbeModelTests.FamilyItems(12);
        var examples = GradedExamples.Generate(generator, items, layers, answerOptions);
        bool[] labels = [.. items.Select(i => i.Metadata["family"] == "red")];
        int[] train = [.. Enumerable.Range(0, items.Count).Where(i => items[i].Metadata["split"] == "train")];
        int[] test = [.. Enumerable.Range(0, items.Count).Except(train)];

        using var dir = new TempDirectory();
        foreach (int layer in layers)
        {
            var spec = new ProbeFeatureSpec(layer, HiddenFeatureKind.MeanOverAnswer, false); // probe train's default feature
            var rows = examples.Select(e => e.Features.Vector(spec)).ToList();
            Assert.All(rows, r => { Assert.Equal(facts.EmbeddingSize, r.Length); Assert.All(r, v => Assert.True(float.IsFinite(v))); });
            var weights = ProbeTrainer.Train([.. train.Select(i => rows[i])], [.. train.Select(i => labels[i])]);
            double heldOut = RankingMetrics.Auroc([.. test.Select(i => weights.Logit(rows[i]))], [.. test.Select(i => labels[i])]).Value;
            Assert.True(heldOut >= 0.8, $"layer {layer}: held-out AUROC {heldOut} on {test.Length} answers");

            string path = dir.File($"layer{layer}.probe.json");
            new ProbeFile { Model = ModelIdentity.Of(model), Features = spec, Dimension = spec.Dimension(facts.EmbeddingSize), Weights = weights }.Save(path);
            var probe = ProbeFile.Load(path);
            foreach (var row in rows) Assert.Equal(weights.Logit(row), probe.Weights.Logit(row), 9);

            // `eval --methods probe`: the loaded probe scores each answer while it is decoded, as trained.
            var registry = UncertaintyMethodRegistry.CreateDefault();
            ProbeMethod.Register(registry, probe, context);
            var run = new EvaluationRunner(generator, registry).Run(new EvaluationDataset("families", "memory", [.. test.Select(i => items[i])], []),
                new EvaluationRunOptions { OutputFolder = dir.File($"run{layer}"), Methods = [ProbeMethod.MethodName], BootstrapResamples = 0, Statistics = new StatisticSettings { AnswerMaxTokens = 4 } });
            foreach (var result in run.Items)
            {
                int i = items.FindIndex(x => x.Id == result.Id);
                Assert.Equal(examples[i].Response, result.Response);
                Assert.Equal(examples[i].Correct, result.Correct); // graded as probe training grades
                Assert.Equal(probe.Weights.Confidence(probe.Weights.Logit(rows[i])), result.Methods[ProbeMethod.MethodName].Confidence!.Value, 4);
            }
        }
        return middle is null ? "tested (final state) ¹" : Tested;
    }

    internal static string Embeddings(ModelFamily family)
    {
        using var embedder = new GgufTextEmbedder(FileOf(family), sequences: 2);
        var vectors = embedder.Embed(["Where is Paris?", "the capital of France"]);
        Assert.Equal(2, vectors.Count);
        Assert.All(vectors, v => Assert.All(v, x => Assert.True(float.IsFinite(x))));
        Assert.NotEqual(vectors[0], vectors[1]);
        return Tested;
    }

    internal static string Quantized(ModelFamily family, QuantizationType type)
    {
        string path = TestModels.TempFile($"family-{family.Name}-{type.Name}.gguf");
        LlamaQuantizer.Quantize(FileOf(family), path, type, threads: 1);
        var facts = GgufModelFacts.Read(path);
        Assert.Equal(type.FileType, facts.FileType);
        // K-quants need rows of 256: every matrix of the tiny size has them, so the main type is really used.
        var main = type == QuantizationType.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q4_K;
        Assert.Contains(facts.TypeUsage, u => u.Type == main);
        using var model = LlamaModel.Load(path);
        if (!family.IsGenerative)
        {
            using var embedder = new GgufTextEmbedder(path, sequences: 1);
            Assert.All(embedder.Embed(["Hello world"])[0], x => Assert.True(float.IsFinite(x)));
            return Tested;
        }

        using var context = model.CreateContext(new ContextOptions { ContextSize = 256, Threads = 1 });
        using var generator = new Generator(context);
        var result = generator.Generate("Hello world", new GenerationOptions { MaxTokens = 4 });
        Assert.Equal(4, result.Tokens.Count);
        Assert.All(result.Tokens, t => Assert.True(!t.HasNonFiniteLogits && float.IsFinite(t.LogProbability)));
        return Tested;
    }

    /// <summary>The matrix's columns: feature name and check.</summary>
    internal static readonly (string Feature, Func<ModelFamily, string> Check)[] Features =
    [
        ("load", Load),
        ("info", Info),
        ("generate", RawGeneration),
        ("chat format", ChatFormat),
        ("chat generate", ChatGeneration),
        ("serve", Serve),
        ("hidden states (every layer)", HiddenStates),
        ("early exit", EarlyExit),
        ("SAR", Sar),
        ("probe", Probe),
        ("embeddings", f => f.IsGenerative ? "n/a" : Embeddings(f)),
        ("Q8_0", f => Quantized(f, QuantizationType.Q8_0)),
        ("Q4_K_M", f => Quantized(f, QuantizationType.Q4_K_M)),
    ];

    [Theory]
    [MemberData(nameof(Every))]
    public void Loads_and_reports_its_facts(string family)
    {
        var f = ModelFamilies.Get(family);
        Load(f);
        Info(f);
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void Generates_raw_text_with_finite_token_statistics(string family) => RawGeneration(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Generative))]
    public void Formats_the_three_turn_conversation_as_the_family_documents_it(string family) => ChatFormat(ModelFamilies.Get(family));

    /// <summary>
    /// llama.cpp's tokenizer over the project's vocabularies: common words are one piece each, the space goes with the
    /// following word ("Ġ" in byte-level BPE, "▁" in SentencePiece), and SentencePiece families that add a space prefix
    /// (Phi-3, Mistral; not Gemma) put one before the first word too.
    /// </summary>
    [Theory]
    [MemberData(nameof(Generative))]
    public void Tokenizes_words_into_the_family_s_pieces(string family)
    {
        using var model = LlamaModel.Load(FileOf(ModelFamilies.Get(family)));
        int[] tokens = model.Vocabulary.Tokenize("Hello world", addSpecial: false);
        string[] expected = family is "phi3" or "mistral" ? [" Hello", " world"] : ["Hello", " world"];
        Assert.Equal(expected, tokens.Select(model.Vocabulary.TokenText).ToArray());
        // A character outside every piece still tokenizes (SentencePiece byte fallback, byte-level BPE bytes) and round-trips.
        int[] rare = model.Vocabulary.Tokenize("Zß€", addSpecial: false);
        Assert.Equal("Zß€", model.Vocabulary.Detokenize(rare).Trim());
    }

    [Theory]
    [MemberData(nameof(Generative))]
    public void Answers_a_chat_with_uncertainty(string family) => ChatGeneration(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Every))]
    public void Serves_a_chat_round_trip(string family) => Serve(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Every))]
    public void Reads_hidden_states_at_every_layer_or_says_why_not(string family) => HiddenStates(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Generative))]
    public void Early_exit_self_check_passes_at_the_state_read(string family) => EarlyExit(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Generative))]
    public void Sar_scores_an_item(string family) => Sar(ModelFamilies.Get(family));

    [Theory]
    [MemberData(nameof(Every))]
    public void A_probe_trains_saves_loads_and_scores_in_eval(string family) => Probe(ModelFamilies.Get(family));

    [Fact]
    public void The_embedding_family_embeds() => Embeddings(ModelFamilies.Bert);

    [Theory]
    [MemberData(nameof(Every))]
    public void Quantizes_to_q8_0_and_q4_k_m_and_reloads(string family)
    {
        var f = ModelFamilies.Get(family);
        Quantized(f, QuantizationType.Q8_0);
        Quantized(f, QuantizationType.Q4_K_M);
    }

    /// <summary>
    /// Runs every check on every family and compares the table with the README's support matrix. Regenerate:
    /// <c>tests/UQEngine.Tests/bin/Debug/net10.0/UQEngine.Tests -method "*The_readme_support_matrix*"</c> prints it.
    /// </summary>
    [Fact]
    public void The_readme_support_matrix_is_what_these_checks_find()
    {
        var table = new StringBuilder();
        table.Append("| family | ").AppendJoin(" | ", Features.Select(f => f.Feature)).Append(" |\n");
        table.Append("| --- |").Append(string.Concat(Features.Select(_ => " --- |"))).Append('\n');
        foreach (var family in ModelFamilies.All)
        {
            table.Append("| `").Append(family.Name).Append("` (").Append(family.Architecture).Append(") | ");
            table.AppendJoin(" | ", Features.Select(f => f.Check(family))).Append(" |\n");
        }

        string text = table.ToString();
        output.WriteLine(text);
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        Assert.Contains(text, readme.ReplaceLineEndings("\n"));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "UQEngine.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("no UQEngine.sln above the test binaries");
    }
}
