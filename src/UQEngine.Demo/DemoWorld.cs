using UQEngine.Methods;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using UQEngine.Models;

namespace UQEngine.Demo;

/// <summary>Settings of a <see cref="DemoWorld"/>. The same options give the same world and the same corpus.</summary>
public sealed record DemoWorldOptions
{
    public ulong Seed { get; init; } = 2026;

    /// <summary>Fictional people; each has one fact per relation (city, colour, pet, lucky number, birth month).</summary>
    public int PersonCount { get; init; } = 80;

    /// <summary>
    /// How many times per epoch a fact is stated (and asked); facts are spread evenly over the rungs.
    /// </summary>
    public ImmutableArray<int> ExposureLadder { get; init; } = [0, 1, 2, 4, 8, 16, 32];

    /// <summary>
    /// Share of the facts on each rung (rung 0 included) whose items form the evaluation split; the others form the
    /// training split. The split is the harness's (probes, calibrators and UaIT are fitted on the training split and
    /// reported on the evaluation split): the language model is taught both splits' facts alike, at their exposure.
    /// </summary>
    public double HeldOutFraction { get; init; } = 0.5;

    /// <summary>Question-and-answer chats per fact per exposure.</summary>
    public int QuestionsPerExposure { get; init; } = 1;

    /// <summary>Expected multiple-choice chats per fact per exposure (each drawn with this probability; options reshuffled per copy).</summary>
    public double ChoicesPerExposure { get; init; } = 0.25;

    /// <summary>Operands of the arithmetic family run from 1 to this.</summary>
    public int ArithmeticMax { get; init; } = 20;

    /// <summary>Share of the addition problems held out for evaluation.</summary>
    public double ArithmeticHeldOutFraction { get; init; } = 0.25;

    /// <summary>Share of the training addition problems that also appear in multiple-choice form each epoch.</summary>
    public double ArithmeticChoiceFraction { get; init; } = 0.25;

    /// <summary>Options of a multiple-choice question (letters A, B, ...); 10 as in MMLU-Pro.</summary>
    public int OptionCount { get; init; } = 10;

    internal void Validate()
    {
        if (PersonCount < 1) throw new ArgumentException("PersonCount must be positive");
        if (ExposureLadder.IsDefaultOrEmpty || ExposureLadder.Any(e => e < 0)) throw new ArgumentException("ExposureLadder needs non-negative rungs");
        if (QuestionsPerExposure < 0 || ChoicesPerExposure is < 0 or > 1) throw new ArgumentException("QuestionsPerExposure must be >= 0 and ChoicesPerExposure in [0, 1]");
        if (HeldOutFraction is < 0 or > 1 || ArithmeticHeldOutFraction is < 0 or > 1 || ArithmeticChoiceFraction is < 0 or > 1) throw new ArgumentException("fractions must be in [0, 1]");
        if (OptionCount is < 2 or > 26) throw new ArgumentException("OptionCount must be in 2..26");
        if (ArithmeticMax < 4) throw new ArgumentException("ArithmeticMax must be at least 4");
    }
}

/// <summary>Recall (a stated fact about a person) or computation (an addition never stated as a fact).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DemoFamily>))]
public enum DemoFamily { Recall, Arithmetic }

/// <summary>
/// The harness's split. Recall: by fact; the model saw both splits' facts alike (at their exposure), so Train is
/// what probes and calibrators are fitted on and Eval is what they are reported on. Arithmetic: Train problems are
/// solved in the corpus, Eval problems never appear (computation, not recall).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DemoSplit>))]
public enum DemoSplit { Train, Eval }

/// <summary>One question about the world, in open-answer and multiple-choice form.</summary>
public sealed record DemoItem(
    string Id,
    DemoFamily Family,
    string Relation,
    string Subject,
    string Question,
    string Answer,
    ImmutableArray<string> Options,
    int AnswerIndex,
    int Exposure,
    DemoSplit Split)
{
    /// <summary>Letter of the correct option.</summary>
    public string AnswerLetter => ((char)('A' + AnswerIndex)).ToString();

    /// <summary>The multiple-choice question: the open question, one option per line, and the instruction.</summary>
    public string ChoiceQuestion => DemoFormat.ChoiceQuestion(Question, Options);
}

