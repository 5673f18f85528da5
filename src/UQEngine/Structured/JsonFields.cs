using System.Text;
using System.Text.Json;
using UQEngine.Inference;

namespace UQEngine.Structured;

/// <summary>One leaf value (string, number, boolean, null) of a JSON text and the characters it spans.</summary>
/// <param name="Pointer">JSON pointer (RFC 6901) of the value, e.g. "/name", "/pets/0".</param>
/// <param name="Start">First character of the value's JSON text (a string's opening quote).</param>
/// <param name="End">One past its last character.</param>
/// <param name="Value">The value, for comparing samples.</param>
public sealed record JsonLeaf(string Pointer, int Start, int End, JsonElement Value)
{
    public int Length => End - Start;
}

/// <summary>
/// Uncertainty of one field of a generated JSON answer, from the tokens that wrote any of its characters (a token
/// spanning a key and the start of the value counts for the value). Log-probabilities are natural logs.
/// Raw: the model's own distribution (temperature 1, before any grammar). Constrained: renormalised over the tokens the
/// grammar allowed, NaN when generation had no grammar.
/// </summary>
/// <param name="Pointer">JSON pointer of the value.</param>
/// <param name="Value">The value's JSON text as generated.</param>
/// <param name="TokenCount">Tokens that wrote part of it.</param>
/// <param name="LogProbability">Σ raw log p over those tokens (the log of the product).</param>
/// <param name="MinLogProbability">Smallest raw log p.</param>
/// <param name="MeanLogProbability">Mean raw log p.</param>
/// <param name="ConstrainedLogProbability">Σ constrained log p.</param>
/// <param name="ConstrainedMinLogProbability">Smallest constrained log p.</param>
/// <param name="ConstrainedMeanLogProbability">Mean constrained log p.</param>
/// <param name="MeanEntropy">Mean raw entropy (nats) of the steps.</param>
/// <param name="MeanAllowedMass">Mean raw probability mass on the grammar-allowed tokens (1 = the grammar removed nothing the model wanted).</param>
/// <param name="MinAllowedMass">Smallest such mass over the steps.</param>
public sealed record JsonFieldUncertainty(
    string Pointer,
    string Value,
    int TokenCount,
    double LogProbability,
    double MinLogProbability,
    double MeanLogProbability,
    double ConstrainedLogProbability,
    double ConstrainedMinLogProbability,
    double ConstrainedMeanLogProbability,
    double MeanEntropy,
    double MeanAllowedMass,
    double MinAllowedMass)
{
    /// <summary>Product of the raw token probabilities: the field's confidence.</summary>
    public double Probability => Math.Exp(LogProbability);

    /// <summary>Product of the constrained token probabilities (NaN without a grammar).</summary>
    public double ConstrainedProbability => Math.Exp(ConstrainedLogProbability);

    /// <summary>With several samples: the fraction of samples (this one included) whose value at this pointer is equal; null for one sample.</summary>
    public double? Agreement { get; init; }
}

