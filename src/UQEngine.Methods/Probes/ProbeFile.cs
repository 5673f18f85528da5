using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Gguf;
using UQEngine.Inference;

namespace UQEngine.Methods.Probes;

/// <summary>Which model a probe reads: the GGUF file's SHA-256 and the shape facts that make its hidden states fit.</summary>
public sealed record ModelIdentity(string Sha256, string FileName, long FileSize, string Architecture, int EmbeddingSize, int LayerCount, int VocabularySize)
{

    public static ModelIdentity Of(LlamaModel model)
    {
        var info = new FileInfo(model.Path);
        var f = model.Facts;
        return new ModelIdentity(ModelFiles.Sha256(info.FullName), info.Name, info.Length, f.Architecture, f.EmbeddingSize, f.LayerCount, f.VocabularySize);
    }

    public override string ToString() => $"'{FileName}' (sha256 {Sha256[..Math.Min(12, Sha256.Length)]}…, {Architecture}, n_embd {EmbeddingSize}, n_layer {LayerCount})";
}

/// <summary>
/// A probe as stored on disk (JSON, versioned): the model it reads, the features, the weights with their
/// normalization, the Platt parameters and the training metrics. <see cref="EnsureFits"/> refuses another model.
/// </summary>
public sealed record ProbeFile
{
    /// <summary>The format this build writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>The model whose hidden states the probe reads.</summary>
    public required ModelIdentity Model { get; init; }
    /// <summary>For a cross-model probe: the model that wrote the answers (teacher-forced into <see cref="Model"/>); null otherwise.</summary>
    public ModelIdentity? AnswersFrom { get; init; }
    public required ProbeFeatureSpec Features { get; init; }
    /// <summary>Length of the feature vector: n_embd, plus the token-statistic features when used.</summary>
    public required int Dimension { get; init; }
    public IReadOnlyList<string> TokenFeatureNames { get; init; } = [];
    public required ProbeWeights Weights { get; init; }
    /// <summary>Where the training examples came from (dataset, split, item count), for the record.</summary>
    public string? TrainedOn { get; init; }
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UtcNow;

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.Strict,
    };

    public void Save(string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));
    }

    /// <summary>Reads and validates a probe file; errors name the file and the problem.</summary>
    public static ProbeFile Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"probe file '{path}' does not exist", path);
        ProbeFile? probe;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (!doc.RootElement.TryGetProperty("format_version", out var v) || !v.TryGetInt32(out int version))
                throw new FormatException("it has no format_version");
            if (version != CurrentFormatVersion)
                throw new FormatException($"it has format version {version}; this build reads version {CurrentFormatVersion}");
            probe = doc.RootElement.Deserialize<ProbeFile>(JsonOptions);
            if (probe is null) throw new FormatException("it is empty");
            probe.Weights.Validate();
            if (probe.Dimension != probe.Weights.Dimension) throw new FormatException($"dimension {probe.Dimension} but the weights read {probe.Weights.Dimension} features");
            if (probe.Dimension != probe.Features.Dimension(probe.Model.EmbeddingSize)) throw new FormatException($"dimension {probe.Dimension} does not match n_embd {probe.Model.EmbeddingSize} with the features {probe.Features}");
        }
        catch (Exception e) when (e is JsonException or FormatException or NotSupportedException or InvalidOperationException)
        {
            throw new InvalidDataException($"probe file '{path}' is not a valid probe: {e.Message}", e);
        }
        return probe;
    }

    /// <summary>Throws an <see cref="InvalidOperationException"/> naming both models when <paramref name="model"/> is not the one the probe reads.</summary>
    public void EnsureFits(LlamaModel model)
    {
        var actual = ModelIdentity.Of(model);
        if (actual.Sha256 != Model.Sha256 || actual.EmbeddingSize != Model.EmbeddingSize || actual.LayerCount != Model.LayerCount)
            throw new InvalidOperationException($"this probe reads the hidden states of model {Model} but the loaded model is {actual}; train a probe for this model (uqengine probe train)");
    }
}
