using UQEngine.Inference;
using UQEngine.Methods.Probes;

namespace UQEngine.Server;

/// <summary>The served model: one LlamaModel and one continuous batcher whose context has MaxSequences slots.</summary>
internal sealed class ModelHost : IAsyncDisposable
{
    private readonly LlamaModel _model;
    private readonly ContinuousBatcher _batcher;

    public ModelHost(ServerOptions options, ServerMetrics metrics)
    {
        if (options.ChoiceEmbedder is { } embedder) ChoiceSimilarity = new ChoiceSimilarity(embedder, options.ChoiceEmbedderName);
        _model = LlamaModel.Load(options.ModelPath, options.Loading);
        try
        {
            var context = new ContextOptions { ContextSize = options.ContextSize, MaxSequences = options.MaxSequences, Threads = options.Threads };
            if (options.ProbePath is not null)
            {
                Probe = LoadProbe(options.ProbePath, _model);
                context = ProbeLayers.Expose(context, [Probe.Features.Layer], _model.Facts);
            }
            _batcher = new ContinuousBatcher(_model, context, new BatcherOptions { QueueCapacity = options.QueueCapacity, OnBatchDecoded = metrics.RecordBatchStep });
        }
        catch
        {
            _model.Dispose();
            throw;
        }
        // Refused at start-up: an adapter trained on another base model (InferenceException naming both files).
        try { if (options.LoraQueryPath is not null) LoraQuery = new LoraQueryService(_model, options.LoraQueryPath, _batcher.ContextSize, options.Threads); }
        catch
        {
            _batcher.Dispose();
            _model.Dispose();
            throw;
        }
        ModelId = options.ModelId ?? Path.GetFileNameWithoutExtension(options.ModelPath);
        Created = new DateTimeOffset(File.GetLastWriteTimeUtc(options.ModelPath)).ToUnixTimeSeconds();
        Worker = new DecodeWorker(_batcher);
        metrics.Observe(Worker);
        try { Embeddings = new EmbeddingService(_model, ModelId, options); }
        catch
        {
            Worker.Dispose();
            LoraQuery?.Dispose();
            _model.Dispose();
            throw;
        }
    }

    public string ModelId { get; }
    public long Created { get; }
    public int ContextSize => _batcher.ContextSize;
    public int MaxSequences => _batcher.MaxSequences;
    public DecodeWorker Worker { get; }
    /// <summary>/v1/embeddings: the served model pooled, or the --embedding-model file.</summary>
    public EmbeddingService Embeddings { get; }
    /// <summary>The probe whose layer the batcher's context exposes; null without --probe.</summary>
    public ProbeFile? Probe { get; }

    /// <summary>The "lora_query" method's adapter and context; null without --lora-query.</summary>
    public LoraQueryService? LoraQuery { get; }

    /// <summary>The embedding backend of the consistency methods, when the server was given one (else ROUGE-L).</summary>
    public ChoiceSimilarity? ChoiceSimilarity { get; }

    /// <summary>Refused at start-up, not at the first request: a broken file or one trained for another model.</summary>
    private static ProbeFile LoadProbe(string path, LlamaModel model)
    {
        ProbeFile probe;
        try { probe = ProbeFile.Load(path); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); }
        probe.EnsureFits(model); // InvalidOperationException naming both models
        return probe;
    }

    /// <summary>
    /// Chat messages → prompt tokens with the model's template (models without one get a plain transcript); control-token
    /// text inside contents stays text unless <paramref name="parseSpecialInContent"/>.
    /// </summary>
    /// <exception cref="ApiErrorException">400 when the template refuses the conversation (a system message to Gemma 2 or Mistral v0.2).</exception>
    public int[] TokenizeChat(IReadOnlyList<ChatMessage> messages, bool parseSpecialInContent)
    {
        // What the template refuses is the request's doing, so it is the client's error (400), not the server's.
        try { return ChatTemplate.TokenizeOrTranscript(_model, messages, parseSpecialInContent); }
        catch (InferenceException e) { throw ApiErrorException.Invalid(e.Message, "messages", "chat_template_refused"); }
    }

    /// <summary>Tokenization reads only the vocabulary, so it runs on the request thread beside decoding.</summary>
    public int[] Tokenize(string prompt, bool parseSpecial) => _model.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial);

    public ValueTask DisposeAsync()
    {
        Embeddings.Dispose(); // its context goes before the model it may share
        Worker.Dispose(); // stops the decoding thread and frees its context before the model goes
        LoraQuery?.Dispose();
        _model.Dispose();
        return ValueTask.CompletedTask;
    }
}
