using UQEngine.Evaluation.Runner;

namespace UQEngine.Tests.Evaluation.Runner;

public sealed class EvaluationShardTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return name => map.GetValueOrDefault(name);
    }

    [Theory]
    [InlineData("0/4", 0, 4)]
    [InlineData("3/4", 3, 4)]
    [InlineData(" 1 / 2 ", 1, 2)]
    [InlineData("0/1", 0, 1)]
    public void Parse_reads_I_over_N(string text, int index, int count)
    {
        var shard = EvaluationShard.Parse(text);
        Assert.Equal((index, count), (shard.Index, shard.Count));
        Assert.Equal($"{index}/{count}", shard.ToString());
    }

    [Theory]
    [InlineData("4/4", "must be in 0..3")]
    [InlineData("1/0", "N must be at least 1")]
    [InlineData("-1/4", "a shard is I/N")]
    [InlineData("1", "a shard is I/N")]
    [InlineData("a/b", "a shard is I/N")]
    [InlineData("1/2/3", "a shard is I/N")]
    public void Parse_refuses_what_is_not_a_shard(string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => EvaluationShard.Parse(text));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_shards_partition_the_items_round_robin()
    {
        for (int count = 1; count <= 5; count++)
            for (int items = 0; items <= 13; items++)
            {
                var shards = Enumerable.Range(0, count).Select(i => new EvaluationShard(i, count)).ToList();
                for (int p = 0; p < items; p++) Assert.Single(shards, s => s.Contains(p));
                var sizes = shards.Select(s => s.SizeOf(items)).ToList();
                Assert.Equal(items, sizes.Sum());
                Assert.True(sizes.Max() - sizes.Min() <= 1, $"{items} items in {count} shards: [{string.Join(",", sizes)}]");
                for (int i = 0; i < count; i++) Assert.Equal(Enumerable.Range(0, items).Count(shards[i].Contains), sizes[i]);
            }
        Assert.Equal([1, 5, 9], Enumerable.Range(0, 12).Where(new EvaluationShard(1, 4).Contains));
    }

    [Fact]
    public void No_scheduler_variables_means_no_shard()
    {
        Assert.Null(EvaluationShard.FromEnvironment(Env()));
        Assert.Null(EvaluationShard.FromEnvironment(Env((EvaluationShard.KubernetesIndexVariable, ""))));
    }

    [Fact]
    public void A_Kubernetes_Indexed_Job_gives_the_index_and_the_count_comes_from_the_option_or_the_environment()
    {
        var found = EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "2"), ("UQENGINE_SHARD_COUNT", "4")));
        Assert.Equal("2/4", found!.Value.Shard.ToString());
        Assert.Contains("Kubernetes Indexed Job: JOB_COMPLETION_INDEX=2, UQENGINE_SHARD_COUNT=4", found.Value.Description);

        found = EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "2"), ("UQENGINE_SHARD_COUNT", "4")), count: 8);
        Assert.Equal("2/8", found!.Value.Shard.ToString());
        Assert.Contains("--shard-count=8", found.Value.Description);

        var e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "2"))));
        Assert.Contains("set UQENGINE_SHARD_COUNT", e.Message);
        e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "4"), ("UQENGINE_SHARD_COUNT", "4"))));
        Assert.Contains("shard index 4 is not below the shard count 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "x"), ("UQENGINE_SHARD_COUNT", "4"))));
        Assert.Contains("JOB_COMPLETION_INDEX='x' is not a non-negative integer", e.Message);
    }

    [Fact]
    public void A_Slurm_array_task_is_counted_from_the_arrays_first_id_in_its_steps()
    {
        // --array=1-4: ids 1..4 are shards 0..3.
        var found = EvaluationShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")));
        Assert.Equal("3/4", found!.Value.Shard.ToString());
        Assert.StartsWith("Slurm job array: SLURM_ARRAY_TASK_ID=4", found.Value.Description);
        // --array=0-6:2: ids 0,2,4,6 are shards 0..3.
        found = EvaluationShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_STEP", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")));
        Assert.Equal("2/4", found!.Value.Shard.ToString());

        // --array=1,5,7 (a list, not a range) cannot be numbered.
        var e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "3"))));
        Assert.Contains("shard index 4 is not below the shard count 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_STEP", "2"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        Assert.Contains("is not on a range", e.Message);
        e = Assert.Throws<ArgumentException>(() => EvaluationShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "3"))));
        Assert.Contains("SLURM_ARRAY_TASK_COUNT is not", e.Message);
    }

    [Fact]
    public void Kubernetes_is_read_before_Slurm()
    {
        var found = EvaluationShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "1"), ("UQENGINE_SHARD_COUNT", "2"), ("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "3")));
        Assert.Equal("1/2", found!.Value.Shard.ToString());
    }
}
