using UQEngine.Methods;
using System.Globalization;
using System.Text.Json;
using UQEngine.Evaluation.Datasets;

namespace UQEngine.Demo;

/// <summary>
/// The demo world as built-in evaluation datasets: <c>demo</c> (every question in both forms), <c>demo:mc</c>
/// (multiple choice, ten options), <c>demo:open</c> (open answer), each optionally restricted to a split with
/// <c>:eval</c> or <c>:train</c> (e.g. <c>demo:mc:eval</c>): the harness's splits; the model saw both splits' recall facts alike.
/// Items come from models/demo/world.jsonl (found beside the app or in a parent folder), or, when that file is
/// absent, from the world regenerated from the committed recipe (the same seed gives the same world). Exposure,
/// family, relation, subject and split are item metadata, so <c>--by exposure,family</c> breaks the metrics down by
/// them; the category is the relation. Prompts are the wording the demo model was trained on.
/// </summary>
public sealed class DemoDataset : IBuiltInDataset
{
    public const string WorldFileName = "world.jsonl";

    private readonly string? _form;   // "mc", "open" or null (both)
    private readonly string? _split;  // "eval", "train" or null (both)
    private readonly string? _folder;

    /// <param name="form">"mc", "open" or null for both.</param>
    /// <param name="split">"eval", "train" or null for both.</param>
    /// <param name="folder">The folder holding world.jsonl (and recipe.json); null = models/demo found from the app.</param>
    public DemoDataset(string? form = null, string? split = null, string? folder = null)
    {
        if (form is not (null or "mc" or "open")) throw new ArgumentException($"demo dataset form must be mc or open, not '{form}'");
        if (split is not (null or "eval" or "train")) throw new ArgumentException($"demo dataset split must be eval or train, not '{split}'");
        (_form, _split, _folder) = (form, split, folder);
        Name = string.Join(':', new[] { "demo", form, split }.Where(p => p is not null));
    }

    public string Name { get; }

    public string Description =>
        $"the demo world's {(_form switch { "mc" => "multiple-choice", "open" => "open-answer", _ => "multiple-choice and open-answer" })} questions" +
        (_split is null ? " (both splits)" : $" ({_split} split)");

    /// <summary>Registers demo, demo:mc, demo:open and their :eval / :train variants.</summary>
    public static void RegisterAll(DatasetRegistry registry, string? folder = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        foreach (string? form in new[] { null, "mc", "open" })
            foreach (string? split in new[] { null, "eval", "train" })
                registry.Register(new DemoDataset(form, split, folder));
    }

    /// <summary>
    /// The nearest models/demo (beside the app, or in a parent folder) that holds world.jsonl; else the nearest that
    /// holds recipe.json (the app's copy has the model and recipe only: the world is then regenerated from it).
    /// </summary>
    public static string? FindFolder()
    {
        string? withRecipe = null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string folder = Path.Combine(d.FullName, "models", "demo");
            if (File.Exists(Path.Combine(folder, WorldFileName))) return folder;
            if (withRecipe is null && File.Exists(Path.Combine(folder, DemoModels.RecipeFileName))) withRecipe = folder;
        }
        return withRecipe;
    }

    public EvaluationDataset Load(DatasetReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string? folder = _folder ?? FindFolder();
        string? file = folder is null ? null : Path.Combine(folder, WorldFileName);
        var skipped = new List<SkippedLine>();
        IReadOnlyList<DemoItem> world;
        string source;
        if (file is not null && File.Exists(file))
        {
            world = ReadWorld(file, options, skipped);
            source = file;
        }
        else
        {
            world = DemoWorld.Generate(DemoModels.LoadRecipe(folder).World).Items;
            source = "regenerated from the demo recipe" + (folder is null ? " (default)" : $" in {folder}");
        }

        var items = new List<EvaluationItem>();
        foreach (var w in world.Where(w => _split is null || w.Split == (_split == "eval" ? DemoSplit.Eval : DemoSplit.Train)))
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["exposure"] = w.Exposure.ToString(CultureInfo.InvariantCulture),
                ["family"] = w.Family.ToString().ToLowerInvariant(),
                ["relation"] = w.Relation,
                ["subject"] = w.Subject,
                ["split"] = w.Split.ToString().ToLowerInvariant(),
            };
            if (_form is null or "mc")
                items.Add(new EvaluationItem
                {
                    Id = "mc:" + w.Id, Kind = EvaluationItemKind.MultipleChoice, Question = w.Question, Options = w.Options, Answer = w.AnswerLetter,
                    Category = w.Relation, Metadata = metadata, Prompt = DemoFormat.ChoiceQuestion(w.Question, w.Options),
                });
            if (_form is null or "open")
                items.Add(new EvaluationItem
                {
                    Id = "open:" + w.Id, Kind = EvaluationItemKind.OpenAnswer, Question = w.Question, Answer = w.Answer,
                    Category = w.Relation, Metadata = metadata, Prompt = w.Question,
                });
        }
        return new EvaluationDataset(Name, source, items, skipped);
    }

    /// <summary>world.jsonl as <see cref="DemoWorld.WriteJsonl"/> writes it; a bad line stops or is skipped per the options.</summary>
    private static List<DemoItem> ReadWorld(string path, DatasetReadOptions options, List<SkippedLine> skipped)
    {
        var items = new List<DemoItem>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try { items.Add(Parse(line)); }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
            {
                string reason = $"not a demo world item ({e.Message})";
                if (options.OnBadLine == OnBadLine.Stop) throw new DatasetFormatException(path, lineNumber, reason);
                skipped.Add(new SkippedLine(lineNumber, reason));
            }
        }
        return items;
    }

    private static DemoItem Parse(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var e = doc.RootElement;
        string Text(string name) => e.GetProperty(name).GetString() ?? throw new InvalidOperationException($"'{name}' is null");
        var options = e.GetProperty("options").EnumerateArray().Select(o => o.GetString() ?? throw new InvalidOperationException("an option is null")).ToArray();
        string letter = Text("answer_letter");
        int answerIndex = letter.Length == 1 ? letter[0] - 'A' : -1;
        if (answerIndex < 0 || answerIndex >= options.Length) throw new InvalidOperationException($"answer_letter '{letter}' is not one of the {options.Length} options");
        return new DemoItem(Text("id"), Enum.Parse<DemoFamily>(Text("family")), Text("relation"), Text("subject"), Text("question"), Text("answer"),
            [.. options], answerIndex, e.GetProperty("exposure").GetInt32(), Enum.Parse<DemoSplit>(Text("split")));
    }
}
