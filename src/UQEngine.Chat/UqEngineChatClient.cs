using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using UQEngine.Inference;
using UQEngine.Structured;
using TemplateMessage = UQEngine.Inference.ChatMessage;

namespace UQEngine.Chat;

/// <summary>
/// An in-process Microsoft.Extensions.AI <see cref="IChatClient"/> over a local GGUF model: no server, no network.
/// Messages go through the model's chat template; every answer carries UQEngine's uncertainty
/// (<see cref="ChatUncertaintyExtensions.GetUncertainty(ChatResponse)"/>, or the <c>uqengine.uncertainty</c> and
/// plain <c>sequence_probability</c>, <c>perplexity</c>, <c>mean_entropy</c>, <c>max_entropy</c>,
/// <c>min_token_probability</c> entries of AdditionalProperties).
/// <para>
/// Thread safety: the client owns one llama.cpp context and serializes calls on it. Concurrent calls are safe and
/// wait their turn (a cancelled waiter leaves the queue at once); a stream holds the context until it is
/// enumerated to the end or disposed. For parallel decoding use one client per context, or `uqengine serve`.
/// </para>
/// </summary>
public sealed class UqEngineChatClient : IChatClient
{
    private readonly LlamaModel _model;
    private readonly bool _ownsModel;
    private readonly LlamaContext _context;
    private readonly Generator _generator;
    private readonly UqEngineChatClientOptions _options;
    private readonly ChatClientMetadata _metadata;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _sync = new();
    private Task? _running;
    private bool _disposed;

    /// <summary>A client over a loaded model; the caller keeps ownership of <paramref name="model"/> and must keep it alive.</summary>
    public UqEngineChatClient(LlamaModel model, UqEngineChatClientOptions? options = null) : this(model, options, ownsModel: false) { }

    private UqEngineChatClient(LlamaModel model, UqEngineChatClientOptions? options, bool ownsModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        _options = options ?? new UqEngineChatClientOptions();
        _options.Validate();
        _model = model;
        _context = model.CreateContext(new ContextOptions { ContextSize = _options.ContextSize, Threads = _options.Threads });
        try { _generator = new Generator(_context); }
        catch { _context.Dispose(); throw; }
        _ownsModel = ownsModel;
        ModelId = _options.ModelId ?? Path.GetFileNameWithoutExtension(model.Path);
        _metadata = new ChatClientMetadata("uqengine", providerUri: null, defaultModelId: ModelId);
    }

    /// <summary>Loads a GGUF file and returns a client that owns (and disposes) the model.</summary>
    public static UqEngineChatClient Open(string modelPath, UqEngineChatClientOptions? options = null, ModelOptions? loading = null)
    {
        var model = LlamaModel.Load(modelPath, loading);
        try { return new UqEngineChatClient(model, options, ownsModel: true); }
        catch { model.Dispose(); throw; }
    }

    public string ModelId { get; }