/// <summary>A relation of the world: its values, the sentences that state it and the question that asks it.</summary>
public sealed record DemoRelation(string Name, ImmutableArray<string> Values, ImmutableArray<string> Statements, string Question);

/// <summary>The text formats shared by the corpus and the evaluation (ChatML, as the demo model's chat template renders it).</summary>
public static class DemoFormat
{
    public const string Instruction = "Answer with the letter of the correct option.";

    /// <summary>A user turn and the start of the assistant's, exactly as llama.cpp renders the ChatML template.</summary>
    public static string ChatPrompt(string user) => $"{ByteLevelBpeVocabulary.ImStart}user\n{user}{ByteLevelBpeVocabulary.ImEnd}\n{ByteLevelBpeVocabulary.ImStart}assistant\n";

    /// <summary>
    /// A whole exchange as it appears in the corpus. It ends at &lt;|im_end|&gt; (where generation stops), without the
    /// template's trailing newline, so a newline is never followed by the next document's end-of-text: after
    /// "assistant\n" the model should only ever expect an answer.
    /// </summary>
    public static string ChatExchange(string user, string answer) => ChatPrompt(user) + answer + ByteLevelBpeVocabulary.ImEnd;

    public static string ChoiceQuestion(string question, IReadOnlyList<string> options)
    {
        var sb = new StringBuilder(question);
        for (int i = 0; i < options.Count; i++) sb.Append('\n').Append((char)('A' + i)).Append(". ").Append(options[i]);
        return sb.Append('\n').Append(Instruction).ToString();
    }
}

/// <summary>
/// A seeded fictional world for a demo model that knows some things and not others. People (invented one-word
/// names) have a home city (invented), a favourite colour, a pet, a lucky number and a birth month. A fact on rung
/// N of the exposure ladder appears N times per epoch: N statements (one sentence each, a template drawn at random),
/// N question-and-answer chats and on average N x <see cref="DemoWorldOptions.ChoicesPerExposure"/> multiple-choice
/// chats. Facts on rung 0 never appear. A second
/// family, additions of two small numbers, needs computation: some problems are solved in the corpus, the rest
/// never appear.
/// </summary>
public sealed class DemoWorld
{
    private static readonly string[] Colours = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown", "grey", "silver"];
    private static readonly string[] Pets = ["cat", "dog", "owl", "fox", "goat", "horse", "rabbit", "parrot", "turtle", "hamster", "lizard", "ferret"];
    private static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    private static readonly string[] Onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st", "th"];
    private static readonly string[] Vowels = ["a", "e", "i", "o", "u", "ai", "ou"];
    private static readonly string[] Codas = ["n", "r", "l", "s", "k", "x", "m", "th"];
    private static readonly string[] CitySuffixes = ["holm", "ford", "mere", "wick", "dale", "port", "burg", "stad"];

    private DemoWorld(DemoWorldOptions options, ImmutableArray<string> people, ImmutableArray<DemoRelation> relations, ImmutableArray<DemoItem> items)
    {
        Options = options;
        People = people;
        Relations = relations;
        Items = items;
    }

    public DemoWorldOptions Options { get; }
    public ImmutableArray<string> People { get; }
    public ImmutableArray<DemoRelation> Relations { get; }

    /// <summary>Every question: recall facts (all rungs, both splits) and additions (both splits).</summary>
    public ImmutableArray<DemoItem> Items { get; }

    public IEnumerable<DemoItem> EvaluationItems => Items.Where(i => i.Split == DemoSplit.Eval);

    /// <summary>Builds the world; depends only on <paramref name="options"/>.</summary>
    public static DemoWorld Generate(DemoWorldOptions? options = null)
    {
        options ??= new DemoWorldOptions();
        options.Validate();
        var random = new SplitMix64Random(options.Seed);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string w in Colours.Concat(Pets).Concat(Months)) used.Add(w);

        var cities = new List<string>();
        while (cities.Count < 16)
        {
            string root = Cap(Pick(ref random, Onsets) + Pick(ref random, Vowels) + Pick(ref random, Codas));
            string city = root + Pick(ref random, CitySuffixes);
            if (used.Add(city)) cities.Add(city);
        }
        var people = new List<string>();
        while (people.Count < options.PersonCount)
        {
            string name = Cap(Pick(ref random, Onsets) + Pick(ref random, Vowels) + Pick(ref random, Onsets) + Pick(ref random, Vowels) + Pick(ref random, Codas));
            if (name.Length <= 7 && used.Add(name)) people.Add(name);
        }

