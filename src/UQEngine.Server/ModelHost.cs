using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>The served model: one LlamaModel, one context with MaxSequences slots, one Generator behind one worker.</summary>
internal sealed class ModelHost : IAsyncDisposable
{
    private readonly LlamaModel _model;
    private readonly LlamaContext _context;
    private readonly Generator _generator;

    public ModelHost(ServerOptions options)
    {
        _model = LlamaModel.Load(options.ModelPath, options.Loading);
        try
        {
            _context = _model.CreateContext(new ContextOptions { ContextSize = options.ContextSize, MaxSequences = options.MaxSequences, Threads = options.Threads });
            _generator = new Generator(_context);
        }
        catch
        {
            _context?.Dispose();
            _model.Dispose();
            throw;
        }
        ModelId = options.ModelId ?? Path.GetFileNameWithoutExtension(options.ModelPath);
        Created = new DateTimeOffset(File.GetLastWriteTimeUtc(options.ModelPath)).ToUnixTimeSeconds();
        Worker = new DecodeWorker(_generator, options.QueueCapacity);
    }

    public string ModelId { get; }
    public long Created { get; }
    public int ContextSize => _context.ContextSize;
    public int MaxSequences => _context.MaxSequences;
    public DecodeWorker Worker { get; }

    /// <summary>Chat messages → prompt text with the model's template; models without one get a plain transcript.</summary>
    public string FormatChat(IReadOnlyList<ChatMessage> messages)
    {
        if (_model.ChatTemplate is not null) return ChatTemplate.Format(_model, messages);
        return string.Concat(messages.Select(m => $"{m.Role}: {m.Content}\n")) + "assistant:";
    }

    /// <summary>Tokenization reads only the vocabulary, so it runs on the request thread beside decoding.</summary>
    public int[] Tokenize(string prompt, bool parseSpecial) => _model.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial);

    public async ValueTask DisposeAsync()
    {
        await Worker.DisposeAsync().ConfigureAwait(false); // the worker must stop before the context it decodes on goes
        _generator.Dispose();
        _context.Dispose();
        _model.Dispose();
    }
}
