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
    public int PersonCount { get; init; } = 140;

    /// <summary>
    /// How many biographies of a person the corpus has per epoch. Every biography states each of the person's facts
    /// exactly once, so this is also how many times per epoch each of their facts is stated. People (not single
    /// facts) are spread evenly over the rungs.
    /// </summary>
    public ImmutableArray<int> ExposureLadder { get; init; } = [0, 1, 2, 4, 8, 16, 32];

    /// <summary>Share of the people on each rung (above 0) whose questions are held out for evaluation; the questions about the others are asked and answered in the corpus.</summary>
    public double HeldOutFraction { get; init; } = 0.3;

    /// <summary>Copies per epoch of each training-split open question (chat form, answer after it).</summary>
    public int QuestionRepeats { get; init; } = 2;

    /// <summary>Copies per epoch of each training-split multiple-choice question (options reshuffled for every copy).</summary>
    public int ChoiceRepeats { get; init; } = 1;

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
        if (HeldOutFraction is < 0 or > 1 || ArithmeticHeldOutFraction is < 0 or > 1 || ArithmeticChoiceFraction is < 0 or > 1) throw new ArgumentException("fractions must be in [0, 1]");
        if (OptionCount is < 2 or > 26) throw new ArgumentException("OptionCount must be in 2..26");
        if (ArithmeticMax < 4) throw new ArgumentException("ArithmeticMax must be at least 4");
    }
}

/// <summary>Recall (a stated fact about a person) or computation (an addition never stated as a fact).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DemoFamily>))]
public enum DemoFamily { Recall, Arithmetic }

/// <summary>Train: the question (with its answer) is in the corpus. Eval: it never is; only the fact's statements may be.</summary>
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
/// names) have a home city (invented), a favourite colour, a pet, a lucky number and a birth month. Each fact is
/// stated in the corpus as many times per epoch as its rung on the exposure ladder (0 = never). Half the facts on
/// each rung above 0 are also asked and answered in the corpus (training split), which teaches the question
/// formats; the other half are only stated, and their questions are the held-out evaluation. A second family,
/// additions of two small numbers, needs computation: some problems are solved in the corpus, the rest held out.
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
            new("city", [.. cities], ["{0} lives in {1}.", "{0} has a home in {1}.", "The home of {0} is in {1}.", "{0} resides in the city of {1}.", "{0} settled down in {1}."], "Where does {0} live?"),
            new("colour", [.. Colours], ["The favourite colour of {0} is {1}.", "{0} likes the colour {1} best.", "{0} loves the colour {1}.", "{0} always wears something {1}.", "Of all colours, {0} prefers {1}."], "What is the favourite colour of {0}?"),
            new("pet", [.. Pets], ["{0} owns a {1}.", "{0} has a pet {1}.", "The pet of {0} is a {1}.", "{0} takes care of a {1} at home.", "{0} keeps a {1} as a pet."], "What pet does {0} have?"),
            new("number", [.. Enumerable.Range(10, 90).Select(n => n.ToString(CultureInfo.InvariantCulture))], ["The lucky number of {0} is {1}.", "{0} thinks {1} is a lucky number.", "{0} always picks the number {1}.", "For {0}, the number {1} brings luck.", "{0} believes in the lucky number {1}."], "What is the lucky number of {0}?"),
            new("month", [.. Months], ["{0} was born in {1}.", "The birthday of {0} is in {1}.", "{0} celebrates a birthday every {1}.", "{0} came into the world in {1}.", "Every year in {1}, {0} has a birthday."], "In which month was {0} born?"),
        ];

        // Recall facts: every person has one value per relation. People (not facts) are dealt round-robin onto the
        // rungs over a shuffled order, so all five facts of a person share the person's exposure and split: on each
        // rung above 0 the first HeldOutFraction of its people are held out (none of their questions is ever in the
        // corpus), the others are taught (all their questions are asked and answered). Rung 0 people never appear.
        var ladder = options.ExposureLadder;
        int[] personOrder = Shuffled(ref random, people.Count);
        var rungSize = new int[ladder.Length];
        for (int k = 0; k < personOrder.Length; k++) rungSize[k % ladder.Length]++;
        var perRung = new int[ladder.Length];
        var personRung = new int[people.Count];
        var personSplit = new DemoSplit[people.Count];
        for (int k = 0; k < personOrder.Length; k++)
        {
            int rung = k % ladder.Length;
            int heldOut = (int)Math.Round(options.HeldOutFraction * rungSize[rung]);
            personRung[personOrder[k]] = rung;
            personSplit[personOrder[k]] = ladder[rung] == 0 || perRung[rung]++ < heldOut ? DemoSplit.Eval : DemoSplit.Train;
        }
        var items = new List<DemoItem>();
        for (int p = 0; p < people.Count; p++)
            foreach (var relation in relations)
            {
                string person = people[p];
                string value = relation.Values[(int)(random.NextUInt64() % (ulong)relation.Values.Length)];
                var (opts, answerIndex) = ChoiceOptions(ref random, value, relation.Values, options.OptionCount);
                items.Add(new DemoItem($"{relation.Name}:{person}", DemoFamily.Recall, relation.Name, person,
                    string.Format(CultureInfo.InvariantCulture, relation.Question, person), value, opts, answerIndex, ladder[personRung[p]], personSplit[p]));
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
    /// The corpus of one epoch, one document per entry, in a seeded order that changes with the epoch: each fact's
    /// statements (as many as its exposure, templates drawn at random), the training-split questions in chat form
    /// (open answer and multiple choice, options reshuffled per copy) and the training additions.
    /// </summary>
    public IReadOnlyList<string> Corpus(int epoch)
    {
        var random = new SplitMix64Random(Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);
        var docs = new List<string>();
        var relationByName = Relations.ToDictionary(r => r.Name);
        // Biographies: each one states every fact of its person once, relations in a fresh random order, each
        // sentence from a randomly drawn template; a person with exposure N gets N biographies per epoch.
        foreach (var person in Items.Where(i => i.Family == DemoFamily.Recall).GroupBy(i => i.Subject))
        {
            var facts = person.ToArray();
            for (int n = 0; n < facts[0].Exposure; n++)
            {
                int[] perm = Shuffled(ref random, facts.Length);
                docs.Add(string.Join(" ", perm.Select(i => string.Format(CultureInfo.InvariantCulture,
                    Pick(ref random, relationByName[facts[i].Relation].Statements.AsSpan()), facts[i].Subject, facts[i].Answer))));
            }
        }
        foreach (var item in Items)
        {
            if (item.Family == DemoFamily.Recall)
            {
                if (item.Split != DemoSplit.Train) continue;
                for (int i = 0; i < Options.QuestionRepeats; i++) docs.Add(DemoFormat.ChatExchange(item.Question, item.Answer));
                for (int i = 0; i < Options.ChoiceRepeats; i++) docs.Add(ChoiceDocument(ref random, item));
            }
            else if (item.Split == DemoSplit.Train)
            {
                docs.Add(DemoFormat.ChatExchange(item.Question, item.Answer));
                if (random.NextDouble() < Options.ArithmeticChoiceFraction) docs.Add(ChoiceDocument(ref random, item));
            }
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
