using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using UQEngine.Cli.Rendering;
using UQEngine.Inference;
using UQEngine.Structured;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine generate`: continue a prompt and show how sure the model was of every token.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder();
        var prompt = new Argument<string>("prompt") { Description = "The prompt (a user message when the model has a chat template, unless --raw)" };
        var system = new Option<string?>("--system") { Description = "System message (chat mode)" };
        var raw = new Option<bool>("--raw") { Description = "Send the prompt as plain text, without the chat template" };
        var parseSpecial = new Option<bool>("--parse-special") { Description = "Chat mode: read control-token text in the prompt and --system (\"<|im_end|>\") as control tokens; by default it is text (--raw prompts always parse it)" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "0 = off" };
        var topP = new Option<float>("--top-p") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var seed = new Option<uint>("--seed") { DefaultValueFactory = _ => 42u };
        var samples = new Option<int>("--samples") { Description = "Sequences to sample together (needs --temperature > 0 to differ)", DefaultValueFactory = _ => 1 };
        var stop = new Option<string[]>("--stop") { Description = "Stop text (repeatable)", AllowMultipleArgumentsPerToken = false };
        var topLogprobs = new Option<int>("--top-logprobs") { Description = "Alternatives to show per token (0..20)", DefaultValueFactory = _ => 5 };
        var tokens = new Option<bool>("--tokens") { Description = "Print a per-token table (probability, entropy, rank, alternatives)" };
        var json = new Option<bool>("--json") { Description = "Print JSON for machines instead of the coloured view" };
        var loraQuery = new Option<string?>("--lora-query") { Description = "LoRA query adapter (lora-query-train): after each answer, ask it 'Is the proposed answer correct?' and report its calibrated P(yes)" };
        var probe = new Option<string?>("--probe") { Description = "Probe file (uqengine probe train): report its P(correct) per token and per answer, scored while decoding" };
        var methods = new Option<string?>("--methods") { Description = "Also score the prompt, asked as `uqengine eval` asks a question, with these uncertainty methods (comma-separated; e.g. sar,semantic_entropy)" };
        var jsonSchema = new Option<FileInfo?>("--json-schema") { Description = "Constrain the answer to JSON valid against this JSON Schema file (llama.cpp grammar) and show per-field uncertainty" };
        var jsonObject = new Option<bool>("--json-object") { Description = "Constrain the answer to any JSON object (OpenAI's json_object mode) and show per-field uncertainty" };
        var sampling = new SampleOptionsBinder();
        var endpoint = new RemoteOptionsBinder();

        var command = new Command("generate", "Generate text and show per-token and per-sequence uncertainty")
        {
            prompt, system, raw, parseSpecial, maxTokens, temperature, topK, topP, seed, samples, stop, topLogprobs, tokens, json, probe, loraQuery, methods, jsonSchema, jsonObject,
        };
        model.AddTo(command);
        sampling.AddTo(command);
        endpoint.AddTo(command);
        command.SetAction((result, cancellation) => Task.FromResult(CommandRunner.Run(() =>
        {
            bool asJson = result.GetValue(json);
            var console = asJson ? null : AnsiConsole.Console;
            int n = result.GetValue(samples);
            if (n < 1) throw new CliException("--samples must be at least 1");
            if (endpoint.Given(result))
            {
                if (result.GetValue(probe) is { Length: > 0 }) throw new CliException("--probe reads the model's hidden states, which --endpoint does not return");
                using var client = endpoint.Open(result, model, raw: result.GetValue(raw))!;
                var remoteScoring = MethodScoring.PrepareRemote(result.GetValue(methods), RemoteOptionsBinder.ForEndpoint(sampling.Settings(result), result, sampling), model.LoadOptions(result), client);
                using var remoteEmbedder = remoteScoring?.Embedder;
                string user = result.GetValue(prompt)!;
                var request = new Remote.RemoteRequest(
                    client.Options.Chat ? [.. string.IsNullOrEmpty(result.GetValue(system)) ? Array.Empty<ChatMessage>() : [ChatMessage.System(result.GetValue(system)!)], ChatMessage.User(user)] : null,
                    client.Options.Chat ? null : user, n, result.GetValue(maxTokens), result.GetValue(temperature), result.GetValue(topP), result.GetValue(topK),
                    result.GetValue(seed), result.GetValue(stop) ?? [], Math.Clamp(result.GetValue(topLogprobs), 0, 20));
                var remoteClock = Stopwatch.StartNew();
                var answers = client.CompleteAsync(request, cancellation).GetAwaiter().GetResult();
                remoteClock.Stop();
                var remoteScores = remoteScoring?.Score(user, result.GetValue(maxTokens), result.GetValue(seed), !result.GetValue(raw), cancellation);
                string where = $"{client.Model} at {client.Options.Describe()}";
                if (asJson) JsonOutput.Write(new { model = where, endpoint = client.Options.Describe(), prompt = user, elapsed_ms = remoteClock.Elapsed.TotalMilliseconds, results = answers.Select(JsonOutput.Result), methods = remoteScores, notes = client.Notes() });
                else
                {
                    UncertaintyView.Show(AnsiConsole.Console, where, answers, remoteClock.Elapsed, result.GetValue(tokens));
                    if (remoteScores is not null) MethodScoring.Show(AnsiConsole.Console, remoteScores);
                    foreach (string note in client.Notes()) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(note)}[/]");
                }
                return 0;
            }
            var scoring = MethodScoring.Prepare(result.GetValue(methods), sampling.Settings(result), model.LoadOptions(result));
            using var embedder = scoring?.Embedder;
            using var llm = model.LoadModel(result, console);
            var probeFile = ProbeOutput.Load(result.GetValue(probe), llm);
            using var query = result.GetValue(loraQuery) is { Length: > 0 } adapterPath ? LoraQuery.Load(llm, adapterPath) : null;
            var contextOptions = scoring is { Sampled: true }
                ? scoring.Settings.ContextOptionsFor(model.ContextOptions(result), llm.Facts, n)
                : model.ContextOptions(result, sequences: n);
            using var context = llm.CreateContext(ProbeOutput.Configure(probeFile, contextOptions, llm));
            using var generator = new Generator(context);
            var options = new GenerationOptions
            {
                MaxTokens = result.GetValue(maxTokens),
                Sampling = new SamplingOptions { Temperature = result.GetValue(temperature), TopK = result.GetValue(topK), TopP = result.GetValue(topP), Seed = result.GetValue(seed) },
                Stop = result.GetValue(stop) ?? [],
                TopAlternatives = result.GetValue(topLogprobs),
                Grammar = Grammar(result.GetValue(jsonSchema), result.GetValue(jsonObject)),
            };
            var scorers = probeFile is null ? null : new UQEngine.Methods.Probes.ProbeScorerSet(probeFile, n);
            if (scorers is not null) options = options with { OnStep = scorers.Observe };
            var messages = PromptBuilder.Messages(llm, result.GetValue(prompt)!, result.GetValue(system), result.GetValue(raw));
            string text = messages is null ? result.GetValue(prompt)! : ChatTemplate.Format(llm, messages);
            int[] promptTokens = messages is null ? generator.TokenizePrompt(text, options)
                : ChatTemplate.TokenizeOrTranscript(llm, messages, parseSpecialInContent: result.GetValue(parseSpecial), options.AddSpecialTokens);
            var clock = Stopwatch.StartNew();
            var outputs = generator.Generate(promptTokens, n, options, onToken: null, cancellation);
            clock.Stop();
            var fields = options.Grammar is null ? null : JsonFields.Analyze(outputs);
            // Sequence 0's answer reuses its cells; further samples are decoded again (the query works on sequence 0).
            var readings = query is null ? null : outputs.Select(o => query.Ask(generator, text, o, cancellation)).ToList();
            var scores = scoring?.Score(generator, result.GetValue(prompt)!, result.GetValue(maxTokens), result.GetValue(seed), !result.GetValue(raw), cancellation);
            if (asJson) JsonOutput.Write(new
            {
                model = llm.Facts.Path, prompt = text, elapsed_ms = clock.Elapsed.TotalMilliseconds, results = outputs.Select(JsonOutput.Result),
                probe = scorers is null ? null : ProbeOutput.Json(scorers, outputs), methods = scores,
                fields = fields?.Select(FieldView.Json),
                lora_query = readings?.Select(r => new { confidence = r.Confidence, margin = r.Logit, query_tokens = r.QueryTokens, reused_cache = r.ReusedCache, elapsed_ms = r.Milliseconds }),
            });
            else
            {
                UncertaintyView.Show(AnsiConsole.Console, llm.Facts.Description, outputs, clock.Elapsed, result.GetValue(tokens));
                if (fields is not null) FieldView.Show(AnsiConsole.Console, fields);
                if (scorers is not null) ProbeOutput.Show(AnsiConsole.Console, scorers, outputs);
                for (int i = 0; readings is not null && i < readings.Count; i++)
                    AnsiConsole.MarkupLine($"LoRA query, sample {i}: P(correct) = {readings[i].Confidence:F3} (margin {readings[i].Logit:F3}, {readings[i].QueryTokens} query tokens in {readings[i].Milliseconds:F1} ms{(readings[i].ReusedCache ? ", answer cells reused" : ", re-decoded")})");
                if (scores is not null) MethodScoring.Show(AnsiConsole.Console, scores);
            }
            return 0;
        })));
        return command;
    }

    private static GenerationGrammar? Grammar(FileInfo? schemaFile, bool anyObject)
    {
        if (schemaFile is not null && anyObject) throw new CliException("--json-schema and --json-object exclude each other");
        if (anyObject) return JsonSchemaGrammar.AnyJsonObject;
        if (schemaFile is null) return null;
        if (!schemaFile.Exists) throw new CliException($"--json-schema: no file {schemaFile.FullName}");
        return JsonSchemaGrammar.FromSchema(File.ReadAllText(schemaFile.FullName));
    }
}

/// <summary>Turns the user's prompt into the text the model reads.</summary>
internal static class PromptBuilder
{
    public static string Build(LlamaModel model, string prompt, string? system, bool raw) =>
        Messages(model, prompt, system, raw) is { } messages ? ChatTemplate.Format(model, messages) : prompt;

    /// <summary>The chat turns (chat mode), or null when the prompt is sent as it is (--raw, or no chat template).</summary>
    public static List<ChatMessage>? Messages(LlamaModel model, string prompt, string? system, bool raw)
    {
        if (raw || model.ChatTemplate is null) return null;
        var messages = new List<ChatMessage>();
        if (!string.IsNullOrEmpty(system)) messages.Add(ChatMessage.System(system));
        messages.Add(ChatMessage.User(prompt));
        return messages;
    }
}
