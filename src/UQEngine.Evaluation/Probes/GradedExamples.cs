using UQEngine.Evaluation.Datasets;
using UQEngine.Evaluation.Grading;
using UQEngine.Inference;
using UQEngine.Uncertainty;
using UQEngine.Methods;

using UQEngine.Methods.Probes;

namespace UQEngine.Evaluation.Probes;

/// <summary>One answer to a dataset item, graded, with the reading model's features at the recorded layers.</summary>
/// <param name="Item">The dataset item.</param>
/// <param name="Response">The answer text (generated, or given for teacher forcing).</param>
/// <param name="Prediction">What the grader extracted from it.</param>
/// <param name="Correct">The grade.</param>
/// <param name="Features">The reading model's features at the recorded layers.</param>
/// <param name="Scores">The answer's token-probability scores as the reading model saw it (for baselines on the same items).</param>
public sealed record GradedExample(EvaluationItem Item, string Response, string? Prediction, bool Correct, AnswerFeatures Features, TokenProbabilityScores Scores);

/// <summary>How graded examples are produced.</summary>
public sealed record GradedExampleOptions
{
    /// <summary>Most tokens of each answer (greedy, stops at a newline, as <c>uqengine eval</c> answers).</summary>
    public int AnswerMaxTokens { get; init; } = 32;

    /// <summary>Wrap prompts in the model's chat template when it has one.</summary>
    public bool UseChatTemplate { get; init; } = true;
}

/// <summary>
/// Produces graded examples for probes: the model answers each item greedily (as <c>uqengine eval</c> does), the answer
/// is graded with the evaluation graders, and the features are read during that same generation. For cross-model
/// probes, <see cref="TeacherForced"/> reads answers another model wrote.
/// </summary>
public static class GradedExamples
{
    /// <summary>Items whose metadata "split" equals <paramref name="split"/> (case-insensitive); "all" or null keeps every item.</summary>
    public static IReadOnlyList<EvaluationItem> Split(IReadOnlyList<EvaluationItem> items, string? split)
    {
        if (string.IsNullOrWhiteSpace(split) || split.Equals("all", StringComparison.OrdinalIgnoreCase)) return items;
        var selected = items.Where(i => i.Metadata.TryGetValue("split", out string? s) && s.Equals(split, StringComparison.OrdinalIgnoreCase)).ToList();
        if (selected.Count == 0)
        {
            var known = items.Select(i => i.Metadata.GetValueOrDefault("split")).Where(s => s is not null).Distinct().ToList();
            throw new ArgumentException($"no item has split '{split}'" + (known.Count > 0 ? $"; the dataset's splits: {string.Join(", ", known)}" : "; the items carry no \"split\" metadata (use --split all)"));
        }
        return selected;
    }

    /// <summary>Grades a response the way <c>uqengine eval</c>'s generated route does.</summary>
    public static (string? Prediction, bool Correct) Grade(EvaluationItem item, string response)
    {
        if (item.Kind == EvaluationItemKind.MultipleChoice)
        {
            string? letter = ChoiceLetterExtractor.Extract(response, item.Options.Count, item.Options)?.ToString();
            return (letter, letter == item.Answer);
        }
        string prediction = OpenAnswerGrader.ExtractAnswer(response);
        return (prediction, OpenAnswerGrader.ExactMatch(prediction, item.AcceptedAnswers()));
    }

    /// <summary>The model answers and is read at once. The generator's context must expose <paramref name="layers"/>.</summary>
    public static List<GradedExample> Generate(Generator generator, IReadOnlyList<EvaluationItem> items, IReadOnlyList<int> layers, GradedExampleOptions? options = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new GradedExampleOptions();
        var prompts = new ItemPrompts(generator.Context.Model, options.UseChatTemplate);
        var list = new List<GradedExample>(items.Count);
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (answer, features) = ProbeFeatureExtractor.Generate(generator, prompts.Answer(item), GreedyGenerationStatistic.AnswerOptions(options.AnswerMaxTokens), layers, cancellationToken);
            var (prediction, correct) = Grade(item, answer.Text);
            list.Add(new GradedExample(item, answer.Text, prediction, correct, features, answer.Uncertainty));
            progress?.Report(list.Count);
        }
        return list;
    }

    /// <summary>Greedy answers of a (writer) model, by item id: what a cross-model probe reads.</summary>
    public static Dictionary<string, string> Answers(Generator writer, IReadOnlyList<EvaluationItem> items, GradedExampleOptions? options = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new GradedExampleOptions();
        var prompts = new ItemPrompts(writer.Context.Model, options.UseChatTemplate);
        var answers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            answers[item.Id] = writer.Generate(prompts.Answer(item), GreedyGenerationStatistic.AnswerOptions(options.AnswerMaxTokens) with { TokenStatistics = false }, cancellationToken).Text;
            progress?.Report(answers.Count);
        }
        return answers;
    }

    /// <summary>
    /// The reader model reads (teacher-forced) each item's given answer after its own prompt; the answer is graded
    /// against the item. The reader's context must expose <paramref name="layers"/>.
    /// </summary>
    public static List<GradedExample> TeacherForced(Generator reader, IReadOnlyList<EvaluationItem> items, IReadOnlyDictionary<string, string> answers, IReadOnlyList<int> layers, GradedExampleOptions? options = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new GradedExampleOptions();
        var prompts = new ItemPrompts(reader.Context.Model, options.UseChatTemplate);
        var list = new List<GradedExample>(items.Count);
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!answers.TryGetValue(item.Id, out string? answer)) throw new ArgumentException($"no answer for item '{item.Id}'");
            var (scored, features) = ProbeFeatureExtractor.TeacherForce(reader, prompts.Answer(item), answer, layers, cancellationToken);
            var (prediction, correct) = Grade(item, answer);
            list.Add(new GradedExample(item, answer, prediction, correct, features, scored.Uncertainty));
            progress?.Report(list.Count);
        }
        return list;
    }
}
