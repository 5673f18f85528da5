using System.Diagnostics;

namespace UQEngine.Inference;

/// <summary>
/// Time inside llama_decode, split the way throughput is usually reported. A batch in which every token asks for
/// output is a generation step (one new token per live sequence); any other batch is prompt processing (a prompt
/// asks for output at its last token only; teacher-forced scoring counts here too). Single-threaded, like the
/// context that owns it.
/// </summary>
public sealed class DecodeCounters
{
    private long _promptTicks, _generationTicks;

    /// <summary>Tokens decoded as prompt processing.</summary>
    public long PromptTokens { get; private set; }

    /// <summary>Tokens decoded as generation steps.</summary>
    public long GeneratedTokens { get; private set; }

    /// <summary>llama_decode calls.</summary>
    public long Calls { get; private set; }

    public TimeSpan PromptTime => Stopwatch.GetElapsedTime(0, _promptTicks);
    public TimeSpan GenerationTime => Stopwatch.GetElapsedTime(0, _generationTicks);

    internal void Record(int tokens, int outputs, long ticks)
    {
        Calls++;
        if (outputs == tokens) { GeneratedTokens += tokens; _generationTicks += ticks; }
        else { PromptTokens += tokens; _promptTicks += ticks; }
    }

    /// <summary>A copy of the current values.</summary>
    public DecodeCounterSnapshot Snapshot() => new(PromptTokens, PromptTime.TotalSeconds, GeneratedTokens, GenerationTime.TotalSeconds, Calls);

    public void Reset()
    {
        PromptTokens = GeneratedTokens = Calls = 0;
        _promptTicks = _generationTicks = 0;
    }
}

/// <summary>
/// Decode work between two points: tokens and seconds for prompt processing and generation, and their rates
/// (tokens/s; null when no time was spent).
/// </summary>
public sealed record DecodeCounterSnapshot(long PromptTokens, double PromptSeconds, long GeneratedTokens, double GenerationSeconds, long Calls)
{
    public double? PromptTokensPerSecond => PromptSeconds > 0 ? PromptTokens / PromptSeconds : null;
    public double? GenerationTokensPerSecond => GenerationSeconds > 0 ? GeneratedTokens / GenerationSeconds : null;

    /// <summary>The work done since <paramref name="earlier"/>.</summary>
    public DecodeCounterSnapshot Since(DecodeCounterSnapshot earlier) => new(
        PromptTokens - earlier.PromptTokens, PromptSeconds - earlier.PromptSeconds,
        GeneratedTokens - earlier.GeneratedTokens, GenerationSeconds - earlier.GenerationSeconds, Calls - earlier.Calls);
}
