namespace UQEngine.Evaluation.Datasets;

/// <summary>A file format <see cref="DatasetRegistry.Open"/> can read.</summary>
public enum DatasetFormat
{
    /// <summary>Decide from the extension and content: .jsonl → project JSONL; .json with "Data" → TriviaQA, a JSON
    /// array → MMLU-Pro; .parquet with an "options" column → MMLU-Pro, otherwise TriviaQA.</summary>
    Auto,
    Jsonl,
    MmluPro,
    TriviaQa,
}

/// <summary>A dataset that ships with an assembly and is opened by name (for example the demo world).</summary>
public interface IBuiltInDataset
{
    /// <summary>The name users type (<c>uqengine eval --dataset NAME</c>); case-insensitive.</summary>
    string Name { get; }

    /// <summary>One line for listings.</summary>
    string Description { get; }

    EvaluationDataset Load(DatasetReadOptions options);
}

/// <summary>
/// Opens a dataset by file path or built-in name. Built-in datasets are registered by the assemblies that own them
/// (<see cref="Register"/>), so this layer does not depend on them.
/// </summary>
public sealed class DatasetRegistry
{
    private readonly Dictionary<string, IBuiltInDataset> _builtIn = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _lock = new();

    /// <summary>The process-wide registry the CLI uses.</summary>
    public static DatasetRegistry Default { get; } = new();

    /// <summary>Adds (or replaces) a built-in dataset.</summary>
    public void Register(IBuiltInDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        lock (_lock) _builtIn[dataset.Name] = dataset;
    }

    /// <summary>The registered built-in datasets, by name.</summary>
    public IReadOnlyList<IBuiltInDataset> BuiltIn
    {
        get { lock (_lock) return [.. _builtIn.Values.OrderBy(d => d.Name, StringComparer.OrdinalIgnoreCase)]; }
    }

    /// <summary>
    /// Opens <paramref name="pathOrName"/>: an existing file is read in <paramref name="format"/>; otherwise a
    /// registered built-in name. Throws FileNotFoundException naming both possibilities when neither matches.
    /// </summary>
    public EvaluationDataset Open(string pathOrName, DatasetFormat format = DatasetFormat.Auto, DatasetReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrName);
        options ??= DatasetReadOptions.Default;
        if (File.Exists(pathOrName)) return OpenFile(pathOrName, format, options);
        IBuiltInDataset? builtIn;
        lock (_lock) _builtIn.TryGetValue(pathOrName, out builtIn);
        if (builtIn is not null) return builtIn.Load(options);
        string names = BuiltIn.Count == 0 ? "none are registered" : "built-in: " + string.Join(", ", BuiltIn.Select(d => d.Name));
        throw new FileNotFoundException($"dataset '{pathOrName}' is neither a file nor a built-in dataset ({names})", pathOrName);
    }

    /// <summary>Reads a dataset file in the given (or detected) format.</summary>
    public static EvaluationDataset OpenFile(string path, DatasetFormat format = DatasetFormat.Auto, DatasetReadOptions? options = null)
    {
        if (format == DatasetFormat.Auto) format = DetectFormat(path);
        return format switch
        {
            DatasetFormat.Jsonl => JsonlDatasetReader.Read(path, options),
            DatasetFormat.MmluPro => MmluProImporter.Import(path, options),
            DatasetFormat.TriviaQa => TriviaQaImporter.Import(path, options),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown dataset format"),
        };
    }

    /// <summary>Guesses a file's format from its extension and first bytes (see <see cref="DatasetFormat.Auto"/>).</summary>
    public static DatasetFormat DetectFormat(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".jsonl":
                return DatasetFormat.Jsonl;
            case ".json":
            {
                using var reader = new StreamReader(path);
                char[] head = new char[4096];
                int n = reader.ReadBlock(head, 0, head.Length);
                string text = new string(head, 0, n).TrimStart();
                if (text.StartsWith('[')) return DatasetFormat.MmluPro;
                if (text.StartsWith('{') && text.Contains("\"Data\"", StringComparison.Ordinal)) return DatasetFormat.TriviaQa;
                throw new DatasetFormatException(path, 0, "cannot tell the format of this JSON file; pass --format mmlu-pro or triviaqa");
            }
            case ".parquet":
            {
                var schema = Parquet.ParquetReader.ReadSchemaAsync(path).GetAwaiter().GetResult();
                return schema.Fields.Any(f => f.Name == "options") ? DatasetFormat.MmluPro : DatasetFormat.TriviaQa;
            }
            default:
                throw new DatasetFormatException(path, 0, $"unknown dataset extension '{ext}' (expected .jsonl, .json or .parquet); pass --format");
        }
    }
}