/// <summary>Maps generated tokens to the JSON values they wrote and scores each value.</summary>
public static class JsonFields
{
    /// <summary>
    /// The leaf values of a JSON text, in order, with their spans. A text cut short (max tokens) yields the values
    /// completed before the cut; text that is not JSON at all yields none.
    /// </summary>
    public static IReadOnlyList<JsonLeaf> Leaves(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int[] charAt = ByteToChar(text, utf8.Length);
        var leaves = new List<JsonLeaf>();
        var frames = new Stack<Frame>();
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        frames.Peek().Name = reader.GetString();
                        break;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        frames.Push(new Frame(NextPointer(frames), reader.TokenType == JsonTokenType.StartArray));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        frames.Pop();
                        break;
                    default:
                        int start = charAt[(int)reader.TokenStartIndex], end = charAt[(int)reader.BytesConsumed];
                        string pointer = NextPointer(frames);
                        using (var doc = JsonDocument.Parse(text.AsMemory(start, end - start)))
                            leaves.Add(new JsonLeaf(pointer, start, end, doc.RootElement.Clone()));
                        break;
                }
            }
        }
        catch (JsonException) { } // cut short or not JSON: keep what was complete
        return leaves;
    }

    /// <summary>Per-field scores of one generated answer (fields in text order).</summary>
    public static IReadOnlyList<JsonFieldUncertainty> Analyze(GenerationResult result) => Analyze(result.Text, result.Tokens);

    /// <summary>Per-field scores from the text and the tokens that wrote it (their pieces concatenate to the text, possibly longer when a stop string cut it).</summary>
    public static IReadOnlyList<JsonFieldUncertainty> Analyze(string text, IReadOnlyList<GeneratedToken> tokens)
    {
        var leaves = Leaves(text);
        var spans = new (int Start, int End)[tokens.Count];
        int at = 0;
        for (int i = 0; i < tokens.Count; i++) { spans[i] = (at, at + tokens[i].Text.Length); at += tokens[i].Text.Length; }

        var fields = new List<JsonFieldUncertainty>(leaves.Count);
        int first = 0; // tokens before the previous leaf's start cannot touch later leaves
        foreach (var leaf in leaves)
        {
            while (first < spans.Length && spans[first].End <= leaf.Start) first++;
            int count = 0;
            double sum = 0, min = double.PositiveInfinity, csum = 0, cmin = double.PositiveInfinity, entropy = 0, mass = 0, minMass = double.PositiveInfinity;
            for (int i = first; i < spans.Length && spans[i].Start < leaf.End; i++)
            {
                // A piece of zero length (part of a multi-byte character) writes nothing of its own here.
                if (spans[i].End <= leaf.Start && spans[i].End > spans[i].Start) continue;
                var t = tokens[i];
                count++;
                sum += t.LogProbability; min = Math.Min(min, t.LogProbability);
                csum += t.ConstrainedLogProbability; cmin = Math.Min(cmin, t.ConstrainedLogProbability);
                entropy += t.Entropy;
                double m = Math.Exp(t.AllowedLogMass);
                mass += m; minMass = Math.Min(minMass, m);
            }
            string value = leaf.Value.GetRawText();
            fields.Add(count == 0
                ? new JsonFieldUncertainty(leaf.Pointer, value, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1)
                : new JsonFieldUncertainty(leaf.Pointer, value, count, sum, min, sum / count, csum, double.IsNaN(csum) ? double.NaN : cmin, csum / count,
                    entropy / count, mass / count, double.IsNaN(mass) ? double.NaN : minMass));
        }
        return fields;
    }

    /// <summary>
    /// Per-field scores of each of n samples of one prompt; with n &gt; 1 each field gets its
    /// <see cref="JsonFieldUncertainty.Agreement"/>: the fraction of the n samples holding an equal value at its pointer.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<JsonFieldUncertainty>> Analyze(IReadOnlyList<GenerationResult> samples)
    {
        var perSample = samples.Select(Analyze).ToList();
        if (samples.Count < 2) return perSample;
        var values = samples.Select(s => Leaves(s.Text).GroupBy(l => l.Pointer).ToDictionary(g => g.Key, g => g.First().Value)).ToList();
        return [.. perSample.Select(fields => (IReadOnlyList<JsonFieldUncertainty>)[.. fields.Select(f =>
        {
            var mine = JsonDocument.Parse(f.Value).RootElement;
            int same = values.Count(v => v.TryGetValue(f.Pointer, out var other) && JsonElement.DeepEquals(mine, other));
            return f with { Agreement = (double)same / samples.Count };
        })])];
    }

    private static string NextPointer(Stack<Frame> frames)
    {
        if (frames.Count == 0) return "";
        var top = frames.Peek();
        return top.IsArray ? $"{top.Pointer}/{top.Index++}" : $"{top.Pointer}/{Escape(top.Name ?? "")}";
    }

    private static string Escape(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    /// <summary>charAt[b] = index of the character holding UTF-8 byte b (charAt[length] = text length).</summary>
    private static int[] ByteToChar(string text, int byteCount)
    {
        var map = new int[byteCount + 1];
        int b = 0;
        for (int c = 0; c < text.Length; c++)
        {
            int n = char.IsHighSurrogate(text[c]) && c + 1 < text.Length && char.IsLowSurrogate(text[c + 1])
                ? 4 : Encoding.UTF8.GetByteCount(text.AsSpan(c, 1));
            for (int k = 0; k < n && b < byteCount; k++) map[b++] = c;
            if (n == 4) c++;
        }
        map[byteCount] = text.Length;
        return map;
    }

    private sealed class Frame(string pointer, bool isArray)
    {
        public string Pointer { get; } = pointer;
        public bool IsArray { get; } = isArray;
        public int Index { get; set; }
        public string? Name { get; set; }
    }
}
