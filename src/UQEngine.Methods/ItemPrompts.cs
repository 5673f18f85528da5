using System.Text;
using UQEngine.Inference;

namespace UQEngine.Methods;

/// <summary>
/// The prompts of an evaluation: the question (multiple choice lists the options lettered A..J and asks for the
/// letter), and the two verbal-confidence follow-ups. Each is a user message in the model's chat template when it
/// has one (so generation starts right after the assistant prefix), else plain text ending in a label. Without a
/// model (a remote endpoint, which applies its own template to chat messages) the strings are the plain-text form;
/// the message bodies are <see cref="AnswerInstruction"/>, <see cref="VerbalNumericInstruction"/> and
/// <see cref="VerbalLinguisticInstruction"/>, the labels <see cref="AnswerLabel"/> etc.
/// </summary>
public sealed class ItemPrompts(LlamaModel? model, bool useChatTemplate = true)
{
    public const string AnswerLabel = "Answer:", VerbalNumericLabel = "Confidence:", VerbalLinguisticLabel = "Likelihood:";

    private readonly bool _chat = useChatTemplate && model?.ChatTemplate is not null;

    /// <summary>True when prompts are wrapped in the chat template.</summary>
    public bool UsesChatTemplate => _chat;

    /// <summary>The question text the model answers.</summary>
    public string Answer(EvaluationItem item) => Wrap(AnswerInstruction(item), AnswerLabel);

