using System.Globalization;
using System.Text;
using UQEngine.Inference;

namespace UQEngine.Demo;

/// <summary>How the model did on one item.</summary>
public sealed record DemoItemResult(DemoItem Item, string OpenAnswer, bool OpenCorrect, double OpenConfidence, string ChoiceLetter, bool ChoiceCorrect, double ChoiceConfidence);

/// <summary>Accuracy of one group of items (an exposure rung, or the additions never in the corpus).</summary>
public sealed record DemoBucket(string Name, DemoFamily Family, int Exposure, int Count, double OpenAccuracy, double ChoiceAccuracy, double MeanOpenConfidence, double MeanChoiceConfidence);

/// <summary>
/// Asks a model the world's questions. Open answer: greedy decoding after the ChatML prompt, correct when the
/// answer text equals the item's answer. Multiple choice: the option letter with the highest logit at the first
/// answer position (among the option letters only), as MMLU-style evaluations score it.
/// </summary>
public sealed class DemoEvaluator : IDisposable
{
    private readonly LlamaModel _model;
    private readonly LlamaContext _context;
    private readonly Generator _generator;
    private readonly int[] _letterTokens;

    public DemoEvaluator(LlamaModel model, int optionCount = 10, int threads = 0)
    {
        _model = model;
        _context = model.CreateContext(new ContextOptions { ContextSize = 256, BatchSize = 256, Threads = threads });
        _generator = new Generator(_context);
        _letterTokens = new int[optionCount];
        for (int i = 0; i < optionCount; i++)
        {
            int[] t = model.Vocabulary.Tokenize(((char)('A' + i)).ToString(), addSpecial: false, parseSpecial: false);
            if (t.Length != 1) throw new InvalidOperationException($"option letter {(char)('A' + i)} is not a single token in '{model.Path}'");
            _letterTokens[i] = t[0];
        }
    }

    public DemoItemResult Evaluate(DemoItem item)
    {
        var open = _generator.Generate(DemoFormat.ChatPrompt(item.Question), new GenerationOptions { MaxTokens = 8 });
        string answer = open.Text.Trim();
        double openConfidence = open.Tokens.Count == 0 ? 0 : Math.Exp(open.Tokens.Sum(t => (double)t.LogProbability));

        float[] letterLogits = new float[_letterTokens.Length];
        int[] letters = _letterTokens;
        var choiceOptions = new GenerationOptions
        {
            MaxTokens = 1,
            TokenStatistics = false,
            OnStep = (in DecodeStep step) =>
            {
                for (int i = 0; i < letters.Length; i++) letterLogits[i] = step.Logits[letters[i]];
            },
        };
        _generator.Generate(DemoFormat.ChatPrompt(item.ChoiceQuestion), choiceOptions);
        int best = 0;
        for (int i = 1; i < letterLogits.Length; i++) if (letterLogits[i] > letterLogits[best]) best = i;
        double max = letterLogits.Max();
        double sum = letterLogits.Sum(l => Math.Exp(l - max));
        double choiceConfidence = 1.0 / sum; // softmax over the letters at the chosen one
        return new DemoItemResult(item, answer, answer == item.Answer, openConfidence, ((char)('A' + best)).ToString(), best == item.AnswerIndex, choiceConfidence);
    }

    public IReadOnlyList<DemoItemResult> Evaluate(IEnumerable<DemoItem> items) => [.. items.Select(Evaluate)];

    /// <summary>Held-out results grouped by family and exposure rung.</summary>
    public static IReadOnlyList<DemoBucket> Buckets(IEnumerable<DemoItemResult> results) =>
        [.. results.GroupBy(r => (r.Item.Family, r.Item.Family == DemoFamily.Recall ? r.Item.Exposure : 0))
            .OrderBy(g => g.Key.Family).ThenBy(g => g.Key.Item2)
            .Select(g => new DemoBucket(
                g.Key.Family == DemoFamily.Recall ? $"recall, seen {g.Key.Item2}x/epoch"
                    : g.First().Item.Split == DemoSplit.Eval ? "addition (never in the corpus)" : "addition (solved in the corpus)",
                g.Key.Family, g.Key.Item2, g.Count(),
                g.Average(r => r.OpenCorrect ? 1.0 : 0.0), g.Average(r => r.ChoiceCorrect ? 1.0 : 0.0),
                g.Average(r => r.OpenConfidence), g.Average(r => r.ChoiceConfidence)))];

    /// <summary>A Markdown table of buckets.</summary>
    public static string MarkdownTable(IReadOnlyList<DemoBucket> buckets)
    {
        var sb = new StringBuilder("| items | n | open-answer accuracy | 10-choice accuracy | mean open confidence |\n|---|---:|---:|---:|---:|\n");
        foreach (var b in buckets)
            sb.Append(CultureInfo.InvariantCulture, $"| {b.Name} | {b.Count} | {b.OpenAccuracy:P0} | {b.ChoiceAccuracy:P0} | {b.MeanOpenConfidence:F2} |\n");
        return sb.ToString();
    }

    public void Dispose()
    {
        _generator.Dispose();
        _context.Dispose();
    }
}
