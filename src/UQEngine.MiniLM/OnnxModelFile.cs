using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.MiniLM;

/// <summary>An initializer of an ONNX graph (TensorProto): its name, shape (outermost first) and raw little-endian data.</summary>
public sealed record OnnxTensor(string Name, long[] Shape, int DataType, ReadOnlyMemory<byte> RawData)
{
    /// <summary>TensorProto.DataType FLOAT.</summary>
    public const int Float = 1;

    /// <summary>The values as floats (FLOAT tensors stored as raw_data).</summary>
    public float[] ToFloats()
    {
        if (DataType != Float) throw new InvalidDataException($"ONNX tensor '{Name}' has data type {DataType}, not float");
        long count = Shape.Aggregate(1L, (a, b) => a * b);
        if (RawData.Length != count * 4) throw new InvalidDataException($"ONNX tensor '{Name}' has {RawData.Length} bytes of raw data for {count} floats");
        return MemoryMarshal.Cast<byte, float>(RawData.Span).ToArray();
    }
}

/// <summary>A node of an ONNX graph (NodeProto): operator, inputs and outputs by name.</summary>
public sealed record OnnxNode(string OpType, string[] Inputs, string[] Outputs);

/// <summary>
/// The parts of an ONNX ModelProto a weight converter needs: graph.initializer (TensorProto: dims = 1, data_type = 2,
/// name = 8, raw_data = 9, float_data = 4) and graph.node (NodeProto: input = 1, output = 2, op_type = 4), read with a
/// minimal protobuf wire-format reader. ModelProto.graph is field 7; GraphProto.node is 1 and initializer 5.
/// </summary>
public sealed class OnnxModelFile
{
    private OnnxModelFile(IReadOnlyDictionary<string, OnnxTensor> initializers, IReadOnlyList<OnnxNode> nodes)
    {
        Initializers = initializers;
        Nodes = nodes;
    }

    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    public static OnnxModelFile Parse(ReadOnlyMemory<byte> model)
    {
        ReadOnlyMemory<byte>? graph = null;
        foreach (var f in Fields(model)) if (f.Number == 7 && f.WireType == 2) graph = f.Bytes;
        if (graph is not { } g) throw new InvalidDataException("the ONNX model has no graph");
        var inits = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var nodes = new List<OnnxNode>();
        foreach (var f in Fields(g))
        {
            if (f.WireType != 2) continue;
            if (f.Number == 5) { var t = ReadTensor(f.Bytes); inits[t.Name] = t; }
            else if (f.Number == 1) nodes.Add(ReadNode(f.Bytes));
        }
        return new OnnxModelFile(inits, nodes);
    }

    private static OnnxTensor ReadTensor(ReadOnlyMemory<byte> bytes)
    {
        var dims = new List<long>();
        string name = "";
        int type = 0;
        ReadOnlyMemory<byte> raw = default;
        List<float>? floats = null;
        foreach (var f in Fields(bytes))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 0): dims.Add((long)f.Value); break;
                case (1, 2): { int p = 0; var span = f.Bytes.Span; while (p < span.Length) dims.Add((long)ReadVarint(span, ref p)); break; }
                case (2, 0): type = (int)f.Value; break;
                case (8, 2): name = Encoding.UTF8.GetString(f.Bytes.Span); break;
                case (9, 2): raw = f.Bytes; break;
                case (4, 2): (floats ??= []).AddRange(MemoryMarshal.Cast<byte, float>(f.Bytes.Span).ToArray()); break;
                case (4, 5): (floats ??= []).Add(BitConverter.UInt32BitsToSingle((uint)f.Value)); break;
                case (14, 2): throw new InvalidDataException($"ONNX tensor '{name}' keeps its data in an external file, which this reader does not follow");
            }
        }
        if (raw.IsEmpty && floats is not null) raw = MemoryMarshal.AsBytes(floats.ToArray().AsSpan()).ToArray();
        return new OnnxTensor(name, [.. dims], type, raw);
    }

    private static OnnxNode ReadNode(ReadOnlyMemory<byte> bytes)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string op = "";
        foreach (var f in Fields(bytes))
        {
            if (f.WireType != 2) continue;
            if (f.Number == 1) inputs.Add(Encoding.UTF8.GetString(f.Bytes.Span));
            else if (f.Number == 2) outputs.Add(Encoding.UTF8.GetString(f.Bytes.Span));
            else if (f.Number == 4) op = Encoding.UTF8.GetString(f.Bytes.Span);
        }
        return new OnnxNode(op, [.. inputs], [.. outputs]);
    }

    private readonly record struct Field(int Number, int WireType, ulong Value, ReadOnlyMemory<byte> Bytes);

    private static IEnumerable<Field> Fields(ReadOnlyMemory<byte> message)
    {
        int p = 0;
        while (p < message.Length)
        {
            ulong key = ReadVarint(message.Span, ref p);
            int number = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: yield return new Field(number, wire, ReadVarint(message.Span, ref p), default); break;
                case 1: yield return new Field(number, wire, BitConverter.ToUInt64(message.Span.Slice(p, 8)), default); p += 8; break;
                case 5: yield return new Field(number, wire, BitConverter.ToUInt32(message.Span.Slice(p, 4)), default); p += 4; break;
                case 2:
                    int length = checked((int)ReadVarint(message.Span, ref p));
                    if (length < 0 || p + length > message.Length) throw new InvalidDataException("truncated ONNX protobuf");
                    yield return new Field(number, wire, 0, message.Slice(p, length));
                    p += length;
                    break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wire} in the ONNX model");
            }
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int p)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (p >= span.Length) throw new InvalidDataException("truncated ONNX protobuf varint");
            byte b = span[p++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
        throw new InvalidDataException("malformed ONNX protobuf varint");
    }

    /// <summary>
    /// The weight of each Linear layer, keyed by its bias's name: exporters store a Linear's weight transposed under a
    /// generated name (e.g. "927" or "onnx::MatMul_927") as the second input of a MatMul whose output an Add takes
    /// together with the bias initializer ("encoder.layer.0.attention.self.query.bias"). Values are [in, out].
    /// </summary>
    public IReadOnlyDictionary<string, OnnxTensor> LinearWeightsByBias()
    {
        var matmulWeight = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in Nodes)
            if (n.OpType == "MatMul" && n.Inputs.Length == 2 && Initializers.ContainsKey(n.Inputs[1]))
                matmulWeight[n.Outputs[0]] = n.Inputs[1];
        var result = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            if (n.OpType != "Add" || n.Inputs.Length != 2) continue;
            for (int i = 0; i < 2; i++)
            {
                string bias = n.Inputs[i], other = n.Inputs[1 - i];
                if (bias.EndsWith(".bias", StringComparison.Ordinal) && Initializers.ContainsKey(bias) && matmulWeight.TryGetValue(other, out var w))
                    result[bias] = Initializers[w];
            }
        }
        return result;
    }
}
