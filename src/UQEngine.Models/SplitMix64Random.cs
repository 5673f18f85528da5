namespace UQEngine.Models;

/// <summary>
/// A tiny seeded generator (SplitMix64) whose sequence depends on nothing but the seed: unlike
/// <see cref="Random"/>, its output is fixed by this code, so generated model files stay byte-identical
/// across .NET versions and machines.
/// </summary>
public struct SplitMix64Random(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// Fills with approximately normal values (Irwin–Hall: the sum of twelve uniforms minus six has mean 0
    /// and variance 1). Only additions and multiplications are used, which IEEE 754 makes exact
    /// everywhere, whereas library log/cos may differ in the last bit between platforms.
    /// </summary>
    public void FillNormal(Span<float> destination, double standardDeviation)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            double sum = 0;
            for (int k = 0; k < 12; k++)
            {
                sum += NextDouble();
            }

            destination[i] = (float)((sum - 6.0) * standardDeviation);
        }
    }
}
