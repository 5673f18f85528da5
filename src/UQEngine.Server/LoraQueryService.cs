using UQEngine.Inference;

namespace UQEngine.Server;

/// <summary>
/// `serve --lora-query FILE`: the adapter's reading of each finished choice ("lora_query"). The batcher's cells belong
/// to its decode thread and are reused by the next request at once, so the query runs on a context of its own, with
/// the adapter set only there: prompt + answer are decoded again (base model), then the query turn (adapter on).
/// That re-decode is the server's extra cost over the library's cache-reusing path (docs/SERVING.md measures it).
/// One request at a time uses the context; others wait for it.
/// </summary>
internal sealed class LoraQueryService : IDisposable
{
    private readonly LoraQuery _query;
    private readonly LlamaContext _context;
    private readonly Generator _generator;
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Refuses (InferenceException naming both files) an adapter trained on another base model.</summary>
    public LoraQueryService(LlamaModel model, string path, int contextSize, int threads)
    {
        var query = LoraQuery.Load(model, path);
        LlamaContext? context = null;
        try
        {
            // Room for the longest prompt + answer the batcher accepts, plus the query turn.
            context = model.CreateContext(new ContextOptions { ContextSize = contextSize + query.SuffixTokens.Count, MaxSequences = 1, Threads = threads });
            _generator = new Generator(context);
        }
        catch
        {
            context?.Dispose();
            query.Dispose();
            throw;
        }
        _query = query;
        _context = context;
    }

    /// <summary>The reading of each choice, in the order given.</summary>
    public async Task<LoraQueryReading[]> AskAsync(int[] promptTokens, IReadOnlyList<GenerationResult> results, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var readings = new LoraQueryReading[results.Count];
            for (int i = 0; i < results.Count; i++) readings[i] = _query.Ask(_generator, promptTokens, results[i].Text, cancellationToken);
            return readings;
        }
        finally { _gate.Release(); }
    }

    public void Dispose()
    {
        _generator.Dispose();
        _context.Dispose();
        _query.Dispose();
        _gate.Dispose();
    }
}
