using System.Diagnostics;
using System.Globalization;
using System.Text;
using UQEngine.Gguf;
using UQEngine.Inference;

namespace UQEngine.ModelCheck;

/// <summary>What to fuzz and how.</summary>
public sealed record FuzzOptions
{
    /// <summary>Valid GGUF models to mutate; each gets <see cref="Count"/> mutants.</summary>
    public required IReadOnlyList<string> Models { get; init; }

    public ulong Seed { get; init; } = 1;

    /// <summary>Mutants per model.</summary>
    public int Count { get; init; } = 100;

    /// <summary>Index of the first mutant (to rerun a slice or one mutant).</summary>
    public long Start { get; init; }

    /// <summary>Where mutants are written (one file per model, overwritten).</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>When set, every mutant that crashed, hung or faulted is copied here.</summary>
    public string? KeepDirectory { get; init; }

    /// <summary>Longest load + one-token decode before a mutant counts as a hang.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Run the GGUF reader and validator first (the product's path). Off: every mutant goes straight to llama.cpp, to measure what validation prevents.</summary>
    public bool Validate { get; init; } = true;

    /// <summary>Run the systematic sweep (<see cref="GgufMutator.WriteSweep"/>) instead of random mutants; Count and Start are ignored.</summary>
    public bool Sweep { get; init; }

    /// <summary>Progress lines (every finding, and a count every 500 mutants).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>One mutant that crashed, hung or faulted: enough to regenerate it (model, seed, index) and to read why.</summary>
public sealed record FuzzFinding(string Model, long Index, ModelCheckOutcome Outcome, string Mutation, string Message, string? Assertion, int? Signal);

/// <summary>Counts per model and outcome, and the findings.</summary>
public sealed class FuzzReport
{
    public required ulong Seed { get; init; }
    public Dictionary<string, Dictionary<ModelCheckOutcome, int>> Counts { get; } = [];
    public List<FuzzFinding> Findings { get; } = [];

    /// <summary>Mutants that loaded and decoded with NaN/±∞ logits (flagged, not crashes).</summary>
    public int NonFiniteDecodes { get; set; }

    public int CheckerProcesses { get; set; }
    public TimeSpan Elapsed { get; set; }

    /// <summary>The outcome columns, in the order a file meets them on the load path.</summary>
    public static readonly IReadOnlyList<(ModelCheckOutcome Outcome, string Name)> Columns =
    [
        (ModelCheckOutcome.RefusedByReader, "reader"), (ModelCheckOutcome.RefusedByValidator, "validator"),
        (ModelCheckOutcome.Passed, "loaded+decoded"), (ModelCheckOutcome.LoadFailed, "load error"),
        (ModelCheckOutcome.Faulted, "faulted"), (ModelCheckOutcome.Crashed, "CRASH"), (ModelCheckOutcome.TimedOut, "HANG"),
    ];

    public int Total => Counts.Values.Sum(c => c.Values.Sum());

    public int Count(ModelCheckOutcome outcome) => Counts.Values.Sum(c => c.GetValueOrDefault(outcome));

    /// <summary>A plain-text table: one row per model, one column per outcome, then the findings grouped by assertion.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"fuzz: seed {Seed}, {Total} mutants, {Elapsed.TotalSeconds:F0} s, {CheckerProcesses} checker process(es)\n");
        text.Append(CultureInfo.InvariantCulture, $"{"model",-32}");
        foreach (var (_, name) in Columns) text.Append(CultureInfo.InvariantCulture, $"{name,16}");
        text.Append('\n');
        foreach (var (model, counts) in Counts.Append(new("total", Enum.GetValues<ModelCheckOutcome>().ToDictionary(o => o, Count))))
        {
            text.Append(CultureInfo.InvariantCulture, $"{Path.GetFileName(model),-32}");
            foreach (var (o, _) in Columns) text.Append(CultureInfo.InvariantCulture, $"{counts.GetValueOrDefault(o),16}");
            text.Append('\n');
        }

