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
        var cp = LlamaNative.llama_sampler_chain_default_params();
        cp.NoPerf = 1;
        _chain = new SafeLlamaSamplerHandle(LlamaNative.llama_sampler_chain_init(cp));
        if (options.IsGreedy)
        {
            LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_greedy());
            return;
        }
        if (options.TopK > 0) LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_top_k(options.TopK));
        if (options.TopP < 1) LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_top_p(options.TopP, 1));
        if (options.MinP > 0) LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_min_p(options.MinP, 1));
        LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_temp(options.Temperature));
        LlamaNative.llama_sampler_chain_add(_chain, LlamaNative.llama_sampler_init_dist(unchecked(options.Seed + seedOffset)));
    }

    /// <summary>Samples from the logits at a batch index of the context's last decode, and accepts the token.</summary>
    public int Sample(LlamaContext context, int batchIndex)
    {
        context.GetLogits(batchIndex); // validates the index: llama.cpp asserts (aborts) on a bad one
        return LlamaNative.llama_sampler_sample(_chain, context.Handle, batchIndex);
    }

    public void Reset() => LlamaNative.llama_sampler_reset(_chain);

    public void Dispose() => _chain.Dispose();
}
