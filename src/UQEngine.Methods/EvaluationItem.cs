namespace UQEngine.Methods;

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
