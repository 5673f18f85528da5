using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>Owns a llama_sampler* (a chain; the chain frees the samplers added to it).</summary>
public sealed unsafe class SafeLlamaSamplerHandle : SafeHandle
{
    public SafeLlamaSamplerHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    internal SafeLlamaSamplerHandle(nint handle) : this() => SetHandle(handle);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaNative.llama_sampler_free(handle); return true; }

    /// <summary>An empty sampler chain (llama_sampler_chain_init with the default parameters, performance counters off).</summary>
    internal static SafeLlamaSamplerHandle CreateChain()
    {
        var cp = LlamaNative.llama_sampler_chain_default_params();
        cp.NoPerf = 1;
        return new SafeLlamaSamplerHandle(LlamaNative.llama_sampler_chain_init(cp));
    }

    // Each Add* creates a sampler and hands it to this chain, which then owns (and frees) it.
    internal void AddGreedy() => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_greedy());
    internal void AddTopK(int k) => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_top_k(k));
    internal void AddTopP(float p, nuint minKeep) => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_top_p(p, minKeep));
    internal void AddMinP(float p, nuint minKeep) => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_min_p(p, minKeep));
    internal void AddTemperature(float temperature) => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_temp(temperature));
    internal void AddDistribution(uint seed) => LlamaNative.llama_sampler_chain_add(this, LlamaNative.llama_sampler_init_dist(seed));

    /// <summary>
    /// llama_sampler_sample: samples from the logits at <paramref name="batchIndex"/> of the context's last decode and
    /// accepts the token. llama.cpp asserts (aborts) on an index that did not ask for output: validate it first.
    /// </summary>
    internal int Sample(SafeLlamaContextHandle context, int batchIndex) => LlamaNative.llama_sampler_sample(this, context, batchIndex);

    /// <summary>
    /// A grammar sampler (llama_sampler_init_grammar) for GBNF text with the given root rule; null when llama.cpp
    /// cannot parse it (it logs the reason). Not part of a chain: the caller applies it to candidates itself.
    /// </summary>
    internal static SafeLlamaSamplerHandle? CreateGrammar(LlamaVocab vocab, string grammar, string root)
    {
        byte[] g = Encoding.UTF8.GetBytes(grammar + "\0");
        byte[] r = Encoding.UTF8.GetBytes(root + "\0");
        nint sampler;
        fixed (byte* gp = g)
        fixed (byte* rp = r)
            sampler = LlamaNative.llama_sampler_init_grammar(vocab.Pointer, gp, rp);
        return sampler == 0 ? null : new SafeLlamaSamplerHandle(sampler);
    }

    /// <summary>llama_sampler_apply: filters or rescales the candidates in place (a grammar sets rejected logits to -inf).</summary>
    internal void Apply(ref LlamaTokenDataArray candidates)
    {
        fixed (LlamaTokenDataArray* c = &candidates) LlamaNative.llama_sampler_apply(this, c);
    }

    /// <summary>llama_sampler_accept: advances the sampler's state past a chosen token.</summary>
    internal void Accept(int token) => LlamaNative.llama_sampler_accept(this, token);

    internal void Reset() => LlamaNative.llama_sampler_reset(this);
}