    /// <summary>The question as the user's message (instruction, question, lettered options), without any template.</summary>
    public static string AnswerInstruction(EvaluationItem item)
    {
        if (item.Prompt is { Length: > 0 } own) return own;
        var sb = new StringBuilder();
        if (item.Kind == EvaluationItemKind.MultipleChoice)
        {
            sb.Append("Answer the following multiple choice question with the letter of the correct option only.\n\n");
            sb.Append("Question: ").Append(item.Question.Trim()).Append('\n');
            for (int i = 0; i < item.Options.Count; i++) sb.Append(EvaluationItem.LetterOf(i)).Append(". ").Append(item.Options[i].Trim()).Append('\n');
        }
        else
        {
            sb.Append("Answer the following question with a short phrase only.\n\n");
            sb.Append("Question: ").Append(item.Question.Trim()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Asks for a 0–100 confidence that <paramref name="proposedAnswer"/> is correct.</summary>
    public string VerbalNumeric(EvaluationItem item, string proposedAnswer) => Wrap(VerbalNumericInstruction(item, proposedAnswer), VerbalNumericLabel);

    /// <summary>The body of <see cref="VerbalNumeric"/>, without any template.</summary>
    public static string VerbalNumericInstruction(EvaluationItem item, string proposedAnswer) =>
        $"Question: {item.Question.Trim()}\n{OptionsBlock(item)}Proposed answer: {proposedAnswer.Trim()}\n\n" +
        "How confident are you that the proposed answer is correct? Reply with a number from 0 to 100 only.\n";

    /// <summary>Asks for one phrase of <see cref="ProbabilityPhrases"/> describing how likely the answer is correct.</summary>
    public string VerbalLinguistic(EvaluationItem item, string proposedAnswer) => Wrap(VerbalLinguisticInstruction(item, proposedAnswer), VerbalLinguisticLabel);

    /// <summary>The body of <see cref="VerbalLinguistic"/>, without any template.</summary>
    public static string VerbalLinguisticInstruction(EvaluationItem item, string proposedAnswer) =>
        $"Question: {item.Question.Trim()}\n{OptionsBlock(item)}Proposed answer: {proposedAnswer.Trim()}\n\n" +
        $"How likely is it that the proposed answer is correct? Reply with exactly one of these phrases: {ProbabilityPhrases.PromptList()}.\n";

    private static string OptionsBlock(EvaluationItem item)
    {
        if (item.Kind != EvaluationItemKind.MultipleChoice) return "";
        var sb = new StringBuilder();
        for (int i = 0; i < item.Options.Count; i++) sb.Append(EvaluationItem.LetterOf(i)).Append(". ").Append(item.Options[i].Trim()).Append('\n');
        return sb.ToString();
    }

    private string Wrap(string body, string label) =>
        _chat ? ChatTemplate.Format(model!, [ChatMessage.User(body.TrimEnd())]) : body + label;
}

/// <summary>
/// The token ids whose logits stand for the option letters at the answer position. When the prompt ends in
/// whitespace (a chat template's "assistant\n", or "Answer: ") the model's next token is a bare letter, so "A".."J"
/// are used; otherwise (prompt ends with "Answer:") the letter comes with its leading space, " A".." J". The chosen
/// spelling must be one token per letter, all distinct; if it is not, the other spelling is tried, then an error.
/// </summary>
public sealed record OptionLetterTokens(IReadOnlyList<int> TokenIds, bool LeadingSpace)
{
    public static OptionLetterTokens Resolve(Vocabulary vocabulary, int optionCount, string prompt)
    {
        bool preferSpace = prompt.Length > 0 && !char.IsWhiteSpace(prompt[^1]);
        return TryResolve(vocabulary, optionCount, preferSpace) ?? TryResolve(vocabulary, optionCount, !preferSpace)
            ?? throw new InferenceException($"the model's vocabulary has no single tokens for the option letters A..{EvaluationItem.LetterOf(optionCount - 1)} (with or without a leading space), so option probabilities cannot be read");
    }

    private static OptionLetterTokens? TryResolve(Vocabulary vocabulary, int optionCount, bool leadingSpace)
    {
        var ids = new int[optionCount];
        for (int i = 0; i < optionCount; i++)
        {
            int[] t = vocabulary.Tokenize((leadingSpace ? " " : "") + EvaluationItem.LetterOf(i), addSpecial: false, parseSpecial: false);
            if (t.Length != 1) return null;
            ids[i] = t[0];
        }
        return ids.Distinct().Count() == optionCount ? new OptionLetterTokens(ids, leadingSpace) : null;
    }
}

/// <summary>The option-letter distribution at the answer position: softmax over just the letters' logits.</summary>
public sealed record OptionProbabilities(OptionLetterTokens Tokens, IReadOnlyList<double> Logits, IReadOnlyList<double> Probabilities)
{
    /// <summary>Index of the most probable option (the first on ties).</summary>
    public int BestIndex
    {
        get
        {
            int best = 0;
            for (int i = 1; i < Probabilities.Count; i++) if (Probabilities[i] > Probabilities[best]) best = i;
            return best;
        }
    }

    public char BestLetter => EvaluationItem.LetterOf(BestIndex);
}

/// <summary>Reads the letter logits from the first decoding step after the answer prompt (one prompt decode).</summary>
public sealed class OptionLogitsStatistic : IItemStatistic
{
    public string Name => StatisticNames.OptionLogits;
    public IReadOnlyList<string> Dependencies => [];

    public bool AppliesTo(EvaluationItem item) => item.Kind == EvaluationItemKind.MultipleChoice;

    public object Compute(StatisticContext context)
    {
        if (context.Planned.Contains(StatisticNames.GreedyGeneration))
        {
            // The greedy answer reads the letters at its first step (one prompt decode for both).
            context.Get<GenerationResult>(StatisticNames.GreedyGeneration);
            if (context.Has(StatisticNames.OptionLogits)) return context.Get<OptionProbabilities>(StatisticNames.OptionLogits);
        }
        string prompt = context.Prompts.Answer(context.Item);
        var tokens = OptionLetterTokens.Resolve(context.Generator.Context.Model.Vocabulary, context.Item.Options.Count, prompt);
        var logits = new double[tokens.TokenIds.Count];
        var options = new GenerationOptions
        {
            MaxTokens = 1, TokenStatistics = false,
            OnStep = (in DecodeStep step) =>
            {
                if (step.Index == 0) ReadLetters(step, tokens, logits);
            },
        };
        context.Generator.Generate(prompt, options, context.CancellationToken);
        return new OptionProbabilities(tokens, logits, Softmax(logits));
    }

    internal static void ReadLetters(in DecodeStep step, OptionLetterTokens tokens, double[] logits)
    {
        for (int i = 0; i < logits.Length; i++) logits[i] = step.Logits[tokens.TokenIds[i]];
    }

    internal static double[] Softmax(ReadOnlySpan<double> logits)
    {
        double max = double.NegativeInfinity;
        foreach (double l in logits) max = Math.Max(max, l);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }
}
