using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Spectre.Console;
using UQEngine.Server;

using UQEngine.Inference;
using UQEngine.Demo;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine serve`: an OpenAI-compatible endpoint on loopback whose answers say how sure the model was.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new ModelOptionsBinder(); // --model, --device, --gpu-layers, --threads, --ctx, --verbose
        var host = new Option<string>("--host") { Description = "Address to listen on (an IP or localhost); keep loopback unless you mean to expose it", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port", "-p") { Description = "TCP port (0 = any free port)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = "Require \"Authorization: Bearer <key>\" on /v1 (default: UQENGINE_API_KEY, else none)" };
        var maxSequences = new Option<int>("--max-sequences") { Description = "Sequence slots decoded together, shared by concurrent requests (each holds one per sample); also the largest \"n\"", DefaultValueFactory = _ => 4 };
        var probe = new Option<string?>("--probe") { Description = "Probe file (uqengine probe train) for the \"probe\" uncertainty method; must be trained on this model" };
        var loraQuery = new Option<string?>("--lora-query") { Description = "LoRA query adapter (lora-query-train) for the \"lora_query\" uncertainty method: each choice's P(correct), read on a query context of its own; must be trained on this model" };
        var allowedHost = new Option<string[]>("--allowed-host") { Description = "Also answer requests whose Host header is NAME (repeatable; default: localhost, 127.0.0.1, [::1] and the --host address; \"*\" = any). Others get 400 (DNS rebinding)", AllowMultipleArgumentsPerToken = false };
        var corsOrigin = new Option<string[]>("--cors-origin") { Description = "Let browser pages from ORIGIN (scheme://host[:port]; \"*\" = any) call the API (repeatable; default: none, only the playground)", AllowMultipleArgumentsPerToken = false };
        var similarity = new Option<string>("--similarity") { Description = "How the consistency methods compare a request's n choices: rouge-l (word overlap) or minilm (all-MiniLM-L6-v2 sentence embeddings, cosine)", DefaultValueFactory = _ => "rouge-l" };
        var embeddingModel = new Option<string?>("--embedding-model") { Description = "GGUF model for /v1/embeddings (a file, or minilm: all-MiniLM-L6-v2 converted once); default: the served model's last layer, mean-pooled" };
        var otlpEndpoint = new Option<string?>("--otlp-endpoint") { Description = "Push metrics and traces over OTLP to URL (e.g. http://localhost:4317); default: OTEL_EXPORTER_OTLP_ENDPOINT, else none (/metrics always answers)" };
        var otlpProtocol = new Option<string?>("--otlp-protocol") { Description = "grpc or http/protobuf (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)" };
        var checkModel = new Option<string>("--check-model") { Description = "Before serving, load the model and decode one token in a child process, so a file that makes llama.cpp abort is a clear error, not a dead server: isolated, off, or auto (isolated unless the model is the built-in demo or synthetic one; costs one extra load at start-up)", DefaultValueFactory = _ => "auto" };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for the decoder before new ones get 429", DefaultValueFactory = _ => 16 };

        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API with uncertainty on every answer")
        {
            host, port, apiKey, maxSequences, queue, probe, loraQuery, allowedHost, corsOrigin, similarity, embeddingModel, otlpEndpoint, otlpProtocol, checkModel,
            ServeBenchCommand.Create(),
        };
        model.AddTo(command);
        command.SetAction(async (result, cancellation) =>
        {
            WebApplication? app = null; // built inside CommandRunner so load errors print as one line
            MiniLM.MiniLmEmbedder? embedder = null;
            int code = CommandRunner.Run(() =>
            {
                embedder = result.GetValue(similarity)!.Trim().ToLowerInvariant() switch
                {
                    "rouge-l" or "rougel" or "rouge" => null,
                    "minilm" => new MiniLM.MiniLmEmbedder(threads: result.GetValue(model.Threads) > 0 ? result.GetValue(model.Threads) : ContextOptions.DefaultThreads),
                    var other => throw new CliException($"--similarity must be rouge-l or minilm for serve, not '{other}'"),
                };
                string modelPath = model.ResolveModelPath(result, AnsiConsole.Console);
                var options = new ServerOptions
                {
                    ModelPath = modelPath,
                    Loading = model.LoadOptions(result) with { IsolatedCheck = IsolatedCheckWanted(result.GetValue(checkModel)!, modelPath) },
                    Host = result.GetValue(host)!,
                    Port = result.GetValue(port),
                    ApiKey = result.GetValue(apiKey) ?? NullIfEmpty(Environment.GetEnvironmentVariable("UQENGINE_API_KEY")),
                    MaxSequences = result.GetValue(maxSequences),
                    QueueCapacity = result.GetValue(queue),
                    ContextSize = result.GetValue(model.ContextSize),
                    Threads = result.GetValue(model.Threads),
                    ProbePath = result.GetValue(probe),
                    LoraQueryPath = result.GetValue(loraQuery),
                    AllowedHosts = result.GetValue(allowedHost) ?? [],
                    CorsOrigins = result.GetValue(corsOrigin) ?? [],
                    ChoiceEmbedder = embedder,
                    ChoiceEmbedderName = "minilm",
                    EmbeddingModelPath = result.GetValue(embeddingModel) is { } e ? SampleOptionsBinder.ResolveEmbeddingModel(e) : null,
                    // Any text becomes a Uri here; ServerOptions says what is wrong with one that is not http(s).
                    OtlpEndpoint = result.GetValue(otlpEndpoint) is { } otlp
                        ? Uri.TryCreate(otlp, UriKind.RelativeOrAbsolute, out var uri) ? uri : throw new CliException($"--otlp-endpoint '{otlp}' is not a URL")
                        : null,
                    OtlpProtocol = result.GetValue(otlpProtocol),
                };
                app = UqEngineServer.Build(options);
                return 0;
            });
            using var ownedEmbedder = embedder;
            if (code != 0 || app is null) return code;
            try
            {
                await app.StartAsync(cancellation);
                Console.Error.WriteLine($"uqengine: serving at {app.BaseAddress()}/v1 (OpenAI-compatible; Ctrl+C stops)");
                await app.WaitForShutdownAsync(cancellation);
                return 0;
            }
            catch (OperationCanceledException) { return 0; }
            catch (IOException e)
            {
                Console.Error.WriteLine($"uqengine: error: cannot listen: {e.Message}");
                return 1;
            }
            finally { await app.DisposeAsync(); }
        });
        return command;
    }

    /// <summary>
    /// --check-model: auto checks every file but the ones this program ships or writes itself (the demo and the
    /// synthetic model), whose load is known to be safe; a file of unknown origin costs one extra load at start-up.
    /// </summary>
    internal static bool IsolatedCheckWanted(string mode, string modelPath) => mode.Trim().ToLowerInvariant() switch
    {
        "isolated" or "on" => true,
        "off" or "none" => false,
        "auto" => !BuiltInModels.IsBuiltIn(modelPath) && CheckerAvailable(),
        var other => throw new CliException($"--check-model must be auto, isolated or off, not '{other}'"),
    };

    // auto checks where it can: where no child can be started it says why and serves unchecked (isolated insists).
    private static bool CheckerAvailable()
    {
        if (UQEngine.Inference.IsolatedModelChecker.Unavailable() is not { } why) return true;
        Console.Error.WriteLine($"serve: no isolated model check (--check-model auto): {why}; --check-model isolated makes it an error");
        return false;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
