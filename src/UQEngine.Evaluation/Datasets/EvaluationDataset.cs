using UQEngine.Methods;

namespace UQEngine.Evaluation.Datasets;

/// <summary>A line of a dataset file that was skipped (with <see cref="OnBadLine.Skip"/>), and why.</summary>
public sealed record SkippedLine(int LineNumber, string Reason);

/// <summary>
/// Items loaded from one source. <see cref="SkippedLines"/> records every line that was dropped, so a report can say
/// the evaluation covers fewer items than the file has instead of claiming completeness.
/// </summary>
public sealed record EvaluationDataset(string Name, string Source, IReadOnlyList<EvaluationItem> Items, IReadOnlyList<SkippedLine> SkippedLines)
{
    /// <summary>Lines (or records) dropped as malformed.</summary>
    public int SkippedCount => SkippedLines.Count;

    /// <summary>True when nothing was skipped.</summary>
    public bool IsComplete => SkippedLines.Count == 0;

    /// <summary>The first <paramref name="limit"/> items (all when null), keeping the record of skipped lines.</summary>
    public EvaluationDataset Take(int? limit) => limit is null || limit >= Items.Count ? this : this with { Items = [.. Items.Take(Math.Max(0, limit.Value))] };

    /// <summary>
    /// SHA-256 (lower-case hex) of the items as JSON lines, in order: the same items give the same hash wherever and
    /// however they were read (a file on any machine, a built-in name), so run.json can pin what shards evaluated.
    /// </summary>
    public string ItemsSha256()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var item in Items)
        {
            hash.AppendData(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(item));
            hash.AppendData("\n"u8);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}

/// <summary>What a reader does with a malformed line or record.</summary>
public enum OnBadLine
{
    /// <summary>Throw a <see cref="DatasetFormatException"/> naming the file and line (the default).</summary>
    Stop,

    /// <summary>Drop it and record it in <see cref="EvaluationDataset.SkippedLines"/>.</summary>
    Skip,
}

/// <summary>How to read a dataset.</summary>
public sealed record DatasetReadOptions
{
    public static DatasetReadOptions Default { get; } = new();

    public OnBadLine OnBadLine { get; init; } = OnBadLine.Stop;
}

/// <summary>A malformed dataset file: the message names the file and (1-based) line or record number.</summary>
public sealed class DatasetFormatException(string file, int line, string reason)
    : Exception($"{file}:{line}: {reason}")
{
    public string File { get; } = file;

    /// <summary>1-based line (JSONL) or record (JSON array, parquet row) number; 0 for the file as a whole.</summary>
    public int Line { get; } = line;

    public string Reason { get; } = reason;
}
