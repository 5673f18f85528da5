using UQEngine.Evaluation.Metrics;
using UQEngine.Methods.Probes;
using UQEngine.Evaluation.Probes;

namespace UQEngine.Tests.Evaluation.Probes;

public sealed class ProbeTrainingTests
{
    /// <summary>n rows of d standard-normal features; positives have +shift on feature <paramref name="signal"/>.</summary>
    internal static (List<float[]> X, List<bool> Y) Blobs(int n, int d, int signal, double shift, double positiveRate, int seed)
    {
        var random = new Random(seed);
        var x = new List<float[]>();
        var y = new List<bool>();
        for (int i = 0; i < n; i++)
        {
            bool positive = random.NextDouble() < positiveRate;
            var row = new float[d];
            for (int j = 0; j < d; j++) row[j] = (float)(Gaussian(random) * 3 + 10); // off-centre, wide: standardization matters
            if (positive) row[signal] += (float)shift;
            x.Add(row); y.Add(positive);
        }
        return (x, y);
    }

    private static double Gaussian(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private static double Auroc(ProbeWeights w, List<float[]> x, List<bool> y) =>
        RankingMetrics.Auroc(x.Select(r => w.Logit(r)).ToArray(), y.ToArray()).Value;

    [Theory]
    [InlineData(ProbeKind.Logistic)]
    [InlineData(ProbeKind.Mlp)]
    public void Separable_data_gives_AUROC_near_one_on_fresh_data_and_the_right_sign(ProbeKind kind)
    {
        var (x, y) = Blobs(400, 8, signal: 3, shift: 30, positiveRate: 0.5, seed: 1);
        var w = ProbeTrainer.Train(x, y, new ProbeTrainingOptions { Kind = kind, HiddenUnits = 4 });
        var (tx, ty) = Blobs(300, 8, 3, 30, 0.5, seed: 2);
        Assert.True(Auroc(w, tx, ty) > 0.999, $"AUROC {Auroc(w, tx, ty)}");
        Assert.True(w.Metrics.HeldOutAuroc > 0.999);
        Assert.True(w.PlattA > 0, "Platt keeps the direction: a higher logit is a higher confidence");
        if (kind == ProbeKind.Logistic)
        {
            int strongest = Enumerable.Range(0, 8).MaxBy(j => Math.Abs(w.InputWeights[j]));
            Assert.Equal(3, strongest);
            Assert.True(w.InputWeights[3] > 0);
            // Flipped labels flip the sign of the learned direction.
            var flipped = ProbeTrainer.Train(x, [.. y.Select(v => !v)]);
            Assert.True(flipped.InputWeights[3] < 0);
        }
        // A point far on the positive side is confident, far on the negative side is not.
        var high = Enumerable.Repeat(10f, 8).ToArray(); high[3] = 60;
        var low = Enumerable.Repeat(10f, 8).ToArray(); low[3] = -20;
        Assert.True(w.Confidence(w.Logit(high)) > 0.95);
        Assert.True(w.Confidence(w.Logit(low)) < 0.05);
    }

    [Fact]
    public void The_MLP_learns_an_xor_the_logistic_probe_cannot()
    {
        var random = new Random(5);
        var x = new List<float[]>();
        var y = new List<bool>();
        for (int i = 0; i < 600; i++)
        {
            float a = (float)(random.NextDouble() * 2 - 1), b = (float)(random.NextDouble() * 2 - 1);
            x.Add([a, b, (float)random.NextDouble()]);
            y.Add(a * b > 0);
        }
        var (tx, ty) = (x[400..], y[400..]);
        var mlp = ProbeTrainer.Train(x[..400], y[..400], new ProbeTrainingOptions { Kind = ProbeKind.Mlp, HiddenUnits = 8, L2 = 1e-4 });
        var logistic = ProbeTrainer.Train(x[..400], y[..400]);
        Assert.True(Auroc(mlp, tx, ty) > 0.95, $"MLP AUROC {Auroc(mlp, tx, ty)}");
        Assert.True(Auroc(logistic, tx, ty) < 0.7, $"logistic AUROC {Auroc(logistic, tx, ty)}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void The_loss_gradient_matches_central_finite_differences(int hiddenUnits)
    {
        var random = new Random(11);
        double[][] x = [.. Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 5).Select(_ => random.NextDouble() * 2 - 1).ToArray())];
        bool[] y = [.. Enumerable.Range(0, 30).Select(i => i % 3 == 0)]; // imbalanced: the class weights differ
        var loss = new ProbeLoss(x, y, l2: 0.05, hiddenUnits);
        double[] p = [.. Enumerable.Range(0, loss.ParameterCount).Select(_ => random.NextDouble() - 0.5)];
        var (_, gradient) = loss.Evaluate(p);
        const double h = 1e-5;
        for (int k = 0; k < p.Length; k++)
        {
            double[] plus = (double[])p.Clone(), minus = (double[])p.Clone();
            plus[k] += h; minus[k] -= h;
            double numeric = (loss.Evaluate(plus).Loss - loss.Evaluate(minus).Loss) / (2 * h);
            Assert.True(Math.Abs(numeric - gradient[k]) < 1e-7 * (1 + Math.Abs(numeric)), $"parameter {k}: analytic {gradient[k]}, numeric {numeric}");
        }
    }

    [Fact]
    public void Class_balancing_weighs_both_classes_equally()
    {
        // 9 positives, 1 negative. Balanced weights: c+ = 10/(2·9), c− = 10/(2·1). At all-zero parameters every
        // σ(z) = 1/2, so the bias gradient is (1/n) Σ cᵢ (1/2 − yᵢ) = (1/10)(9·(10/18)·(−1/2) + 1·5·(1/2)) = 0,
        // where an unweighted loss would give (1/10)(9·(−1/2) + 1/2) = −0.4. The loss is ln 2 (every term is ln 2, Σ cᵢ = n).
        double[][] x = [.. Enumerable.Range(0, 10).Select(i => new double[] { i, -i })];
        bool[] y = [.. Enumerable.Range(0, 10).Select(i => i != 4)];
        var loss = new ProbeLoss(x, y, l2: 0, hiddenUnits: 0);
        var (value, gradient) = loss.Evaluate(new double[3]);
        Assert.Equal(0, gradient[2], 12);
        Assert.Equal(Math.Log(2), value, 12);
        // Trained on pure noise with a 90/10 imbalance, the balanced probe centres its logits near 0, not at logit(0.9) ≈ 2.2.
        var (nx, _) = Blobs(500, 4, 0, 0, 0.5, seed: 3);
        var ny = Enumerable.Range(0, 500).Select(i => i % 10 != 0).ToList();
        var w = ProbeTrainer.Train(nx, ny, new ProbeTrainingOptions { CalibrationFraction = 0 });
        double meanLogit = nx.Average(r => w.Logit(r));
        Assert.True(Math.Abs(meanLogit) < 0.3, $"mean logit {meanLogit}");
    }

    [Fact]
    public void Training_refuses_one_class_and_ragged_or_non_finite_rows()
    {
        var rows = new List<float[]> { new float[] { 1, 2 }, new float[] { 2, 3 }, new float[] { 3, 1 } };
        Assert.Contains("both classes", Assert.Throws<ArgumentException>(() => ProbeTrainer.Train(rows, [true, true, true], new() { CalibrationFraction = 0 })).Message);
        Assert.Contains("row 1", Assert.Throws<ArgumentException>(() => ProbeTrainer.Train([rows[0], new float[] { 1 }, rows[2]], [true, false, true])).Message);
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => ProbeTrainer.Train([rows[0], new float[] { float.NaN, 1 }, rows[2]], [true, false, true])).Message);
    }

    [Fact]
    public void The_split_is_stratified_and_keeps_every_class_in_training()
    {
        bool[] labels = [.. Enumerable.Range(0, 50).Select(i => i < 10)];
        var (train, cal) = ProbeTrainer.StratifiedSplit(labels, 0.2, 1);
        Assert.Equal(2, cal.Count(i => labels[i]));   // round(0.2 · 10)
        Assert.Equal(8, cal.Count(i => !labels[i]));  // round(0.2 · 40)
        Assert.Empty(train.Intersect(cal));
        Assert.Equal(50, train.Count + cal.Count);
        var (train1, cal1) = ProbeTrainer.StratifiedSplit([true, false, false], 0.9, 1);
        Assert.Contains(train1, i => i == 0); // the lone positive stays in training
        Assert.Single(cal1);
    }
}
