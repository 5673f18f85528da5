namespace UQEngine.Gguf;

/// <summary>
/// The "general.file_type" ids of the bundled llama.cpp (its llama_ftype enum): the dominant
/// quantization a converter or quantizer applied to the model.
/// </summary>
public static class LlamaFileType
{
    private static readonly Dictionary<uint, string> Names = new()
    {
        [0] = "ALL_F32",
        [1] = "MOSTLY_F16",
        [2] = "MOSTLY_Q4_0",
        [3] = "MOSTLY_Q4_1",
        [7] = "MOSTLY_Q8_0",
        [8] = "MOSTLY_Q5_0",
        [9] = "MOSTLY_Q5_1",
        [10] = "MOSTLY_Q2_K",
        [11] = "MOSTLY_Q3_K_S",
        [12] = "MOSTLY_Q3_K_M",
        [13] = "MOSTLY_Q3_K_L",
        [14] = "MOSTLY_Q4_K_S",
        [15] = "MOSTLY_Q4_K_M",
        [16] = "MOSTLY_Q5_K_S",
        [17] = "MOSTLY_Q5_K_M",
        [18] = "MOSTLY_Q6_K",
        [19] = "MOSTLY_IQ2_XXS",
        [20] = "MOSTLY_IQ2_XS",
        [21] = "MOSTLY_Q2_K_S",
        [22] = "MOSTLY_IQ3_XS",
        [23] = "MOSTLY_IQ3_XXS",
        [24] = "MOSTLY_IQ1_S",
        [25] = "MOSTLY_IQ4_NL",
        [26] = "MOSTLY_IQ3_S",
        [27] = "MOSTLY_IQ3_M",
        [28] = "MOSTLY_IQ2_S",
        [29] = "MOSTLY_IQ2_M",
        [30] = "MOSTLY_IQ4_XS",
        [31] = "MOSTLY_IQ1_M",
        [32] = "MOSTLY_BF16",
        [36] = "MOSTLY_TQ1_0",
        [37] = "MOSTLY_TQ2_0",
        [38] = "MOSTLY_MXFP4_MOE",
        [39] = "MOSTLY_NVFP4",
        [40] = "MOSTLY_Q1_0",
        [41] = "MOSTLY_Q2_0",
    };

    public const uint AllF32 = 0;
    public const uint MostlyF16 = 1;
    public const uint MostlyQ8_0 = 7;
    public const uint MostlyQ4_K_M = 15;
    public const uint MostlyBF16 = 32;

    /// <summary>The name of a file type id, e.g. "MOSTLY_Q4_K_M"; "UNKNOWN_&lt;id&gt;" for ids this release lacks.</summary>
    public static string GetName(uint fileType) => Names.TryGetValue(fileType, out var name) ? name : $"UNKNOWN_{fileType}";

    /// <summary>True when this release defines <paramref name="fileType"/>.</summary>
    public static bool IsKnown(uint fileType) => Names.ContainsKey(fileType);

    /// <summary>
    /// The file type llama.cpp assumes when a file lacks "general.file_type": the one matching the most
    /// common tensor type (K-quants map to their medium variant). Null when no file type corresponds.
    /// </summary>
    public static uint? GuessFromDominantTensorType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.BF16 => 32,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.Q8_0 => 7,
        GgmlType.Q2_K => 10,
        GgmlType.Q3_K => 12,
        GgmlType.Q4_K => 15,
        GgmlType.Q5_K => 17,
        GgmlType.Q6_K => 18,
        GgmlType.TQ1_0 => 36,
        GgmlType.TQ2_0 => 37,
        GgmlType.IQ2_XXS => 19,
        GgmlType.IQ2_XS => 20,
        GgmlType.IQ2_S => 28,
        GgmlType.IQ3_XXS => 23,
        GgmlType.IQ1_S => 24,
        GgmlType.IQ1_M => 31,
        GgmlType.IQ4_NL => 25,
        GgmlType.IQ4_XS => 30,
        GgmlType.IQ3_S => 26,
        GgmlType.NVFP4 => 39,
        GgmlType.Q1_0 => 40,
        GgmlType.Q2_0 => 41,
        _ => null,
    };
}
