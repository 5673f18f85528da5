using System.Globalization;

namespace UQEngine.Evaluation.Runner;

/// <summary>
/// One of <see cref="Count"/> parts of an evaluation (0-based <see cref="Index"/>). The rule: the item at position p
/// of the run's items (the dataset's order after skipped lines and <c>--limit</c>) belongs to shard p mod N. It
/// depends only on the dataset, which run.json pins by its SHA-256, so every machine draws the same split, and
/// round-robin keeps the shards within one item of each other in size.
/// </summary>
public sealed record EvaluationShard
{
    /// <summary>The environment variables read by <see cref="FromEnvironment"/>.</summary>
    public const string KubernetesIndexVariable = "JOB_COMPLETION_INDEX", ShardCountVariable = "UQENGINE_SHARD_COUNT",
        SlurmIdVariable = "SLURM_ARRAY_TASK_ID", SlurmCountVariable = "SLURM_ARRAY_TASK_COUNT",
        SlurmMinVariable = "SLURM_ARRAY_TASK_MIN", SlurmStepVariable = "SLURM_ARRAY_TASK_STEP";

    public EvaluationShard(int index, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, $"a shard count must be at least 1, not {count}");
        if (index < 0 || index >= count) throw new ArgumentOutOfRangeException(nameof(index), index, $"shard index {index} is not in 0..{count - 1} (shards are numbered from 0)");
        Index = index;
        Count = count;
    }

    public int Index { get; }
    public int Count { get; }

    /// <summary>Whether the item at <paramref name="position"/> (0-based, in the run's items) is in this shard.</summary>
    public bool Contains(int position) => position % Count == Index;

    /// <summary>How many of <paramref name="items"/> positions fall in this shard.</summary>
    public int SizeOf(int items) => items <= Index ? 0 : (items - Index + Count - 1) / Count;

    /// <summary>"I/N", as <c>--shard</c> takes it and run.json records it.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    /// <summary>Reads "I/N" (I from 0 to N-1).</summary>
    public static EvaluationShard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int count))
            throw new ArgumentException($"a shard is I/N with I from 0 to N-1 (e.g. 0/4), not '{text}'");
        if (count < 1) throw new ArgumentException($"shard '{text}': N must be at least 1");
        if (index >= count) throw new ArgumentException($"shard '{text}': I must be in 0..{count - 1} (shards are numbered from 0)");
        return new EvaluationShard(index, count);
    }

    /// <summary>
    /// The shard a batch scheduler assigned, when there is one: a Kubernetes Indexed Job
    /// (<c>JOB_COMPLETION_INDEX</c>, with the count from <paramref name="count"/> or <c>UQENGINE_SHARD_COUNT</c>:
    /// Kubernetes does not pass the number of completions), else a Slurm job array (task
    /// <c>(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP</c> of <c>SLURM_ARRAY_TASK_COUNT</c>;
    /// the array must be a range such as 0-3 or 1-8:2). Null when neither is set. The description says which
    /// variables were used, for the console.
    /// </summary>
    /// <param name="environment">Reads a variable (Environment.GetEnvironmentVariable in the CLI).</param>
    /// <param name="count">The shard count given on the command line, if any.</param>
    public static (EvaluationShard Shard, string Description)? FromEnvironment(Func<string, string?> environment, int? count = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (Variable(environment, KubernetesIndexVariable) is { } k8s)
        {
            int index = Integer(KubernetesIndexVariable, k8s);
            string countFrom = count is null ? ShardCountVariable : "--shard-count";
            int n = count ?? (Variable(environment, ShardCountVariable) is { } c ? Integer(ShardCountVariable, c)
                : throw new ArgumentException($"{KubernetesIndexVariable}={k8s} is set (a Kubernetes Indexed Job) but the shard count is not: set {ShardCountVariable} to the Job's completions or pass --shard-count, or pass --shard 0/1 to evaluate every item"));
            return (Checked(index, n, $"{KubernetesIndexVariable}={k8s}, {countFrom}={n}"), $"Kubernetes Indexed Job: {KubernetesIndexVariable}={k8s}, {countFrom}={n}");
        }
        if (Variable(environment, SlurmIdVariable) is { } slurm)
        {
            int id = Integer(SlurmIdVariable, slurm);
            int min = Variable(environment, SlurmMinVariable) is { } m ? Integer(SlurmMinVariable, m) : 0;
            int step = Variable(environment, SlurmStepVariable) is { } s ? Integer(SlurmStepVariable, s) : 1;
            string countFrom = count is null ? SlurmCountVariable : "--shard-count";
            int n = count ?? (Variable(environment, SlurmCountVariable) is { } c ? Integer(SlurmCountVariable, c)
                : throw new ArgumentException($"{SlurmIdVariable}={slurm} is set (a Slurm job array) but {SlurmCountVariable} is not; pass --shard-count or --shard I/N"));
            string used = $"{SlurmIdVariable}={id}, {SlurmMinVariable}={min}, {SlurmStepVariable}={step}, {countFrom}={n}";
            if (step < 1 || id < min || (id - min) % step != 0)
                throw new ArgumentException($"Slurm array task {used} is not on a range: use --array=0-{n - 1} (or --shard I/N)");
            return (Checked((id - min) / step, n, used), $"Slurm job array: {used}");
        }
        return null;
    }

    private static EvaluationShard Checked(int index, int count, string used)
    {
        if (count < 1) throw new ArgumentException($"the shard count must be at least 1 ({used})");
        if (index >= count) throw new ArgumentException($"shard index {index} is not below the shard count {count} ({used}); number the tasks 0..{count - 1}");
        return new EvaluationShard(index, count);
    }

    private static string? Variable(Func<string, string?> environment, string name) => environment(name) is { Length: > 0 } v ? v.Trim() : null;

    private static int Integer(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : throw new ArgumentException($"{name}='{value}' is not a non-negative integer");
}
