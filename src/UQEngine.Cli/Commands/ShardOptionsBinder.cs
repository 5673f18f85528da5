using System.CommandLine;
using UQEngine.Evaluation.Runner;

namespace UQEngine.Cli.Commands;

/// <summary>
/// `eval --shard I/N` and `--shard-count N`, and the shard a batch scheduler assigned when --shard is absent
/// (Kubernetes Indexed Job, Slurm job array: <see cref="EvaluationShard.FromEnvironment"/>). docs/SCALE.md has the manifests.
/// </summary>
internal sealed class ShardOptionsBinder
{
    private readonly Option<string?> _shard = new("--shard") { Description = "Evaluate shard I of N (I/N, 0-based): the items at positions p with p mod N = I; combine the shard folders with uqengine merge. Without it, JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm) picks the shard; --shard 0/1 evaluates everything" };
    private readonly Option<int?> _count = new("--shard-count") { Description = "The number of shards when the scheduler gives the index only (Kubernetes Indexed Jobs; else UQENGINE_SHARD_COUNT)" };

    public void AddTo(Command command) { command.Add(_shard); command.Add(_count); }

    /// <summary>
    /// The shard to run (null: all items, unsharded), saying where it came from on one plain line of
    /// <paramref name="log"/> (not wrapped, so a job's log can be searched for it).
    /// </summary>
    public EvaluationShard? Resolve(ParseResult result, TextWriter log, Func<string, string?>? environment = null)
    {
        int? count = result.GetValue(_count);
        if (count is < 1) throw new CliException($"--shard-count must be at least 1, not {count}");
        if (result.GetValue(_shard) is { } text)
        {
            EvaluationShard shard;
            try { shard = EvaluationShard.Parse(text); }
            catch (ArgumentException e) { throw new CliException($"--shard: {e.Message}"); }
            if (count is { } n && n != shard.Count) throw new CliException($"--shard {text} counts {shard.Count} shards but --shard-count says {n}");
            if (shard.Count == 1) return null; // 0/1 is the whole run: no shard recorded, no merge needed
            log.WriteLine($"Shard {shard} (from --shard)");
            return shard;
        }
        (EvaluationShard Shard, string Description)? found;
        try { found = EvaluationShard.FromEnvironment(environment ?? Environment.GetEnvironmentVariable, count); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        if (found is null)
        {
            if (count is not null) throw new CliException("--shard-count needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment, or use --shard I/N");
            return null;
        }
        log.WriteLine($"Shard {found.Value.Shard} (from the {found.Value.Description})");
        return found.Value.Shard.Count == 1 ? null : found.Value.Shard;
    }
}
