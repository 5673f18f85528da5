using Mono.Cecil;
using Mono.Cecil.Cil;

namespace UQEngine.Tests;

/// <summary>
/// Keeps docs/ARCHITECTURE.md true: every namespace of the product uses only namespaces below it in
/// <see cref="Layers"/> (types in signatures, attributes and method bodies, read from the built IL), the core
/// assembly references nothing outside the .NET libraries, and only Native/ calls llama.cpp.
/// </summary>
public sealed class ArchitectureTests
{
    /// <summary>Bottom first. A namespace may use itself and the ones before it, never one after it.</summary>
    public static readonly IReadOnlyList<string> Layers =
    [
        // UQEngine (core)
        "UQEngine.Native", "UQEngine.Gguf", "UQEngine.Kernels", "UQEngine.Uncertainty", "UQEngine.Inference", "UQEngine.Structured", "UQEngine.Training",
        // UQEngine.ModelCheck (the isolated checker's child process and the GGUF fuzzer: core only)
        "UQEngine.ModelCheck",
        // UQEngine.Models, UQEngine.Chat
        "UQEngine.Models", "UQEngine.Chat",
        // UQEngine.Methods
        "UQEngine.Methods.Samples.LinearAlgebra", "UQEngine.Methods.Samples.Similarity", "UQEngine.Methods.Samples", "UQEngine.Methods", "UQEngine.Methods.Probes",
        // UQEngine.LLamaSharp (the LLamaSharp adapter: above UQEngine.Methods and UQEngine.Chat, below nothing else)
        "UQEngine.LLamaSharp",
        // UQEngine.Evaluation
        "UQEngine.Evaluation.Metrics", "UQEngine.Evaluation.Calibration", "UQEngine.Evaluation.Grading", "UQEngine.Evaluation.Datasets",
        "UQEngine.Evaluation.Decisions", "UQEngine.Evaluation.Runner", "UQEngine.Evaluation.Probes", "UQEngine.Evaluation.Sensitivity",
        "UQEngine.Evaluation.Comparison", "UQEngine.Evaluation.Uait",
        // UQEngine.MiniLM (all-MiniLM-L6-v2: ONNX Runtime embedder, WordPiece, GGUF converter)
        "UQEngine.MiniLM",
        // UQEngine.Remote (the catalog over an OpenAI-compatible endpoint: above UQEngine.Methods only)
        "UQEngine.Remote",
        // UQEngine.Demo, UQEngine.Server, UQEngine.Cli
        "UQEngine.Demo", "UQEngine.Server", "UQEngine.Cli", "UQEngine.Cli.Rendering", "UQEngine.Cli.Reports", "UQEngine.Cli.Commands",
    ];

    /// <summary>The product's assemblies, each with the namespaces it holds.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Assemblies = new Dictionary<string, string[]>
    {
        ["UQEngine"] = ["UQEngine.Native", "UQEngine.Gguf", "UQEngine.Kernels", "UQEngine.Uncertainty", "UQEngine.Inference", "UQEngine.Structured", "UQEngine.Training"],
        ["UQEngine.ModelCheck"] = ["UQEngine.ModelCheck"],
        ["UQEngine.Models"] = ["UQEngine.Models"],
        ["UQEngine.Chat"] = ["UQEngine.Chat"],
        ["UQEngine.Methods"] = ["UQEngine.Methods", "UQEngine.Methods.Samples", "UQEngine.Methods.Samples.LinearAlgebra", "UQEngine.Methods.Samples.Similarity", "UQEngine.Methods.Probes"],
        ["UQEngine.LLamaSharp"] = ["UQEngine.LLamaSharp"],
        ["UQEngine.Evaluation"] = [.. Layers.Where(l => l.StartsWith("UQEngine.Evaluation.", StringComparison.Ordinal))],
        ["UQEngine.MiniLM"] = ["UQEngine.MiniLM"],
        ["UQEngine.Remote"] = ["UQEngine.Remote"],
        ["UQEngine.Demo"] = ["UQEngine.Demo"],
        ["UQEngine.Server"] = ["UQEngine.Server"],
        ["UQEngine.Cli"] = ["UQEngine.Cli", "UQEngine.Cli.Rendering", "UQEngine.Cli.Reports", "UQEngine.Cli.Commands"],
    };

    private static string PathOf(string assembly) => Path.Combine(AppContext.BaseDirectory, assembly + ".dll");

