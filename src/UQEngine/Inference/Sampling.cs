using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>How the next token is chosen. Temperature 0 (the default) is greedy decoding.</summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; }
    /// <summary>Keep the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling mass; 1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens below MinP x the top probability; 0 = off.</summary>
    public float MinP { get; init; }
    /// <summary>Seed of the random draw; sample i of a batch uses Seed + i.</summary>
    public uint Seed { get; init; } = 42;

    public bool IsGreedy => Temperature <= 0f;

    public static SamplingOptions Greedy { get; } = new();

    internal void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be >= 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top_k must be >= 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top_p must be in (0, 1]");
        if (!(MinP >= 0 && MinP < 1)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "min_p must be in [0, 1)");
    }
}

/// <summary>A llama.cpp sampler chain (top-k, top-p, min-p, temperature, seeded draw) for one sequence.</summary>
public sealed class TokenSampler : IDisposable
{
    private readonly SafeLlamaSamplerHandle _chain;

    public TokenSampler(SamplingOptions options, uint seedOffset = 0)
    {
        options.Validate();
        NativeLibraryLoader.EnsureLoaded();
        _chain = SafeLlamaSamplerHandle.CreateChain();
        if (options.IsGreedy)
        {
            _chain.AddGreedy();
            return;
        }
        if (options.TopK > 0) _chain.AddTopK(options.TopK);
        if (options.TopP < 1) _chain.AddTopP(options.TopP, 1);
        if (options.MinP > 0) _chain.AddMinP(options.MinP, 1);
        _chain.AddTemperature(options.Temperature);
        _chain.AddDistribution(unchecked(options.Seed + seedOffset));
    }

    /// <summary>Samples from the logits at a batch index of the context's last decode, and accepts the token.</summary>
    public int Sample(LlamaContext context, int batchIndex)
    {
        context.GetLogits(batchIndex); // validates the index: llama.cpp asserts (aborts) on a bad one
        return _chain.Sample(context.Handle, batchIndex);
    }

    /// <summary>
    /// Samples from candidates the caller prepared (a grammar's masked logits) and accepts the token, as
    /// <see cref="Sample"/> does for a context's logits. The chain may reorder or shrink the array.
    /// </summary>
    internal unsafe int SampleFrom(ref LlamaTokenDataArray candidates)
    {
        _chain.Apply(ref candidates);
        if (candidates.Selected < 0 || (ulong)candidates.Selected >= candidates.Size)
            throw new InferenceException("the sampler chain selected no token");
        int token = candidates.Data[candidates.Selected].Id;
        _chain.Accept(token);
        return token;
    }

    public void Reset() => _chain.Reset();

    public void Dispose() => _chain.Dispose();
}
