using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using UQEngine.Inference;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;
using UQEngine.Server;
using UQEngine.Tests.Methods.Probes;
using UQEngine.Methods.Samples;
using UQEngine.Methods.Samples.Similarity;

using UQEngine.Tests.Evaluation.Probes;

namespace UQEngine.Tests.Server;

/// <summary>The "uncertainty" request field: the probe per token and per answer, consistency over n choices, errors.</summary>
[Trait("Category", "Integration")]
public sealed class ServerUncertaintyTests : IAsyncLifetime
{
    private const int Layer = 1;
    private const string Prompt = "Once upon a time";

    /// <summary>A tiny probe trained here on seeded blobs (as the probe tests do): the machinery, not knowledge, is tested.</summary>
    private static readonly Lazy<string> ProbePath = new(() =>
    {
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        var spec = new ProbeFeatureSpec(Layer, HiddenFeatureKind.MeanOverAnswer, TokenProbabilityFeatures: true);
        var (x, y) = ProbeTrainingTests.Blobs(80, spec.Dimension(model.Facts.EmbeddingSize), 5, 1.5, 0.4, seed: 11);
        var probe = new ProbeFile
        {
            Model = ModelIdentity.Of(model), Features = spec, Dimension = spec.Dimension(model.Facts.EmbeddingSize),
            Weights = ProbeTrainer.Train(x, y, new ProbeTrainingOptions { Kind = ProbeKind.Logistic }),
            TokenFeatureNames = AnswerTokenStatistics.Names,
        };
        string path = TestModels.TempFile("serve-uncertainty.probe.json");
        probe.Save(path);
        return path;
    });

    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { ProbePath = ProbePath.Value });
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private static readonly object[] Hello = [new { role = "user", content = "Hello there" }];
    private static readonly string[] Consistency = ["semantic_entropy", "num_sem_sets", "eigv_laplacian", "degmat", "eccentricity", "lexical_similarity", "sentence_sar", "sar"];

    [Fact]
    public async Task Probe_values_equal_the_offline_probe_scorer_on_the_same_answer()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/completions", new
        {
            model = LoopbackServer.ModelId, prompt = Prompt, max_tokens = 6, temperature = 0, logprobs = 0, uncertainty = new { methods = new[] { "probe" } },
        });
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        double[] served = [.. choice.GetProperty("logprobs").GetProperty("token_probes").EnumerateArray().Select(v => v.GetDouble())];
        double servedAnswer = choice.GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble();

        // The same answer decoded alone through Generator with the library's ProbeScorer on its OnStep.
        var probe = ProbeFile.Load(ProbePath.Value);
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 512 }, [Layer], model.Facts));
        using var generator = new Generator(context);
        var scorer = new ProbeScorer(probe);
        var answer = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 6, ParseSpecialTokens = false, OnStep = (in DecodeStep s) => scorer.Observe(s) });
        var reading = scorer.Result();

        Assert.Equal(answer.Text, choice.GetProperty("text").GetString());
        Assert.Equal(answer.Tokens.Count, served.Length);
        Assert.NotEmpty(served);
        // Batched and lone decoding differ by float rounding only (ARCHITECTURE.md: log-probs within 5e-3).
        for (int i = 0; i < served.Length; i++) Assert.Equal(reading.TokenConfidences[i], served[i], 3e-3);
        Assert.Equal(reading.Confidence, servedAnswer, 3e-3);
        Assert.True(served.Distinct().Count() > 1 || served.Length == 1, "the probe should move along the answer (otherwise the comparison is weak)");
    }

    [Fact]
    public async Task Each_sampled_choice_gets_its_own_probe_reading_equal_to_the_offline_scorer_set()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/completions", new
        {
            model = LoopbackServer.ModelId, prompt = Prompt, max_tokens = 5, temperature = 1.2, seed = 21, n = 3, logprobs = 0, uncertainty = new[] { "probe" },
        });
        Assert.Equal(200, status);

        // Offline: the same three samples (seed + sample index, as the server) in one Generator call, one scorer per sequence.
        var probe = ProbeFile.Load(ProbePath.Value);
        using var model = LlamaModel.Load(TestModels.SyntheticPath);
        using var context = model.CreateContext(ProbeLayers.Expose(new ContextOptions { ContextSize = 512, MaxSequences = 3 }, [Layer], model.Facts));
        using var generator = new Generator(context);
        var scorers = new ProbeScorerSet(probe, 3);
        var options = new GenerationOptions
        {
            MaxTokens = 5, Sampling = new SamplingOptions { Temperature = 1.2f, Seed = 21 }, OnStep = (in DecodeStep s) => scorers.Observe(s),
        };
        var answers = generator.Generate(model.Vocabulary.Tokenize(Prompt, addSpecial: true, parseSpecial: false), 3, options, null, default);

        for (int c = 0; c < 3; c++)
        {
            var choice = body.GetProperty("choices")[c];
            var reading = scorers.Result(c);
            Assert.Equal(answers[c].Text, choice.GetProperty("text").GetString());
            double[] served = [.. choice.GetProperty("logprobs").GetProperty("token_probes").EnumerateArray().Select(v => v.GetDouble())];
            Assert.Equal(answers[c].Tokens.Count, served.Length);
            for (int i = 0; i < served.Length; i++) Assert.Equal(reading.TokenConfidences[i], served[i], 3e-3);
            Assert.Equal(reading.Confidence, choice.GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble(), 3e-3);
        }
        Assert.True(answers.Select(a => a.Text).Distinct().Count() > 1, "the samples should differ, or routing per sequence is not tested");
    }

    [Fact]
    public async Task Consistency_values_equal_the_library_math_over_the_returned_choices()
    {
        var (status, body) = await _server.PostJsonAsync("/v1/chat/completions", new
        {
            model = LoopbackServer.ModelId, messages = Hello, max_tokens = 6, temperature = 1.5, seed = 5, n = 4, uncertainty = Consistency, logprobs = true,
        });
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        string[] texts = [.. choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()!)];
        double[] logLikelihoods = [.. choices.Select(c => c.GetProperty("uncertainty").GetProperty("sequence_logprob").GetDouble())];
        Assert.True(texts.Distinct().Count() > 1, "these samples should differ, or the set is trivial");

        var set = body.GetProperty("uncertainty_set");
        Assert.Equal("rouge_l", set.GetProperty("backend").GetString());
        Assert.Equal(4, set.GetProperty("n").GetInt32());
        Assert.Equal(0.5, set.GetProperty("cluster_threshold").GetDouble());

        var s = SimilarityMatrix.Build(new RougeLSimilarity(), texts);
        Assert.Equal(SemanticEntropy.Compute(logLikelihoods, SemanticClusters.Greedy(s, 0.5)), set.GetProperty("semantic_entropy").GetDouble(), 1e-9);
        Assert.Equal(SemanticSets.Count(s, 0.5), set.GetProperty("num_sem_sets").GetInt32());
        Assert.Equal(GraphUncertainty.EigValLaplacian(s), set.GetProperty("eigv_laplacian").GetDouble(), 1e-9);
        Assert.Equal(GraphUncertainty.Eccentricity(s, 0.9), set.GetProperty("eccentricity").GetDouble(), 1e-9);
        // Written out: DegMat = 1 − Σ_ij S_ij / K², lexical similarity = −mean of S over the K(K−1)/2 pairs.
        double all = 0, pairs = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) { all += s[i, j]; if (j > i) pairs += s[i, j]; }
        Assert.Equal(1 - all / 16, set.GetProperty("degmat").GetDouble(), 1e-12);
        Assert.Equal(-pairs / 6, set.GetProperty("lexical_similarity").GetDouble(), 1e-12);

        // SentenceSAR written out: (1/K) Σ_i −log(p_i + Σ_{j≠i} S_ij p_j / t), t = 0.001, p = exp(sequence log-prob).
        Assert.Equal(0.001, set.GetProperty("sar_temperature").GetDouble());
        double sentenceSar = 0;
        for (int i = 0; i < 4; i++)
        {
            double mass = Math.Exp(logLikelihoods[i]);
            for (int j = 0; j < 4; j++) if (j != i) mass += s[i, j] * Math.Exp(logLikelihoods[j]) / 0.001;
            sentenceSar -= Math.Log(mass) / 4;
        }
        Assert.Equal(sentenceSar, set.GetProperty("sentence_sar").GetDouble(), 1e-9);
        // SAR from the returned tokens: relevance by ROUGE-L of each choice against itself without the token's text.
        var answers = choices.Select(c =>
        {
            var content = c.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
            string[] pieces = [.. content.Select(t => t.GetProperty("token").GetString()!)];
            return (Answer: new AnswerTokens(string.Concat(pieces), new int[pieces.Length], pieces), LogProbabilities: content.Select(t => t.GetProperty("logprob").GetDouble()).ToArray());
        }).ToList();
        Assert.Equal(texts, answers.Select(a => a.Answer.Text));
        var relevance = new LexicalSentenceSimilarity(new RougeLSimilarity(), "rouge-l").Compute(new AnswerSet("", [], [.. answers.Select(a => a.Answer)]), tokenSimilarity: true);
        var tokenSimilarity = relevance.TokenSimilarity!.Select(row => { Sar.ApplyTokenConventions(row, []); return row; }).ToList();
        double sar = Sar.Compute([.. answers.Select(a => a.LogProbabilities)], tokenSimilarity, s, 0.001);
        Assert.Equal(sar, set.GetProperty("sar").GetDouble(), 1e-5);
        Assert.NotEqual(set.GetProperty("sentence_sar").GetDouble(), set.GetProperty("sar").GetDouble()); // relevance weighting changed something
    }

    [Fact]
    public async Task Only_asked_methods_appear_and_no_field_means_no_set()
    {
        var (_, plain) = await _server.PostJsonAsync("/v1/chat/completions", new { model = LoopbackServer.ModelId, messages = Hello, max_tokens = 3, n = 2 });
        Assert.False(plain.TryGetProperty("uncertainty_set", out _));
        Assert.False(plain.GetProperty("choices")[0].GetProperty("uncertainty").TryGetProperty("probe_confidence", out _));

        var (status, some) = await _server.PostJsonAsync("/v1/completions", new { model = LoopbackServer.ModelId, prompt = Prompt, max_tokens = 3, n = 2, uncertainty = new[] { "degmat", "token_probability" } });
        Assert.Equal(200, status);
        var set = some.GetProperty("uncertainty_set");
        // The catalog's map, plus the flat field of the 0.1 shape (kept for one release).
        Assert.Equal(["backend", "n", "methods", "degmat"], set.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["degmat"], set.GetProperty("methods").EnumerateObject().Select(p => p.Name));
        Assert.Equal(set.GetProperty("degmat").GetDouble(), set.GetProperty("methods").GetProperty("degmat").GetProperty("uncertainty").GetDouble());
    }

    [Theory]
    [InlineData("""{"methods":["nonsense"]}""", 1, "nonsense")]
    [InlineData("""["semantic_entropy"]""", 1, "n >= 2")]
    [InlineData("""{"methods":["eccentricity"]}""", 1, "eccentricity")]
    [InlineData("5", 2, "uncertainty")]
    [InlineData("""{"methods":[1]}""", 2, "uncertainty.methods")]
    [InlineData("""{"method":["probe"]}""", 2, "unknown key")]
    public async Task Bad_uncertainty_fields_are_400s_naming_the_method_and_why(string field, int n, string expected)
    {
        foreach (string path in new[] { "/v1/chat/completions", "/v1/completions" })
        {
            string target = path.EndsWith("chat/completions") ? """ "messages":[{"role":"user","content":"hi"}] """ : """ "prompt":"hi" """;
            using var response = await _server.PostAsync(path, $$"""{"model":"{{LoopbackServer.ModelId}}",{{target}},"n":{{n}},"max_tokens":2,"uncertainty":{{field}}}""");
            Assert.Equal(400, (int)response.StatusCode);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Contains(expected, error.GetProperty("message").GetString());
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        }
        using var health = await _server.Client.GetAsync("/health");
        Assert.True(health.IsSuccessStatusCode);
    }

    [Fact]
    public async Task Probe_without_a_loaded_probe_is_a_400()
    {
        await using var bare = await LoopbackServer.StartAsync();
        using var response = await bare.PostAsync("/v1/chat/completions", $$"""{"model":"{{LoopbackServer.ModelId}}","messages":[{"role":"user","content":"hi"}],"uncertainty":["probe"]}""");
        Assert.Equal(400, (int)response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Contains("'probe'", error.GetProperty("message").GetString());
        Assert.Contains("--probe", error.GetProperty("message").GetString());
        Assert.Equal("probe_not_loaded", error.GetProperty("code").GetString());
    }

    [Fact]
    public void A_probe_for_another_model_or_a_broken_file_is_refused_at_start_up()
    {
        using var dir = new Gguf.TempDirectory();
        var probe = ProbeFile.Load(ProbePath.Value);
        string other = dir.File("other.probe.json");
        (probe with { Model = probe.Model with { Sha256 = new string('0', 64) } }).Save(other);
        var options = new ServerOptions { ModelPath = TestModels.SyntheticPath, Port = 0, ContextSize = 256, Threads = 1 };
        var wrong = Assert.Throws<InvalidOperationException>(() => UqEngineServer.Build(options with { ProbePath = other }));
        Assert.Contains("synthetic.gguf", wrong.Message);
        Assert.Contains("train a probe for this model", wrong.Message);

        string torn = dir.File("torn.probe.json");
        File.WriteAllText(torn, File.ReadAllText(ProbePath.Value)[..50]);
        Assert.Contains("torn.probe.json", Assert.Throws<ArgumentException>(() => UqEngineServer.Build(options with { ProbePath = torn })).Message);
    }

    [Fact]
    public async Task Streaming_carries_probe_per_token_probe_per_answer_and_the_set_last()
    {
        object Request(bool stream) => new
        {
            model = LoopbackServer.ModelId, messages = Hello, max_tokens = 5, temperature = 1.2, seed = 8, n = 2, logprobs = true, stream,
            uncertainty = new { methods = new[] { "probe", "semantic_entropy", "lexical_similarity" } },
        };
        var (_, whole) = await _server.PostJsonAsync("/v1/chat/completions", Request(false));
        using var response = await _server.PostAsync("/v1/chat/completions", JsonSerializer.Serialize(Request(true)));
        var (events, done) = LoopbackServer.ParseEvents(await response.Content.ReadAsStringAsync());
        Assert.True(done);

        for (int c = 0; c < 2; c++)
        {
            var expected = whole.GetProperty("choices")[c];
            double[] expectedTokens = [.. expected.GetProperty("logprobs").GetProperty("content").EnumerateArray().Select(e => e.GetProperty("probe").GetDouble())];
            var mine = events.SelectMany(e => e.GetProperty("choices").EnumerateArray()).Where(ch => ch.GetProperty("index").GetInt32() == c).ToList();
            double[] streamed = [.. mine.Where(ch => ch.TryGetProperty("logprobs", out var l) && l.ValueKind == JsonValueKind.Object)
                .SelectMany(ch => ch.GetProperty("logprobs").GetProperty("content").EnumerateArray()).Select(e => e.GetProperty("probe").GetDouble())];
            Assert.NotEmpty(streamed);
            Assert.Equal(expectedTokens.Length, streamed.Length);
            for (int i = 0; i < streamed.Length; i++) Assert.Equal(expectedTokens[i], streamed[i], 1e-9);
            var finish = Assert.Single(mine, ch => ch.GetProperty("finish_reason").ValueKind == JsonValueKind.String);
            Assert.Equal(expected.GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble(), finish.GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble(), 1e-9);
        }
        var last = events[^1];
        Assert.Empty(last.GetProperty("choices").EnumerateArray());
        var set = last.GetProperty("uncertainty_set");
        Assert.Equal(whole.GetProperty("uncertainty_set").GetProperty("semantic_entropy").GetDouble(), set.GetProperty("semantic_entropy").GetDouble(), 1e-9);
        Assert.Equal(whole.GetProperty("uncertainty_set").GetProperty("lexical_similarity").GetDouble(), set.GetProperty("lexical_similarity").GetDouble(), 1e-9);
        Assert.Single(events, e => e.TryGetProperty("uncertainty_set", out _));
    }

#pragma warning disable SCME0001, OPENAI001 // JsonPatch and Seed: the SDK's way to send fields it has no property for
    [Fact]
    public async Task Openai_sdk_sends_the_field_and_reads_the_values_from_the_raw_response()
    {
        var client = new ChatClient(LoopbackServer.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress + "/v1") });
        var options = new ChatCompletionOptions { IncludeLogProbabilities = true, MaxOutputTokenCount = 5, Temperature = 1.2f, Seed = 21 };
        options.Patch.Set("$.n"u8, 3);
        options.Patch.Set("$.uncertainty"u8, BinaryData.FromString("""{"methods":["probe","num_sem_sets","degmat"]}"""));
        ClientResult<OpenAI.Chat.ChatCompletion> result = await client.CompleteChatAsync([new UserChatMessage("Hello there")], options);
        Assert.True(result.Value.ContentTokenLogProbabilities.Count > 0);

        using var raw = JsonDocument.Parse(result.GetRawResponse().Content);
        var choices = raw.RootElement.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(3, choices.Count);
        var set = raw.RootElement.GetProperty("uncertainty_set");
        Assert.Equal(3, set.GetProperty("n").GetInt32());
        var s = SimilarityMatrix.Build(new RougeLSimilarity(), [.. choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()!)]);
        Assert.Equal(SemanticSets.Count(s, 0.5), set.GetProperty("num_sem_sets").GetInt32());
        Assert.Equal(GraphUncertainty.DegreeMatrix(s), set.GetProperty("degmat").GetDouble(), 1e-12);

        // The same request over raw HTTP (same seed, nothing else running) gives the same probe readings.
        var (_, direct) = await _server.PostJsonAsync("/v1/chat/completions", new
        {
            model = LoopbackServer.ModelId, messages = Hello, max_tokens = 5, temperature = 1.2, seed = 21, n = 3, logprobs = true, uncertainty = new[] { "probe" },
        });
        for (int c = 0; c < 3; c++)
        {
            double viaSdk = choices[c].GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble();
            Assert.InRange(viaSdk, 0, 1);
            Assert.Equal(direct.GetProperty("choices")[c].GetProperty("uncertainty").GetProperty("probe_confidence").GetDouble(), viaSdk, 1e-9);
            Assert.All(choices[c].GetProperty("logprobs").GetProperty("content").EnumerateArray(), e => Assert.InRange(e.GetProperty("probe").GetDouble(), 0, 1));
        }
    }
#pragma warning restore SCME0001, OPENAI001
}
