using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using UQEngine.Inference;

namespace UQEngine.Structured;

/// <summary>A schema keyword (or value) the grammar converter cannot honour; names the keyword and where it is.</summary>
public sealed class UnsupportedSchemaException(string keyword, string pointer, string detail)
    : ArgumentException($"JSON Schema keyword '{keyword}' at '{(pointer.Length == 0 ? "#" : "#" + pointer)}' is not supported: {detail}")
{
    /// <summary>The keyword, e.g. "pattern".</summary>
    public string Keyword { get; } = keyword;
    /// <summary>JSON pointer of the schema object holding it ("" = the root schema).</summary>
    public string Pointer { get; } = pointer;
}

/// <summary>
/// Converts a JSON Schema into a llama.cpp GBNF grammar whose every sentence is a JSON text valid against the schema.
/// Supported: type (one or a list), properties, required, additionalProperties (false, true or a schema; absent
/// generates only the declared properties, a subset of what the schema allows), items, minItems, maxItems, enum,
/// const, minLength, maxLength, format (date, time, date-time, uuid, email; other formats are annotations and
/// generate any string), integer minimum/maximum (exclusive too) up to <see cref="MaxEnumeratedIntegers"/> values or
/// a minimum of 0 (no sign), anyOf, oneOf (exclusivity is not enforced), allOf with one entry, $ref to "#", "#/$defs/…"
/// or "#/definitions/…" (recursion too), and the boolean schema true. Annotations (title, description, default,
/// examples, $schema, $id, $comment, deprecated, readOnly, writeOnly) are ignored; any other keyword is an
/// <see cref="UnsupportedSchemaException"/>. Required properties are generated first, in schema order, then the
/// optional ones in order. Whitespace between tokens is at most one space.
/// </summary>
public sealed class JsonSchemaGrammar
{
    /// <summary>Integer ranges up to this many values become alternatives; wider bounded ranges are refused.</summary>
    public const int MaxEnumeratedIntegers = 1000;

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
    };

    // Handled keywords per concern; anything else in a schema object is refused.
    private static readonly HashSet<string> Handled = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref",
        "uniqueItems",
    };

    private const string SpaceRule = "space";

    // Primitive rules: name -> body. Added on first use.
    private static readonly Dictionary<string, string> Primitives = new(StringComparer.Ordinal)
    {
        // At most one space between tokens: a model that does not know JSON well cannot spend its budget on
        // indentation, and no token is ever spent on whitespace it did not choose over a value.
        [SpaceRule] = "\" \"?",
        // Unicode scalar values other than '"', '\\', controls and DEL (no surrogates, nothing above U+10FFFF), or an escape.
        ["char"] = "[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\uD7FF\\uE000-\\U0010FFFF] | [\\\\] ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})",
        ["string"] = "\"\\\"\" char* \"\\\"\" space",
        ["integral-part"] = "[0] | [1-9] [0-9]{0,15}",
        ["decimal-part"] = "[0-9]{1,16}",
        ["number"] = "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)? space",
        ["integer"] = "(\"-\"? integral-part) space",
        ["boolean"] = "(\"true\" | \"false\") space",
        ["null"] = "\"null\" space",
        ["value"] = "object | array | string | number | boolean | null",
        ["object"] = "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" space",
        ["array"] = "\"[\" space ( value (\",\" space value)* )? \"]\" space",
        ["date"] = "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )",
        ["time"] = "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? ( \"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] )",
        ["date-string"] = "\"\\\"\" date \"\\\"\" space",
        ["time-string"] = "\"\\\"\" time \"\\\"\" space",
        ["date-time-string"] = "\"\\\"\" date \"T\" time \"\\\"\" space",
        ["uuid-string"] = "\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12} \"\\\"\" space",
        ["email-string"] = "\"\\\"\" [a-zA-Z0-9._%+-]{1,64} \"@\" [a-zA-Z0-9-]{1,63} (\".\" [a-zA-Z0-9-]{1,63}){1,8} \"\\\"\" space",
    };

    private static readonly Dictionary<string, string[]> PrimitiveDependencies = new(StringComparer.Ordinal)
    {
        ["char"] = [], [SpaceRule] = [], ["integral-part"] = [], ["decimal-part"] = [],
        ["string"] = ["char", SpaceRule],
        ["number"] = ["integral-part", "decimal-part", SpaceRule],
        ["integer"] = ["integral-part", SpaceRule],
        ["boolean"] = [SpaceRule], ["null"] = [SpaceRule],
        ["value"] = ["object", "array", "string", "number", "boolean", "null"],
        ["object"] = ["string", "value", SpaceRule], ["array"] = ["value", SpaceRule],
        ["date"] = [], ["time"] = [],
        ["date-string"] = ["date", SpaceRule], ["time-string"] = ["time", SpaceRule], ["date-time-string"] = ["date", "time", SpaceRule],
        ["uuid-string"] = [SpaceRule], ["email-string"] = [SpaceRule],
    };

    private readonly JsonElement _root;
    private readonly Dictionary<string, string> _rules = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);

    private JsonSchemaGrammar(JsonElement root) => _root = root;

    /// <summary>The grammar of any JSON object (OpenAI's response_format json_object).</summary>
    public static GenerationGrammar AnyJsonObject { get; } = new(AnyObjectText());

    /// <summary>The grammar of the JSON texts valid against <paramref name="schema"/>; throws <see cref="UnsupportedSchemaException"/>.</summary>
    public static GenerationGrammar FromSchema(JsonElement schema) => new(ToGbnf(schema));

    /// <summary>Parses the schema text first; malformed JSON is an <see cref="ArgumentException"/>.</summary>
    public static GenerationGrammar FromSchema(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(schemaJson); }
        catch (JsonException e) { throw new ArgumentException($"the JSON Schema is not valid JSON: {e.Message}", nameof(schemaJson), e); }
        using (doc) return FromSchema(doc.RootElement);
    }

    /// <summary>The GBNF text (root rule "root").</summary>
    public static string ToGbnf(JsonElement schema)
    {
        var converter = new JsonSchemaGrammar(schema.Clone());
        string body = converter.Visit(schema, "", "root");
        converter.Define("root", body);
        return converter.Render();
    }

    private static string AnyObjectText()
    {
        var c = new JsonSchemaGrammar(default);
        c.Define("root", c.Use("object"));
        return c.Render();
    }

    private string Render()
    {
        var sb = new StringBuilder();
        // root first for readers; llama.cpp does not care about order.
        foreach (string name in _order.OrderBy(n => n == "root" ? 0 : 1))
            sb.Append(name).Append(" ::= ").Append(_rules[name]).Append('\n');
        return sb.ToString();
    }

    private void Define(string name, string body)
    {
        if (!_rules.ContainsKey(name)) _order.Add(name);
        _rules[name] = body;
    }

    /// <summary>Adds a primitive rule (and what it uses) and returns its name.</summary>
    private string Use(string primitive)
    {
        if (_rules.ContainsKey(primitive)) return primitive;
        Define(primitive, Primitives[primitive]);
        foreach (string dep in PrimitiveDependencies[primitive]) Use(dep);
        return primitive;
    }

    /// <summary>A fresh rule name from a hint (letters, digits and '-' only, as GBNF requires).</summary>
    private string NewName(string hint)
    {
        var sb = new StringBuilder();
        foreach (char ch in hint)
            if (char.IsAsciiLetterOrDigit(ch)) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        string baseName = sb.ToString().Trim('-');
        if (baseName.Length == 0) baseName = "rule";
        string name = baseName;
        for (int i = 1; _rules.ContainsKey(name) || Primitives.ContainsKey(name) || _reserved.Contains(name); i++) name = baseName + "-" + i;
        _reserved.Add(name);
        return name;
    }

    private readonly HashSet<string> _reserved = new(StringComparer.Ordinal) { "root" };

    /// <summary>A rule body for the schema at <paramref name="pointer"/>.</summary>
    private string Visit(JsonElement schema, string pointer, string hint)
    {
        if (schema.ValueKind == JsonValueKind.True) return Use("value");
        if (schema.ValueKind == JsonValueKind.False)
            throw new UnsupportedSchemaException("false", pointer, "the schema false admits no value, so nothing can be generated");
        if (schema.ValueKind != JsonValueKind.Object)
            throw new UnsupportedSchemaException("schema", pointer, $"a schema must be an object or a boolean, not {schema.ValueKind}");

        foreach (var p in schema.EnumerateObject())
            if (!Annotations.Contains(p.Name) && !Handled.Contains(p.Name))
                throw new UnsupportedSchemaException(p.Name, pointer, "the grammar converter does not implement it");

        if (schema.TryGetProperty("$ref", out var reference)) return Reference(reference, pointer);
        if (schema.TryGetProperty("const", out var constant)) return Literal(constant) + " " + Use(SpaceRule);
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw new UnsupportedSchemaException("enum", pointer, "enum must be a non-empty array");
            return "(" + string.Join(" | ", values.EnumerateArray().Select(Literal)) + ") " + Use(SpaceRule);
        }
        foreach (string combinator in (string[])["anyOf", "oneOf"])
        {
            if (!schema.TryGetProperty(combinator, out var options)) continue;
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
                throw new UnsupportedSchemaException(combinator, pointer, $"{combinator} must be a non-empty array");
            var alternatives = options.EnumerateArray().Select((o, i) => Named(o, $"{pointer}/{combinator}/{i}", $"{hint}-{i}"));
            return "(" + string.Join(" | ", alternatives) + ")";
        }
        if (schema.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1)
                throw new UnsupportedSchemaException("allOf", pointer, "only an allOf with exactly one schema is supported (intersections are not)");
            return Visit(all[0], pointer + "/allOf/0", hint);
        }

        if (!schema.TryGetProperty("type", out var type))
        {
            // No type: infer from the keywords present, else any value.
            if (schema.TryGetProperty("properties", out _)) return ObjectRule(schema, pointer, hint);
            if (schema.TryGetProperty("items", out _)) return ArrayRule(schema, pointer, hint);
            return Use("value");
        }
        if (type.ValueKind == JsonValueKind.String) return TypedRule(type.GetString()!, schema, pointer, hint);
        if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
            return "(" + string.Join(" | ", type.EnumerateArray().Select(t =>
                t.ValueKind == JsonValueKind.String ? TypedRule(t.GetString()!, schema, pointer, hint + "-" + t.GetString())
                : throw new UnsupportedSchemaException("type", pointer, "type entries must be strings"))) + ")";
        throw new UnsupportedSchemaException("type", pointer, "type must be a string or a non-empty array of strings");
    }

    /// <summary>A schema's body as a rule of its own (for alternatives and repeated items), returning its name.</summary>
    private string Named(JsonElement schema, string pointer, string hint)
    {
        string name = NewName(hint);
        Define(name, Visit(schema, pointer, name));
        return name;
    }

    private string Reference(JsonElement reference, string pointer)
    {
        string target = reference.ValueKind == JsonValueKind.String ? reference.GetString()! : "";
        if (!target.StartsWith('#'))
            throw new UnsupportedSchemaException("$ref", pointer, $"only references inside the schema ('#', '#/$defs/...') are supported, not '{target}'");
        if (_refRules.TryGetValue(target, out string? existing)) return existing;
        string targetPointer = Uri.UnescapeDataString(target[1..]);
        JsonElement resolved = Resolve(targetPointer) ?? throw new UnsupportedSchemaException("$ref", pointer, $"'{target}' points at nothing in the schema");
        // Name the rule before visiting it, so a recursive reference finds it.
        string name = targetPointer.Length == 0 ? "root" : NewName("ref" + targetPointer);
        _refRules[target] = name;
        if (name != "root") Define(name, Visit(resolved, targetPointer, name));
        return name;
    }

    private JsonElement? Resolve(string pointer)
    {
        JsonElement current = _root;
        if (pointer.Length == 0) return current;
        if (pointer[0] != '/') return null;
        foreach (string raw in pointer[1..].Split('/'))
        {
            string part = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(part, out var next)) current = next;
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < current.GetArrayLength()) current = current[i];
            else return null;
        }
        return current;
    }

    private string TypedRule(string type, JsonElement schema, string pointer, string hint) => type switch
    {
        "object" => ObjectRule(schema, pointer, hint),
        "array" => ArrayRule(schema, pointer, hint),
        "string" => StringRule(schema, pointer),
        "number" => NumberRule(schema, pointer),
        "integer" => IntegerRule(schema, pointer),
        "boolean" => Use("boolean"),
        "null" => Use("null"),
        _ => throw new UnsupportedSchemaException("type", pointer, $"unknown type '{type}'"),
    };

    private string ObjectRule(JsonElement schema, string pointer, string hint)
    {
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array) throw new UnsupportedSchemaException("required", pointer, "required must be an array of names");
            foreach (var r in req.EnumerateArray())
                required.Add(r.ValueKind == JsonValueKind.String ? r.GetString()! : throw new UnsupportedSchemaException("required", pointer, "required must list strings"));
        }
        var props = new List<(string Name, string Pair)>();
        if (schema.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object) throw new UnsupportedSchemaException("properties", pointer, "properties must be an object");
            foreach (var p in properties.EnumerateObject())
            {
                string valueRule = Named(p.Value, $"{pointer}/properties/{EscapePointer(p.Name)}", $"{hint}-{p.Name}");
                props.Add((p.Name, Literal(JsonSerializer.SerializeToElement(p.Name)) + " " + Use(SpaceRule) + " \":\" " + Use(SpaceRule) + " " + valueRule));
            }
        }
        foreach (string r in required)
            if (!props.Any(p => p.Name == r))
                throw new UnsupportedSchemaException("required", pointer, $"'{r}' is required but has no entry in properties");

        // additionalProperties: absent -> only declared properties (a subset of what the schema allows); false -> same;
        // true or a schema -> any further string keys after the declared ones.
        string? extra = null;
        bool hasProperties = props.Count > 0;
        if (schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind != JsonValueKind.False)
        {
            string valueRule = additional.ValueKind == JsonValueKind.True ? Use("value") : Named(additional, pointer + "/additionalProperties", hint + "-additional");
            extra = NewName(hint + "-additional-kv");
            Define(extra, Use("string") + " \":\" " + Use(SpaceRule) + " " + valueRule);
        }
        else if (!hasProperties && !schema.TryGetProperty("additionalProperties", out _))
            return Use("object"); // {"type":"object"} alone: any object

        var ordered = props.Where(p => required.Contains(p.Name)).Concat(props.Where(p => !required.Contains(p.Name))).ToList();
        int requiredCount = required.Count;
        string sp = Use(SpaceRule);
        var body = new StringBuilder("\"{\" ").Append(sp).Append(' ');
        if (requiredCount > 0)
        {
            body.Append(string.Join($" \",\" {sp} ", ordered.Take(requiredCount).Select(p => p.Pair)));
            foreach (var p in ordered.Skip(requiredCount)) body.Append($" (\",\" {sp} {p.Pair})?");
            if (extra is not null) body.Append($" (\",\" {sp} {extra})*");
        }
        else
        {
            // No required property: the first one present has no comma before it; each choice of first is an alternative.
            var optional = ordered.Select(p => p.Pair).ToList();
            if (extra is not null) optional.Add(extra);
            var alternatives = new List<string>();
            for (int i = 0; i < optional.Count; i++)
            {
                var alt = new StringBuilder(optional[i]);
                for (int j = i + 1; j < optional.Count; j++)
                    alt.Append(extra is not null && j == optional.Count - 1 ? $" (\",\" {sp} {optional[j]})*" : $" (\",\" {sp} {optional[j]})?");
                if (extra is not null && i == optional.Count - 1) alt.Append($" (\",\" {sp} {extra})*");
                alternatives.Add(alt.ToString());
            }
            if (alternatives.Count > 0) body.Append("( ").Append(string.Join(" | ", alternatives)).Append(" )?");
        }
        body.Append(" \"}\" ").Append(sp);
        return body.ToString();
    }

    private string ArrayRule(JsonElement schema, string pointer, string hint)
    {
        if (schema.TryGetProperty("uniqueItems", out var unique) && unique.ValueKind == JsonValueKind.True)
            throw new UnsupportedSchemaException("uniqueItems", pointer, "a grammar cannot require distinct items");
        string item = schema.TryGetProperty("items", out var items) ? Named(items, pointer + "/items", hint + "-item") : Use("value");
        int min = IntKeyword(schema, "minItems", pointer) ?? 0;
        int? max = IntKeyword(schema, "maxItems", pointer);
        if (max < min) throw new UnsupportedSchemaException("maxItems", pointer, $"maxItems {max} is below minItems {min}");
        string sp = Use(SpaceRule);
        string open = $"\"[\" {sp} ", close = $" \"]\" {sp}";
        if (max == 0) return open + close.TrimStart();
        string more = $"(\",\" {sp} {item})";
        string tail = max is int m
            ? $"{more}{{{Math.Max(0, min - 1)},{m - 1}}}"
            : min <= 1 ? more + "*" : $"{more}{{{min - 1},}}";
        string list = $"{item} {tail}";
        return open + (min == 0 ? $"( {list} )?" : list) + close;
    }

    private string StringRule(JsonElement schema, string pointer)
    {
        if (schema.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String)
        {
            string? rule = format.GetString() switch
            {
                "date" => "date-string", "time" => "time-string", "date-time" => "date-time-string",
                "uuid" => "uuid-string", "email" => "email-string", _ => null, // other formats: annotations, any string
            };
            if (rule is not null)
            {
                if (schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _))
                    throw new UnsupportedSchemaException("minLength", pointer, $"length bounds together with format '{format.GetString()}' are not supported");
                return Use(rule);
            }
        }
        int? min = IntKeyword(schema, "minLength", pointer), max = IntKeyword(schema, "maxLength", pointer);
        if (min is null && max is null) return Use("string");
        if (max < (min ?? 0)) throw new UnsupportedSchemaException("maxLength", pointer, $"maxLength {max} is below minLength {min}");
        Use("char");
        return $"\"\\\"\" char{{{min ?? 0},{(max is int m ? m.ToString(CultureInfo.InvariantCulture) : "")}}} \"\\\"\" {Use(SpaceRule)}";
    }

    private string NumberRule(JsonElement schema, string pointer)
    {
        foreach (string k in (string[])["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
            if (schema.TryGetProperty(k, out _))
                throw new UnsupportedSchemaException(k, pointer, "bounds on non-integer numbers are not supported (use type integer, or no bound)");
        return Use("number");
    }

    private string IntegerRule(JsonElement schema, string pointer)
    {
        long? min = Bound(schema, "minimum", pointer), max = Bound(schema, "maximum", pointer);
        if (Bound(schema, "exclusiveMinimum", pointer) is long emin) min = Math.Max(min ?? long.MinValue, emin + 1);
        if (Bound(schema, "exclusiveMaximum", pointer) is long emax) max = Math.Min(max ?? long.MaxValue, emax - 1);
        if (min is null && max is null) return Use("integer");
        if (min is long lo && max is long hi)
        {
            if (hi < lo) throw new UnsupportedSchemaException("maximum", pointer, $"no integer lies in [{lo}, {hi}]");
            if (hi - lo + 1 > MaxEnumeratedIntegers)
                throw new UnsupportedSchemaException("maximum", pointer, $"integer ranges wider than {MaxEnumeratedIntegers} values are not supported ([{lo}, {hi}])");
            var values = new List<string>();
            for (long v = lo; v <= hi; v++) values.Add("\"" + v.ToString(CultureInfo.InvariantCulture) + "\"");
            return "(" + string.Join(" | ", values) + ") " + Use(SpaceRule);
        }
        if (min is long onlyMin && onlyMin == 0 && max is null) return $"{Use("integral-part")} {Use(SpaceRule)}";
        if (min is long m1 && m1 == 1 && max is null) return $"[1-9] [0-9]{{0,15}} {Use(SpaceRule)}";
        throw new UnsupportedSchemaException(min is null ? "maximum" : "minimum", pointer, "a one-sided integer bound other than minimum 0 or 1 is not supported; give both minimum and maximum");
    }

    private static long? Bound(JsonElement schema, string keyword, string pointer)
    {
        if (!schema.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && Math.Abs(d) < 1e15)
            return keyword.Contains("inimum", StringComparison.Ordinal) ? (long)Math.Ceiling(d) : (long)Math.Floor(d);
        throw new UnsupportedSchemaException(keyword, pointer, $"{keyword} must be a number below 1e15 in magnitude");
    }

    private static int? IntKeyword(JsonElement schema, string keyword, string pointer)
    {
        if (!schema.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0 && n <= 2000) return n;
        throw new UnsupportedSchemaException(keyword, pointer, $"{keyword} must be an integer in 0..2000 (llama.cpp's repetition limit)");
    }

    /// <summary>A GBNF literal writing the value's compact JSON text.</summary>
    private static string Literal(JsonElement value) => Quote(JsonSerializer.Serialize(value, LiteralJson));

    // Non-ASCII and HTML-sensitive characters stay as themselves (the default encoder would write \uXXXX).
    private static readonly JsonSerializerOptions LiteralJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A GBNF string literal (double quotes; backslash, quote and control characters escaped as llama.cpp reads them).</summary>
    internal static string Quote(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7F) sb.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    private static string EscapePointer(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
