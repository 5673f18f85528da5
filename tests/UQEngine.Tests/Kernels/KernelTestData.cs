namespace UQEngine.Tests.Kernels;

internal static class KernelTestData
{
    /// <summary>Vocabulary sizes around every vector width boundary (4, 8, 16 lanes; 8, 16, 32-logit blocks) plus real vocabularies.</summary>
    public static readonly int[] VocabularySizes = [1, 3, 5, 7, 9, 15, 16, 17, 31, 33, 1000, 32000, 151936];

    public static float[] Gaussian(int length, double standardDeviation, int seed, double mean = 0)
    {
        var random = new Random(seed);
        var logits = new float[length];
        for (int i = 0; i < length; i++)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            logits[i] = (float)(mean + standardDeviation * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }
        return logits;
    }

    /// <summary>N(0, 3²) logits plus five confident candidates at 12, 14, …, 20 (seeded positions), like a language model's head.</summary>
    public static float[] LanguageModelLike(int length, int seed)
    {
        float[] logits = Gaussian(length, 3.0, seed);
        var random = new Random(seed + 1);
        for (int i = 0; i < 5; i++)
        {
            logits[random.Next(length)] = 12f + 2f * i;
        }
        return logits;
    }
}