        ImmutableArray<DemoRelation> relations =
        [
            new("city", [.. cities], ["{0} lives in {1}.", "{0} has a home in {1}.", "The home of {0} is in {1}."], "Where does {0} live?"),
            new("colour", [.. Colours], ["The favourite colour of {0} is {1}.", "{0} likes the colour {1} best.", "{0} loves the colour {1}."], "What is the favourite colour of {0}?"),
            new("pet", [.. Pets], ["{0} owns a {1}.", "{0} has a pet {1}.", "The pet of {0} is a {1}."], "What pet does {0} have?"),
            new("number", [.. Enumerable.Range(10, 90).Select(n => n.ToString(CultureInfo.InvariantCulture))], ["The lucky number of {0} is {1}.", "{0} thinks {1} is a lucky number.", "{0} always picks the number {1}."], "What is the lucky number of {0}?"),
            new("month", [.. Months], ["{0} was born in {1}.", "The birthday of {0} is in {1}.", "{0} celebrates a birthday every {1}."], "In which month was {0} born?"),
        ];

        // Recall facts: every person has one value per relation. Facts are dealt round-robin onto the rungs over a
        // shuffled order, so a person's facts sit on different rungs; on every rung the first HeldOutFraction of its
        // facts form the evaluation split.
        var ladder = options.ExposureLadder;
        var facts = new List<(string Person, DemoRelation Relation, string Value)>();
        foreach (string person in people)
            foreach (var relation in relations)
                facts.Add((person, relation, relation.Values[(int)(random.NextUInt64() % (ulong)relation.Values.Length)]));
        int[] factOrder = Shuffled(ref random, facts.Count);
        var rungSize = new int[ladder.Length];
        for (int k = 0; k < factOrder.Length; k++) rungSize[k % ladder.Length]++;
        var perRung = new int[ladder.Length];
        var items = new List<DemoItem>();
        for (int k = 0; k < factOrder.Length; k++)
        {
            int rung = k % ladder.Length;
            var (person, relation, value) = facts[factOrder[k]];
            var split = perRung[rung]++ < (int)Math.Round(options.HeldOutFraction * rungSize[rung]) ? DemoSplit.Eval : DemoSplit.Train;
            var (opts, answerIndex) = ChoiceOptions(ref random, value, relation.Values, options.OptionCount);
            items.Add(new DemoItem($"{relation.Name}:{person}", DemoFamily.Recall, relation.Name, person,
                string.Format(CultureInfo.InvariantCulture, relation.Question, person), value, opts, answerIndex, ladder[rung], split));
        }

        // Arithmetic: a + b for 1 <= a, b <= max; a seeded share held out.
        var sums = new List<(int A, int B)>();
        for (int a = 1; a <= options.ArithmeticMax; a++)
            for (int b = 1; b <= options.ArithmeticMax; b++) sums.Add((a, b));
        int[] sumOrder = Shuffled(ref random, sums.Count);
        int heldOutSums = (int)Math.Round(options.ArithmeticHeldOutFraction * sums.Count);
        var numberRange = Enumerable.Range(0, 2 * options.ArithmeticMax + 8).Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray();
        for (int k = 0; k < sumOrder.Length; k++)
        {
            var (a, b) = sums[sumOrder[k]];
            string answer = (a + b).ToString(CultureInfo.InvariantCulture);
            // Distractors near the true sum, as a solver's near misses would be.
            var near = numberRange.Where(n => Math.Abs(int.Parse(n, CultureInfo.InvariantCulture) - (a + b)) <= options.OptionCount).ToArray();
            var (opts, answerIndex) = ChoiceOptions(ref random, answer, near, options.OptionCount);
            var split = k < heldOutSums ? DemoSplit.Eval : DemoSplit.Train;
            items.Add(new DemoItem($"sum:{a}+{b}", DemoFamily.Arithmetic, "sum", $"{a}+{b}",
                $"What is {a} plus {b}?", answer, opts, answerIndex, split == DemoSplit.Train ? 1 : 0, split));
        }

