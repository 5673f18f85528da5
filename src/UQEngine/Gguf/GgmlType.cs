namespace UQEngine.Gguf;

/// <summary>
/// Element type of a ggml tensor, with the numeric ids stored in GGUF files by the bundled llama.cpp release.
/// Ids that the release no longer accepts in files (4, 5, 31–33, 36–38) are deliberately absent.
/// </summary>
public enum GgmlType
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// <summary>
/// Storage layout of each <see cref="GgmlType"/>: values are stored in blocks of <see cref="BlockSize"/> elements
/// that occupy <see cref="TypeSize"/> bytes, so a row of n elements takes n / BlockSize * TypeSize bytes.
/// </summary>
public static class GgmlTypeTraits
{
    // Indexed by type id; a zero block size marks an id that is not a valid file type.
    // Values match ggml's type_traits table of the bundled release (checked against ggml_blck_size/ggml_type_size).
    private static readonly (int BlockSize, int TypeSize, string Name)[] Traits = BuildTable();

    /// <summary>One past the highest type id this release knows.</summary>
    public const int TypeIdLimit = 43;

    private static (int, int, string)[] BuildTable()
    {
        var table = new (int, int, string)[TypeIdLimit];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = (0, 0, "");
        }

        void Set(GgmlType type, int blockSize, int typeSize, string name) => table[(int)type] = (blockSize, typeSize, name);

        Set(GgmlType.F32, 1, 4, "f32");
        Set(GgmlType.F16, 1, 2, "f16");
        Set(GgmlType.Q4_0, 32, 18, "q4_0");
        Set(GgmlType.Q4_1, 32, 20, "q4_1");
        Set(GgmlType.Q5_0, 32, 22, "q5_0");
        Set(GgmlType.Q5_1, 32, 24, "q5_1");
        Set(GgmlType.Q8_0, 32, 34, "q8_0");
        Set(GgmlType.Q8_1, 32, 36, "q8_1");
        Set(GgmlType.Q2_K, 256, 84, "q2_K");
        Set(GgmlType.Q3_K, 256, 110, "q3_K");
        Set(GgmlType.Q4_K, 256, 144, "q4_K");
        Set(GgmlType.Q5_K, 256, 176, "q5_K");
        Set(GgmlType.Q6_K, 256, 210, "q6_K");
        Set(GgmlType.Q8_K, 256, 292, "q8_K");
        Set(GgmlType.IQ2_XXS, 256, 66, "iq2_xxs");
        Set(GgmlType.IQ2_XS, 256, 74, "iq2_xs");
        Set(GgmlType.IQ3_XXS, 256, 98, "iq3_xxs");
        Set(GgmlType.IQ1_S, 256, 50, "iq1_s");
        Set(GgmlType.IQ4_NL, 32, 18, "iq4_nl");
        Set(GgmlType.IQ3_S, 256, 110, "iq3_s");
        Set(GgmlType.IQ2_S, 256, 82, "iq2_s");
        Set(GgmlType.IQ4_XS, 256, 136, "iq4_xs");
        Set(GgmlType.I8, 1, 1, "i8");
        Set(GgmlType.I16, 1, 2, "i16");
        Set(GgmlType.I32, 1, 4, "i32");
        Set(GgmlType.I64, 1, 8, "i64");
        Set(GgmlType.F64, 1, 8, "f64");
        Set(GgmlType.IQ1_M, 256, 56, "iq1_m");
        Set(GgmlType.BF16, 1, 2, "bf16");
        Set(GgmlType.TQ1_0, 256, 54, "tq1_0");
        Set(GgmlType.TQ2_0, 256, 66, "tq2_0");
        Set(GgmlType.MXFP4, 32, 17, "mxfp4");
        Set(GgmlType.NVFP4, 64, 36, "nvfp4");
        Set(GgmlType.Q1_0, 128, 18, "q1_0");
        Set(GgmlType.Q2_0, 64, 18, "q2_0");
        return table;
    }

    /// <summary>True when <paramref name="typeId"/> names a tensor type this release accepts in a GGUF file.</summary>
    public static bool IsKnown(int typeId) => (uint)typeId < TypeIdLimit && Traits[typeId].BlockSize != 0;

    /// <summary>True when <paramref name="type"/> is a tensor type this release accepts in a GGUF file.</summary>
    public static bool IsKnown(GgmlType type) => IsKnown((int)type);

    /// <summary>Number of elements per storage block (1 for plain types, 32 or 256 for most quantized ones).</summary>
    public static int BlockSize(GgmlType type) => Get(type).BlockSize;

    /// <summary>Bytes occupied by one block.</summary>
    public static int TypeSize(GgmlType type) => Get(type).TypeSize;

    /// <summary>ggml's short lower-case name of the type, e.g. "q4_K".</summary>
    public static string Name(GgmlType type) => Get(type).Name;

    /// <summary>True for block-quantized types (block size above one).</summary>
    public static bool IsQuantized(GgmlType type) => Get(type).BlockSize > 1;

    /// <summary>Average storage cost per element in bits, e.g. 4.5 for q4_0.</summary>
    public static double BitsPerElement(GgmlType type)
    {
        var (blockSize, typeSize, _) = Get(type);
        return typeSize * 8.0 / blockSize;
    }

    /// <summary>
    /// Bytes needed for <paramref name="elementCount"/> elements whose first dimension is a multiple of the block size.
    /// </summary>
    /// <exception cref="ArgumentException">The element count is not a whole number of blocks.</exception>
    /// <exception cref="OverflowException">The byte count does not fit in 64 bits.</exception>
    public static ulong ByteSize(GgmlType type, ulong elementCount)
    {
        var (blockSize, typeSize, _) = Get(type);
        if (elementCount % (ulong)blockSize != 0)
        {
            throw new ArgumentException($"{elementCount} elements are not a whole number of {Name(type)} blocks of {blockSize}.", nameof(elementCount));
        }

        return checked(elementCount / (ulong)blockSize * (ulong)typeSize);
    }

    private static (int BlockSize, int TypeSize, string Name) Get(GgmlType type)
    {
        if (!IsKnown(type))
        {
            throw new ArgumentOutOfRangeException(nameof(type), (int)type, $"ggml type id {(int)type} is not a tensor type of this llama.cpp release.");
        }

        return Traits[(int)type];
    }
}