    [Fact]
    public void Every_namespace_uses_only_the_layers_below_it()
    {
        var edges = Assemblies.Keys.SelectMany(a => NamespaceEdges(PathOf(a))).ToList();
        Assert.NotEmpty(edges);
        var backEdges = BackEdges(edges, Layers);
        Assert.True(backEdges.Count == 0, "back-edges (docs/ARCHITECTURE.md):\n" + string.Join("\n", backEdges));
    }

    /// <summary>
    /// The core types the LLamaSharp adapter may use from UQEngine.Inference: plain records that load no native code.
    /// LLamaSharp's llama.cpp and UQEngine's share file names but not struct layouts, so the adapter (which runs next to
    /// LLamaSharp's) must never reach LlamaModel, LlamaContext, Generator or anything else that calls UQEngine.Native.
    /// </summary>
    private static readonly HashSet<string> LLamaSharpAdapterInferenceTypes = new(StringComparer.Ordinal)
    {
        "UQEngine.Inference.GeneratedToken", "UQEngine.Inference.TokenAlternative", "UQEngine.Inference.GenerationResult",
        "UQEngine.Inference.ScoredSequence", "UQEngine.Inference.FinishReason",
    };

    [Fact]
    public void The_llamasharp_adapter_never_touches_uqengines_llama_cpp()
    {
        using var module = ModuleDefinition.ReadModule(PathOf("UQEngine.LLamaSharp"));
        var used = module.GetTypeReferences().Select(t => t.IsNested ? t.DeclaringType.FullName : t.FullName).Distinct().ToList();
        Assert.Contains("UQEngine.Inference.GeneratedToken", used); // the check reads the right references
        var forbidden = used.Where(t => t.StartsWith("UQEngine.Native.", StringComparison.Ordinal)
            || (t.StartsWith("UQEngine.Inference.", StringComparison.Ordinal) && !LLamaSharpAdapterInferenceTypes.Contains(t))).ToList();
        Assert.True(forbidden.Count == 0, "UQEngine.LLamaSharp uses native-loading core types: " + string.Join(", ", forbidden));
    }

    [Fact]
    public void Every_namespace_is_in_its_assembly_and_in_the_layer_list()
    {
        foreach (var (assembly, namespaces) in Assemblies)
        {
            var found = TypesOf(PathOf(assembly)).Select(t => t.Namespace).Where(IsProduct).ToHashSet(StringComparer.Ordinal);
            Assert.True(found.SetEquals(namespaces), $"{assembly} holds {string.Join(", ", found.Order())}; the layer table says {string.Join(", ", namespaces)}");
            Assert.All(namespaces, ns => Assert.Contains(ns, Layers));
        }
    }

    [Fact]
    public void The_core_references_nothing_but_the_dotnet_libraries()
    {
        using var module = ModuleDefinition.ReadModule(PathOf("UQEngine"));
        var foreign = module.AssemblyReferences.Select(r => r.Name)
            .Where(n => !n.StartsWith("System", StringComparison.Ordinal) && n is not ("netstandard" or "mscorlib") && !n.StartsWith("Microsoft.Win32", StringComparison.Ordinal))
            .ToList();
        Assert.True(foreign.Count == 0, "the core assembly references " + string.Join(", ", foreign));
    }

    [Fact]
    public void Only_Native_calls_llama_cpp()
    {
        using var module = ModuleDefinition.ReadModule(PathOf("UQEngine"));
        var callers = module.GetTypes()
            .Where(t => NamespaceOf(t) != "UQEngine.Native")
            .SelectMany(t => t.Methods.Where(m => m.HasBody).SelectMany(m => m.Body.Instructions
                .Where(i => i.Operand is MethodReference r && r.DeclaringType.FullName == "UQEngine.Native.LlamaNative")
                .Select(_ => $"{t.FullName}.{m.Name}")))
            .Distinct().ToList();
        Assert.True(callers.Count == 0, "llama.cpp called outside UQEngine.Native by: " + string.Join(", ", callers));
        Assert.Contains(module.GetTypes(), t => t.FullName == "UQEngine.Native.LlamaNative"); // the check looks for the right type
    }

    [Fact]
    public void The_checker_finds_a_back_edge()
    {
        // As if Inference used a Methods type: the test above must then fail and name it.
        var found = BackEdges([new Edge("UQEngine.Inference", "UQEngine.Methods", "UQEngine.Inference.Generator")], Layers);
        Assert.Equal("UQEngine.Inference -> UQEngine.Methods (in UQEngine.Inference.Generator)", Assert.Single(found));
        Assert.Empty(BackEdges([new Edge("UQEngine.Methods", "UQEngine.Inference", "UQEngine.Methods.SampleSet")], Layers));
        Assert.Contains("not in the layer list", Assert.Single(BackEdges([new Edge("UQEngine.Nowhere", "UQEngine.Inference", "X")], Layers)));
    }