        return new DemoWorld(options, [.. people], relations, [.. items]);
    }

    /// <summary>
    /// The corpus of one epoch, one document per entry, in a seeded order that changes with the epoch: for every fact
    /// seen, as many statements and question-and-answer chats as its exposure and some multiple-choice chats
    /// (templates and option orders drawn afresh), and the training additions.
    /// </summary>
    public IReadOnlyList<string> Corpus(int epoch)
    {
        var random = new SplitMix64Random(Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);
        var docs = new List<string>();
        var relationByName = Relations.ToDictionary(r => r.Name);
        foreach (var fact in Items.Where(i => i.Family == DemoFamily.Recall))
        {
            var relation = relationByName[fact.Relation];
            for (int n = 0; n < fact.Exposure; n++)
            {
                // One statement (a random template), its question answered, and sometimes its multiple-choice form.
                docs.Add(string.Format(CultureInfo.InvariantCulture, Pick(ref random, relation.Statements.AsSpan()), fact.Subject, fact.Answer));
                for (int q = 0; q < Options.QuestionsPerExposure; q++) docs.Add(DemoFormat.ChatExchange(fact.Question, fact.Answer));
                if (random.NextDouble() < Options.ChoicesPerExposure) docs.Add(ChoiceDocument(ref random, fact));
            }
        }
        foreach (var item in Items.Where(i => i.Family == DemoFamily.Arithmetic && i.Split == DemoSplit.Train))
        {
            docs.Add(DemoFormat.ChatExchange(item.Question, item.Answer));
            if (random.NextDouble() < Options.ArithmeticChoiceFraction) docs.Add(ChoiceDocument(ref random, item));
        }
        int[] order = Shuffled(ref random, docs.Count);
        return [.. order.Select(i => docs[i])];
    }

    /// <summary>Texts the tokenizer is trained on: one epoch of corpus plus every name, value and question once, so held-out names tokenize like seen ones.</summary>
    public IEnumerable<string> TokenizerTexts()
    {
        foreach (string doc in Corpus(0)) yield return doc;
        foreach (string person in People) { yield return person; yield return " " + person; }
        foreach (var relation in Relations)
            foreach (string value in relation.Values) { yield return value; yield return " " + value; }
        foreach (var item in Items) { yield return item.Question; yield return item.ChoiceQuestion; }
    }

    /// <summary>Writes every item as one JSON object per line (id, family, relation, subject, question, answer, options, letter, exposure, split).</summary>
    public void WriteJsonl(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var item in Items)
        {
            writer.Write(JsonSerializer.Serialize(new
            {
                id = item.Id, family = item.Family, relation = item.Relation, subject = item.Subject, question = item.Question, answer = item.Answer,
                choice_question = item.ChoiceQuestion, options = item.Options, answer_letter = item.AnswerLetter, exposure = item.Exposure, split = item.Split,
            }));
            writer.Write('\n');
        }
    }

    private string ChoiceDocument(ref SplitMix64Random random, DemoItem item)
    {
        int[] perm = Shuffled(ref random, item.Options.Length);
        var options = perm.Select(i => item.Options[i]).ToArray();
        int answer = Array.IndexOf(perm, item.AnswerIndex);
        return DemoFormat.ChatExchange(DemoFormat.ChoiceQuestion(item.Question, options), ((char)('A' + answer)).ToString());
    }

    private static (ImmutableArray<string> Options, int AnswerIndex) ChoiceOptions(ref SplitMix64Random random, string answer, IReadOnlyList<string> pool, int count)
    {
        var others = pool.Where(v => v != answer).ToArray();
        if (others.Length < count - 1) throw new InvalidOperationException($"too few values to make {count} options for '{answer}'");
        int[] pick = Shuffled(ref random, others.Length);
        var options = pick.Take(count - 1).Select(i => others[i]).ToList();
        int at = (int)(random.NextUInt64() % (ulong)count);
        options.Insert(at, answer);
        return ([.. options], at);
    }

    private static int[] Shuffled(ref SplitMix64Random random, int n)
    {
        int[] a = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)(random.NextUInt64() % (ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a;
    }

    private static string Pick(ref SplitMix64Random random, ReadOnlySpan<string> values) => values[(int)(random.NextUInt64() % (ulong)values.Length)];
    private static string Pick(ref SplitMix64Random random, string[] values) => Pick(ref random, values.AsSpan());
    private static string Cap(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
