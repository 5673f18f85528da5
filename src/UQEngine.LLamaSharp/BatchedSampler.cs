using LLama.Batched;
using LLama.Native;
using LLama.Sampling;
using UQEngine.Inference;

namespace UQEngine.LLamaSharp;

/// <summary>How <see cref="BatchedSampler"/> draws K samples.</summary>
public sealed record BatchedSampleOptions
{
    /// <summary>K: samples of the prompt.</summary>
    public int Samples { get; init; } = 5;
    public int MaxTokens { get; init; } = 64;
    /// <summary>Sampling temperature (1 = the model's distribution; the statistics are always at temperature 1).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Sample i uses seed Seed + i, as UQEngine's generator does.</summary>
    public uint Seed { get; init; } = 42;
    /// <summary>A sample ends when its text contains one of these; the stop text is cut off.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Most likely alternatives recorded per token (0..20).</summary>
    public int TopAlternatives { get; init; }
    /// <summary>
    /// The pipeline that chooses sample i's tokens; default: LLamaSharp's DefaultSamplingPipeline with the settings
    /// above and every other filter off (no min-p, typical-p or repeat penalty), i.e. plain temperature sampling.
    /// </summary>
    public Func<int, ISamplingPipeline>? Pipeline { get; init; }
}

/// <summary>
/// K samples of one prompt on a LLamaSharp <see cref="BatchedExecutor"/>, decoded together: the prompt is read once
/// in one conversation, <see cref="Conversation.Fork"/> shares its KV cells with the other K − 1
/// (llama_memory_seq_cp, as UQEngine's generator shares them), and every step is one <see cref="BatchedExecutor.Infer"/>
/// over all live samples. Each sample is sampled through an <see cref="UncertaintySamplingPipeline"/>, so the results
/// carry per-token uncertainty and sequence scores and feed <see cref="SampleConsistency"/> directly.
/// </summary>
public static class BatchedSampler
{
    /// <summary>Draws the samples. The executor's context needs SeqMax ≥ K and room for prompt + K × MaxTokens cells.</summary>
    public static async Task<IReadOnlyList<GenerationResult>> SampleAsync(BatchedExecutor executor, string prompt, BatchedSampleOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new BatchedSampleOptions();
        if (options.Samples < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Samples, "Samples must be at least 1");
        if (options.MaxTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxTokens, "MaxTokens must be at least 1");
        uint maxSequences = executor.Context.NativeHandle.MaxSeq;
        if (options.Samples > maxSequences)
            throw new ArgumentException($"{options.Samples} samples need {options.Samples} sequences, but the context was created with SeqMax = {maxSequences}; raise ModelParams.SeqMax", nameof(options));

        var promptTokens = executor.Context.Tokenize(prompt, addBos: true, special: true);
        var conversations = new Conversation[options.Samples];
        var pipelines = new UncertaintySamplingPipeline[options.Samples];
        var texts = new string[options.Samples];
        var finish = new FinishReason?[options.Samples];
        try
        {
            for (int i = 0; i < options.Samples; i++)
                pipelines[i] = new UncertaintySamplingPipeline((options.Pipeline ?? DefaultPipeline(options))(i), options.TopAlternatives, sequence: i);
            conversations[0] = executor.Create();
            conversations[0].Prompt(promptTokens);
            await Infer(executor, cancellationToken).ConfigureAwait(false);
            // Forks share the prompt's cells and its last logits: every sample starts from the same distribution.
            for (int i = 1; i < options.Samples; i++) conversations[i] = conversations[0].Fork();
            for (int i = 0; i < options.Samples; i++) texts[i] = "";

            while (true)
            {
                bool any = false;
                for (int i = 0; i < options.Samples; i++)
                {
                    if (finish[i] is not null) continue;
                    var conversation = conversations[i];
                    var token = conversation.Sample(pipelines[i]);
                    var record = pipelines[i].Tokens[^1];
                    if (token.IsEndOfGeneration(executor.Context.Vocab)) { finish[i] = FinishReason.EndOfGeneration; continue; }
                    texts[i] += record.Text;
                    if (CutAtStop(ref texts[i], options.Stop)) { finish[i] = FinishReason.Stop; continue; }
                    if (pipelines[i].Tokens.Count >= options.MaxTokens) { finish[i] = FinishReason.Length; continue; }
                    if (conversation.TokenCount + 1 > executor.Context.ContextSize) { finish[i] = FinishReason.ContextFull; continue; }
                    conversation.Prompt(token);
                    any = true;
                }
                if (!any) break;
                await Infer(executor, cancellationToken).ConfigureAwait(false);
            }
            return [.. Enumerable.Range(0, options.Samples).Select(i =>
                new GenerationResult(i, texts[i], pipelines[i].Tokens, finish[i]!.Value, pipelines[i].Scores, promptTokens.Length, null))];
        }
        finally
        {
            foreach (var c in conversations) c?.Dispose();
            foreach (var p in pipelines) p?.Dispose();
        }
    }

    private static Func<int, ISamplingPipeline> DefaultPipeline(BatchedSampleOptions options) => i => new DefaultSamplingPipeline
    {
        Temperature = options.Temperature,
        TopP = options.TopP,
        TopK = options.TopK,
        MinP = 0,
        TypicalP = 1,
        RepeatPenalty = 1,
        FrequencyPenalty = 0,
        PresencePenalty = 0,
        Seed = unchecked(options.Seed + (uint)i),
    };

    private static async Task Infer(BatchedExecutor executor, CancellationToken cancellationToken)
    {
        var result = await executor.Infer(cancellationToken).ConfigureAwait(false);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"BatchedExecutor.Infer failed ({result})");
    }

    private static bool CutAtStop(ref string text, IReadOnlyList<string> stops)
    {
        int cut = -1;
        foreach (string stop in stops)
        {
            if (string.IsNullOrEmpty(stop)) continue;
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut < 0) return false;
        text = text[..cut];
        return true;
    }
}
