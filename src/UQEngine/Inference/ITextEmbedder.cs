namespace UQEngine.Inference;

/// <summary>Turns texts into sentence embeddings (an embedding model, pooled).</summary>
public interface ITextEmbedder
{
    /// <summary>One embedding per text, all of the same length.</summary>
    IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts, CancellationToken cancellationToken = default);
}
