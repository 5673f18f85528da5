namespace UQEngine.Kernels;

/// <summary>Vector width a kernel runs at; lets tests pin every code path on one machine.</summary>
internal enum KernelWidth
{
    Scalar = 1,
    Vector128 = 128,
    Vector256 = 256,
    Vector512 = 512,
}
