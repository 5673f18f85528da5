namespace UQEngine.Evaluation.Datasets;

/// <summary>What an item asks for, which decides how it is prompted and graded.</summary>
public enum EvaluationItemKind
{
    /// <summary>A short free-text answer graded by normalized exact match against the answer and its aliases.</summary>
    OpenAnswer,

    /// <summary>Options lettered A..J; the answer is one letter.</summary>
    MultipleChoice,
}

/// <summary>
/// One question of an evaluation dataset. Metadata is free-form (exposure count, task family, source, ...): it is
/// carried into every per-item result and can be used to break the metrics down (<c>--by exposure</c>).
/// </summary>
public sealed record EvaluationItem
{
    /// <summary>The most options a multiple-choice item may have (letters A..J).</summary>
    public const int MaxOptions = 10;

    /// <summary>Unique within its dataset; resuming a run skips the ids already in the results.</summary>
    public required string Id { get; init; }

    public required string Question { get; init; }

    public required EvaluationItemKind Kind { get; init; }

    /// <summary>Open answer: the reference answer. Multiple choice: the letter of the correct option ("A".."J").</summary>
    public required string Answer { get; init; }

    /// <summary>Open answer: other accepted answers (the reference itself need not be repeated).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>Multiple choice: the option texts, lettered A, B, ... in this order.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];

    /// <summary>Optional subject or category (MMLU-Pro's "category"); a breakdown is reported per category.</summary>
    public string? Category { get; init; }

    /// <summary>
    /// The exact user message to send instead of the standard instruction and question (null = the standard one).
    /// For a built-in dataset whose model was trained on one wording, like the demo world.
    /// </summary>
    public string? Prompt { get; init; }

    /// <summary>Free-form fields, each scalar rendered as text (numbers in invariant form); nested values as compact JSON.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The letter of option <paramref name="index"/> (0 → 'A').</summary>
    public static char LetterOf(int index) => (char)('A' + index);

    /// <summary>Every accepted open answer: the reference first, then the aliases, without duplicates.</summary>
    public IReadOnlyList<string> AcceptedAnswers() => [.. new[] { Answer }.Concat(Aliases).Where(a => !string.IsNullOrWhiteSpace(a)).Distinct(StringComparer.Ordinal)];

    /// <summary>Checks the invariants a grader relies on; returns the problem, or null when the item is valid.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Id)) return "the id is empty";
        if (string.IsNullOrWhiteSpace(Question)) return "the question is empty";
        if (Kind == EvaluationItemKind.OpenAnswer)
            return string.IsNullOrWhiteSpace(Answer) && Aliases.Count == 0 ? "an open-answer item needs an answer or aliases" : null;
        if (Options.Count is < 2 or > MaxOptions) return $"a multiple-choice item needs 2..{MaxOptions} options, not {Options.Count}";
        if (Answer.Length != 1 || Answer[0] < 'A' || Answer[0] >= 'A' + Options.Count)
            return $"the answer must be one letter A..{LetterOf(Options.Count - 1)}, not '{Answer}'";
        return null;
    }
}

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