    /// <summary>One use of a namespace by a type of another.</summary>
    public readonly record struct Edge(string From, string To, string Where);

    /// <summary>Uses that go up the layer list, or come from a namespace the list does not name.</summary>
    public static List<string> BackEdges(IEnumerable<Edge> edges, IReadOnlyList<string> layers)
    {
        var rank = layers.Select((ns, i) => (ns, i)).ToDictionary(x => x.ns, x => x.i, StringComparer.Ordinal);
        var problems = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var e in edges)
        {
            if (e.From == e.To || !IsProduct(e.To)) continue;
            if (!rank.TryGetValue(e.From, out int from)) { problems.Add($"{e.From} is not in the layer list (in {e.Where})"); continue; }
            if (!rank.TryGetValue(e.To, out int to)) { problems.Add($"{e.To} is not in the layer list (used by {e.Where})"); continue; }
            if (to > from) problems.Add($"{e.From} -> {e.To} (in {e.Where})");
        }
        // One line per namespace pair is enough to act on.
        return [.. problems.GroupBy(p => p.Split(" (")[0]).Select(g => g.First())];
    }

    private static bool IsProduct(string? ns) => ns is not null && (ns == "UQEngine" || ns.StartsWith("UQEngine.", StringComparison.Ordinal));

    private static List<TypeDefinition> TypesOf(string path)
    {
        using var module = ModuleDefinition.ReadModule(path);
        return [.. module.GetTypes().Where(t => IsProduct(NamespaceOf(t)))];
    }

    private static string NamespaceOf(TypeReference t)
    {
        while (t.DeclaringType is not null) t = t.DeclaringType;
        return t.Namespace;
    }

    /// <summary>Every (namespace, namespace used) pair of the assembly: signatures, attributes, bodies.</summary>
    public static List<Edge> NamespaceEdges(string path)
    {
        using var module = ModuleDefinition.ReadModule(path);
        var edges = new HashSet<Edge>();
        foreach (var type in module.GetTypes())
        {
            string from = NamespaceOf(type);
            if (!IsProduct(from)) continue;
            void Use(TypeReference? t)
            {
                switch (t)
                {
                    case null: return;
                    case GenericInstanceType g: Use(g.ElementType); foreach (var a in g.GenericArguments) Use(a); return;
                    case TypeSpecification s: Use(s.ElementType); return;
                    case GenericParameter: return;
                }
                edges.Add(new Edge(from, NamespaceOf(t), type.FullName));
            }
            void UseMember(MemberReference? m)
            {
                switch (m)
                {
                    case MethodReference mr:
                        Use(mr.DeclaringType); Use(mr.ReturnType);
                        foreach (var p in mr.Parameters) Use(p.ParameterType);
                        if (mr is GenericInstanceMethod gm) foreach (var a in gm.GenericArguments) Use(a);
                        break;
                    case FieldReference fr: Use(fr.DeclaringType); Use(fr.FieldType); break;
                    case TypeReference tr: Use(tr); break;
                }
            }
            void Attributes(ICustomAttributeProvider p)
            {
                if (!p.HasCustomAttributes) return;
                foreach (var a in p.CustomAttributes) { Use(a.AttributeType); foreach (var arg in a.ConstructorArguments) if (arg.Value is TypeReference tr) Use(tr); }
            }
            Use(type.BaseType);
            Attributes(type);
            foreach (var i in type.Interfaces) Use(i.InterfaceType);
            foreach (var f in type.Fields) { Use(f.FieldType); Attributes(f); }
            foreach (var p in type.Properties) { Use(p.PropertyType); Attributes(p); }
            foreach (var e in type.Events) Use(e.EventType);
            foreach (var m in type.Methods)
            {
                Attributes(m);
                Use(m.ReturnType);
                foreach (var p in m.Parameters) Use(p.ParameterType);
                if (!m.HasBody) continue;
                foreach (var v in m.Body.Variables) Use(v.VariableType);
                foreach (var ins in m.Body.Instructions)
                    if (ins.Operand is MemberReference member) UseMember(member);
            }
        }
        return [.. edges];
    }
}