    /// <summary>The context's size in tokens: prompt and answer together must fit in it.</summary>
    public int ContextSize => _context.ContextSize;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var call = Prepare(messages, options);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
            var result = await Start(() => _generator.Generate(call.PromptTokens, 1, call.Generation, null, stop.Token)[0]).ConfigureAwait(false);
            var uncertainty = ChatUncertainty.Of(result, call.Generation.Grammar is not null);
            var properties = UncertaintyProperties(uncertainty);
            var message = new Microsoft.Extensions.AI.ChatMessage(ChatRole.Assistant, result.Text) { MessageId = call.Id, AdditionalProperties = properties };
            return new ChatResponse(message)
            {
                ResponseId = call.Id,
                ModelId = ModelId,
                CreatedAt = call.Created,
                FinishReason = FinishReasonOf(result.FinishReason),
                Usage = Usage(call.PromptTokens.Length, result.Tokens.Count),
                AdditionalProperties = properties,
                RawRepresentation = result,
            };
        }
        finally { _turn.Release(); }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var call = Prepare(messages, options);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        Task<GenerationResult>? producer = null;
        try
        {
            // Unbounded: a generation is at most MaxTokens records, and decoding never waits on a slow reader.
            var tokens = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            producer = Start(() =>
            {
                try { return _generator.Generate(call.PromptTokens, 1, call.Generation, t => tokens.Writer.TryWrite(t), stop.Token)[0]; }
                finally { tokens.Writer.TryComplete(); }
            });
            var filter = new StopSequenceFilter(call.Generation.Stop);
            await foreach (var token in tokens.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                string text = filter.Push(token.Text);
                yield return Update(call, text, new AdditionalPropertiesDictionary { [ChatUncertaintyExtensions.TokenKey] = token });
                cancellationToken.ThrowIfCancellationRequested(); // buffered tokens are read without looking at the token
            }
            var result = await producer.ConfigureAwait(false);
            var uncertainty = ChatUncertainty.Of(result, call.Generation.Grammar is not null);
            var last = Update(call, filter.Finish(result.Text), UncertaintyProperties(uncertainty));
            last.FinishReason = FinishReasonOf(result.FinishReason);
            last.Contents.Add(new UsageContent(Usage(call.PromptTokens.Length, result.Tokens.Count)));
            last.RawRepresentation = result;
            yield return last;
        }
        finally
        {
            // Reached on completion, on an error, and when the consumer stops early: stop decoding before the next turn.
            stop.Cancel();
            if (producer is not null)
                try { await producer.ConfigureAwait(false); } catch { /* already surfaced to the consumer, or the consumer left */ }
            stop.Dispose();
            _turn.Release();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(LlamaModel)) return _model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Cancels a running generation, waits for it to leave the native context, then frees the context (and the model when owned).</summary>
    public void Dispose()
    {
        Task? running;
        lock (_sync)
        {
            if (_disposed) return;
            _disposed = true;
            running = _running;
        }
        _lifetime.Cancel();
        try { running?.Wait(); } catch (AggregateException) { /* cancelled or failed: either way it has left the context */ }
        _generator.Dispose();
        _context.Dispose();
        if (_ownsModel) _model.Dispose();
        _lifetime.Dispose();
    }

    /// <summary>Runs decoding off the caller's thread; refuses to start once disposal has begun, so Dispose never frees a context in use.</summary>
    private Task<T> Start<T>(Func<T> decode)
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var task = Task.Run(decode);
            _running = task;
            return task;
        }
    }

    private sealed record Call(string Id, DateTimeOffset Created, int[] PromptTokens, GenerationOptions Generation);

    /// <summary>Validates the messages and options and tokenizes the prompt, before waiting for the context.</summary>
    private Call Prepare(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var turns = new List<TemplateMessage>();
        int index = 0;
        foreach (var message in messages)
        {
            string where = $"messages[{index++}]";
            ArgumentNullException.ThrowIfNull(message, where);
            string role = message.Role == ChatRole.System ? "system"
                : message.Role == ChatRole.User ? "user"
                : message.Role == ChatRole.Assistant ? "assistant"
                : throw new NotSupportedException($"{where} has role '{message.Role}'; this client reads system, user and assistant messages (no tool calls).");
            foreach (var content in message.Contents)
                if (content is not TextContent)
                    throw new NotSupportedException($"{where} holds {content.GetType().Name}; this client reads text content only.");
            turns.Add(new TemplateMessage(role, message.Text));
        }
        if (turns.Count == 0) throw new ArgumentException("there are no messages to answer", nameof(messages));

        var generation = Generation(options);
        int[] promptTokens = ChatTemplate.TokenizeOrTranscript(_model, turns, _options.ParseSpecialTokensInContent, generation.AddSpecialTokens);
        if (promptTokens.Length >= _context.ContextSize)
            throw new ArgumentException($"the conversation is {promptTokens.Length} tokens after the chat template, but the context holds {_context.ContextSize} (prompt and answer together); shorten it or raise ContextSize.", nameof(messages));
        return new Call("uqchat-" + Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow, promptTokens, generation);
    }

    private GenerationOptions Generation(ChatOptions? options)
    {
        if (options is null) return new GenerationOptions { MaxTokens = _options.DefaultMaxOutputTokens, Sampling = new SamplingOptions { Temperature = _options.DefaultTemperature, Seed = (uint)Random.Shared.Next() }, TopAlternatives = _options.TopAlternatives };
        if (options.ModelId is { } id && id != ModelId)
            throw new ArgumentException($"ChatOptions.ModelId is '{id}', but this client runs '{ModelId}'.", nameof(options));
        if (options.Tools is { Count: > 0 }) throw new NotSupportedException("ChatOptions.Tools: this client does not call tools.");
        if (options.FrequencyPenalty is { } f && f != 0) throw new NotSupportedException("ChatOptions.FrequencyPenalty is not supported.");
        if (options.PresencePenalty is { } p && p != 0) throw new NotSupportedException("ChatOptions.PresencePenalty is not supported.");
        if (options.MaxOutputTokens is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxOutputTokens, "ChatOptions.MaxOutputTokens must be at least 1.");
        if (options.Temperature is { } t && !(t >= 0)) throw new ArgumentOutOfRangeException(nameof(options), t, "ChatOptions.Temperature must be >= 0.");
        if (options.TopP is { } topP && !(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(options), topP, "ChatOptions.TopP must be in (0, 1].");
        if (options.TopK is < 0) throw new ArgumentOutOfRangeException(nameof(options), options.TopK, "ChatOptions.TopK must be >= 0.");
        return new GenerationOptions
        {
            MaxTokens = options.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Sampling = new SamplingOptions
            {
                Temperature = options.Temperature ?? _options.DefaultTemperature,
                TopP = options.TopP ?? 1f,
                TopK = options.TopK ?? 0,
                // ChatOptions' seed is 64 bits, llama.cpp's 32: fold the halves so every seed is accepted and distinct low halves stay distinct.
                Seed = options.Seed is { } s ? unchecked((uint)s ^ (uint)(s >> 32)) : (uint)Random.Shared.Next(),
            },
            Stop = options.StopSequences is { Count: > 0 } stops ? [.. stops.Where(x => !string.IsNullOrEmpty(x))] : [],
            TopAlternatives = _options.TopAlternatives,
            Grammar = GrammarOf(options.ResponseFormat),
        };
    }

    /// <summary>ChatResponseFormat.Json: any JSON object; ForJsonSchema: JSON valid against the schema (its unsupported keywords are an ArgumentException naming them).</summary>
    private static GenerationGrammar? GrammarOf(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } => JsonSchemaGrammar.FromSchema(schema),
        ChatResponseFormatJson => JsonSchemaGrammar.AnyJsonObject,
        _ => null,
    };

    private ChatResponseUpdate Update(Call call, string text, AdditionalPropertiesDictionary properties) => new(ChatRole.Assistant, text.Length > 0 ? [new TextContent(text)] : [])
    {
        ResponseId = call.Id,
        MessageId = call.Id,
        ModelId = ModelId,
        CreatedAt = call.Created,
        AdditionalProperties = properties,
    };

    private static AdditionalPropertiesDictionary UncertaintyProperties(ChatUncertainty u) => new()
    {
        [ChatUncertaintyExtensions.UncertaintyKey] = u,
        ["sequence_probability"] = u.SequenceProbability,
        ["perplexity"] = u.Perplexity,
        ["mean_entropy"] = u.MeanEntropy,
        ["max_entropy"] = u.MaxEntropy,
        ["min_token_probability"] = u.MinTokenProbability,
    };

    private static ChatFinishReason FinishReasonOf(FinishReason reason) => reason switch
    {
        FinishReason.EndOfGeneration or FinishReason.Stop => ChatFinishReason.Stop,
        _ => ChatFinishReason.Length, // Length and ContextFull: the budget ran out
    };

    private static UsageDetails Usage(int promptTokens, int answerTokens) => new()
    {
        InputTokenCount = promptTokens,
        OutputTokenCount = answerTokens,
        TotalTokenCount = promptTokens + answerTokens,
    };
}
