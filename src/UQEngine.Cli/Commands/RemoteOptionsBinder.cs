using System.CommandLine;
using UQEngine.Evaluation.Runner;
using UQEngine.Methods;
using UQEngine.Remote;

namespace UQEngine.Cli.Commands;

/// <summary>
/// <c>--endpoint</c>, <c>--api-key</c>, <c>--concurrency</c>: run a command's methods over an OpenAI-compatible
/// endpoint instead of a local model (<c>--model</c> then names the remote model). Shared by eval, generate,
/// compare and sensitivity.
/// </summary>
internal sealed class RemoteOptionsBinder
{
    public const string ApiKeyVariable = "UQENGINE_API_KEY", OpenAiKeyVariable = "OPENAI_API_KEY";

    public Option<string?> Endpoint { get; } = new("--endpoint") { Description = "Run over an OpenAI-compatible endpoint instead of a local model: its base URL (http://host:8080/v1); comma-separated URLs = replicas, used round-robin. --model then names the remote model (default: the first of /v1/models); --raw uses /v1/completions" };
    public Option<string?> ApiKey { get; } = new("--api-key") { Description = $"Key for --endpoint (default: {ApiKeyVariable}, else {OpenAiKeyVariable}); never written to the results" };
    public Option<int> Concurrency { get; } = new("--concurrency") { Description = "--endpoint: requests in flight at once (items are evaluated this many at a time)", DefaultValueFactory = _ => 1 };

    public void AddTo(Command command) { command.Add(Endpoint); command.Add(ApiKey); command.Add(Concurrency); }

    /// <summary>Whether --endpoint was given.</summary>
    public bool Given(ParseResult result) => !string.IsNullOrWhiteSpace(result.GetValue(Endpoint));

    /// <summary>The key: --api-key, else UQENGINE_API_KEY, else OPENAI_API_KEY; null when none is set.</summary>
    public string? Key(ParseResult result) =>
        NullIfEmpty(result.GetValue(ApiKey)) ?? NullIfEmpty(Environment.GetEnvironmentVariable(ApiKeyVariable)) ?? NullIfEmpty(Environment.GetEnvironmentVariable(OpenAiKeyVariable));

    /// <summary>The endpoint client (the caller disposes it); null without --endpoint.</summary>
    public OpenAiEndpointClient? Open(ParseResult result, ModelOptionsBinder model, bool raw) =>
        Given(result) ? Open(result, result.GetValue(Endpoint)!, NullIfEmpty(result.GetValue(model.Model)), raw) : null;

    /// <summary>A client for <paramref name="endpoints"/> (comma-separated replicas) and one remote model (null = the first listed), with this command's key and concurrency.</summary>
    public OpenAiEndpointClient Open(ParseResult result, string endpoints, string? modelName, bool raw)
    {
        try
        {
            return new OpenAiEndpointClient(new RemoteEndpointOptions
            {
                Endpoints = RemoteEndpointOptions.ParseEndpoints(endpoints),
                ApiKey = Key(result),
                Model = modelName,
                Concurrency = result.GetValue(Concurrency),
                Chat = !raw,
            });
        }
        catch (ArgumentException e) { throw new CliException(e.Message); }
    }

    /// <summary>What the runner records: run.json gets the endpoint, the model and the API (never the key).</summary>
    public static RemoteHost Host(OpenAiEndpointClient client) => new(
        $"{client.Model} at {client.Options.Describe()}",
        new Dictionary<string, string>
        {
            ["endpoint"] = client.Options.Describe(),
            ["endpoint_model"] = client.Model,
            ["endpoint_api"] = client.Options.Chat ? "chat/completions" : "completions",
        },
        client.Options.Concurrency,
        client.Notes);

    /// <summary>
    /// The sampling settings over an endpoint: the similarity defaults to rouge-l (the default, hidden, reads the
    /// local model's states); hidden or embedding given explicitly is refused.
    /// </summary>
    public static SampleSettings ForEndpoint(SampleSettings settings, ParseResult result, SampleOptionsBinder sampling)
    {
        if (result.GetResult(sampling.Similarity) is null or { Implicit: true }) return settings with { Similarity = SimilarityBackend.RougeL };
        if (settings.Similarity is SimilarityBackend.Hidden or SimilarityBackend.Embedding)
            throw new CliException($"--similarity {result.GetValue(sampling.Similarity)} reads a local model, and --endpoint returns text only: use --similarity rouge-l, jaccard or minilm");
        return settings;
    }

    /// <summary>Refuses, before any request, the methods an endpoint cannot run (with the catalog's reason) and the option-probability route.</summary>
    public static void RequireRemote(IEnumerable<IUncertaintyEstimator> methods, MultipleChoiceRoute route = MultipleChoiceRoute.Generated)
    {
        var refused = methods.Where(m => !m.Descriptor.Remote.Runs).Select(m => $"'{m.Name}' ({m.Descriptor.Remote.How})").ToList();
        if (refused.Count > 0) throw new CliException($"--endpoint cannot run {string.Join("; ", refused)}. `uqengine methods` lists what runs remotely");
        if (route == MultipleChoiceRoute.OptionProbability)
            throw new CliException("--mc-route option-prob reads the option letters' logits, which an endpoint does not return; use --mc-route generated");
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