        text.Append(CultureInfo.InvariantCulture, $"decoded with non-finite logits (flagged): {NonFiniteDecodes}\n");
        foreach (var group in Findings.GroupBy(f => (f.Outcome, Key: f.Assertion ?? f.Message.Split(": ").Last())).OrderByDescending(g => g.Count()))
        {
            var first = group.First();
            text.Append(CultureInfo.InvariantCulture, $"{group.Key.Outcome} x{group.Count()}: {group.Key.Key}\n    e.g. {Path.GetFileName(first.Model)} #{first.Index}: {first.Mutation}\n");
        }

        return text.ToString();
    }
}

/// <summary>
/// The seeded mutation fuzzer of issue 13: mutants of each model (<see cref="GgufMutator"/>) go through the product's
/// load path (the GGUF reader and <see cref="GgufModelValidator"/> in this process, then llama.cpp load + one decoded
/// token in an <see cref="IsolatedModelChecker"/> child, which serves mutants in sequence and is restarted after a
/// crash or hang; the crash is the mutant in flight's).
/// </summary>
public static class ModelFuzzer
{
    public static FuzzReport Run(FuzzOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(options.WorkDirectory);
        if (options.KeepDirectory is { } keep) Directory.CreateDirectory(keep);
        var report = new FuzzReport { Seed = options.Seed };
        var clock = Stopwatch.StartNew();
        using var checker = new IsolatedModelChecker(new IsolatedCheckOptions { Timeout = options.Timeout, Validate = options.Validate });
        foreach (string model in options.Models)
        {
            var mutator = new GgufMutator(model);
            var counts = report.Counts[model] = [];
            string mutantPath = Path.Combine(options.WorkDirectory, "mutant-" + Path.GetFileName(model));
            long first = options.Sweep ? 0 : options.Start, end = options.Sweep ? mutator.SweepCount : options.Start + options.Count;
            for (long i = first; i < end; i++)
            {
                string mutation = options.Sweep ? mutator.WriteSweep((int)i, mutantPath) : mutator.Write(options.Seed, i, mutantPath);
                var result = CheckMutant(mutantPath, checker, options.Validate);
                counts[result.Outcome] = counts.GetValueOrDefault(result.Outcome) + 1;
                if (result.NonFiniteLogits) report.NonFiniteDecodes++;
                if (result.Outcome is ModelCheckOutcome.Crashed or ModelCheckOutcome.TimedOut or ModelCheckOutcome.Faulted)
                {
                    var finding = new FuzzFinding(model, i, result.Outcome, mutation, result.Message, result.Assertion, result.Signal);
                    report.Findings.Add(finding);
                    options.Log?.Invoke($"{result.Outcome}: {Path.GetFileName(model)} #{i} ({mutation}): {result.Message}");
                    if (options.KeepDirectory is { } k)
                        File.Copy(mutantPath, Path.Combine(k, $"{Path.GetFileNameWithoutExtension(model)}-{(options.Sweep ? "sweep" : "s" + options.Seed)}-{i}.gguf"), overwrite: true);
                }

                if ((i - first + 1) % 500 == 0) options.Log?.Invoke($"{Path.GetFileName(model)}: {i - first + 1} mutants, {clock.Elapsed.TotalSeconds:F0} s");
            }
        }

        report.CheckerProcesses = checker.ProcessesStarted;
        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>The product's path for one file; only what the managed checks accept reaches llama.cpp (in the child).</summary>
    private static ModelCheckResult CheckMutant(string path, IsolatedModelChecker checker, bool validate)
    {
        if (validate)
        {
            GgufFile file;
            try
            {
                file = GgufFile.Read(path);
            }
            catch (GgufFormatException e)
            {
                return new ModelCheckResult(ModelCheckOutcome.RefusedByReader, e.Message);
            }
            catch (Exception e)
            {
                // The reader must refuse every bad file with a GgufFormatException: anything else is a bug to report.
                return new ModelCheckResult(ModelCheckOutcome.Faulted, $"the GGUF reader threw {e.GetType().Name}: {e.Message}");
            }

            try
            {
                var problems = GgufModelValidator.FindProblems(file);
                if (problems.Count > 0) return new ModelCheckResult(ModelCheckOutcome.RefusedByValidator, problems[0]);
            }
            catch (Exception e)
            {
                return new ModelCheckResult(ModelCheckOutcome.Faulted, $"the validator threw {e.GetType().Name}: {e.Message}");
            }
        }

        return checker.Check(path);
    }
}
