using System.Text.Json;
using UQEngine.Structured;

namespace UQEngine.Tests.Structured;

/// <summary>The JSON Schema to GBNF converter's text (no model needed).</summary>
public sealed class JsonSchemaGrammarTests
{
    private static string Gbnf(string schema) => JsonSchemaGrammar.FromSchema(schema).Text;

    private static Dictionary<string, string> Rules(string gbnf) =>
        gbnf.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(" ::= ", 2)).ToDictionary(p => p[0], p => p[1]);

    [Fact]
    public void Required_properties_come_first_in_order_and_optional_ones_are_optional_after_a_comma()
    {
        var rules = Rules(Gbnf("""
            {"type":"object","properties":{"nick":{"type":"string"},"name":{"type":"string"},"age":{"type":"integer"}},
             "required":["name","age"],"additionalProperties":false}
            """));
        string root = rules["root"];
        int name = root.IndexOf("\"\\\"name\\\"\"", StringComparison.Ordinal), age = root.IndexOf("\"\\\"age\\\"\"", StringComparison.Ordinal);
        int nick = root.IndexOf("\"\\\"nick\\\"\"", StringComparison.Ordinal);
        Assert.True(name > 0 && age > name && nick > age, root);
        Assert.Contains("(\",\" space \"\\\"nick\\\"\"", root); // optional, with its comma
        Assert.StartsWith("\"{\" space", root);
        Assert.EndsWith("\"}\" space", root);
        Assert.Equal("integer", rules["root-age"]);
        Assert.Equal("(\"-\"? integral-part) space", rules["integer"]);
    }

    [Fact]
    public void Enum_const_and_integer_ranges_become_literal_alternatives()
    {
        var rules = Rules(Gbnf("""
            {"type":"object","properties":{"pet":{"enum":["cat","dog",null,3]},"v":{"const":"x\"y"},"m":{"type":"integer","minimum":1,"maximum":3}},
             "required":["pet","v","m"]}
            """));
        Assert.Equal("(\"\\\"cat\\\"\" | \"\\\"dog\\\"\" | \"null\" | \"3\") space", rules["root-pet"]);
        Assert.Equal("\"\\\"x\\\\\\\"y\\\"\" space", rules["root-v"]); // the JSON text "x\"y" as a GBNF literal
        Assert.Equal("(\"1\" | \"2\" | \"3\") space", rules["root-m"]);
    }

    [Fact]
    public void Arrays_repeat_the_item_within_min_and_max_items()
    {
        var rules = Rules(Gbnf("""{"type":"array","items":{"type":"boolean"},"minItems":2,"maxItems":4}"""));
        Assert.Equal("\"[\" space root-item (\",\" space root-item){1,3} \"]\" space", rules["root"]);
        var open = Rules(Gbnf("""{"type":"array","items":{"type":"null"}}"""));
        Assert.Equal("\"[\" space ( root-item (\",\" space root-item)* )? \"]\" space", open["root"]);
    }

    [Fact]
    public void Refs_to_defs_and_to_the_root_make_recursive_rules()
    {
        var rules = Rules(Gbnf("""
            {"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}},
             "best":{"$ref":"#/$defs/pet"}},"required":["name"],"$defs":{"pet":{"enum":["cat","dog"]}}}
            """));
        Assert.Equal("root", rules["root-children-item"]);
        Assert.Equal("ref-defs-pet", rules["root-best"]);
        Assert.Equal("(\"\\\"cat\\\"\" | \"\\\"dog\\\"\") space", rules["ref-defs-pet"]);
    }

    [Fact]
    public void Formats_and_any_of_use_their_rules()
    {
        var rules = Rules(Gbnf("""
            {"type":"object","properties":{"d":{"type":"string","format":"date-time"},"u":{"type":"string","format":"uuid"},
             "x":{"anyOf":[{"type":"string","maxLength":3},{"type":"null"}]}},"required":["d","u","x"]}
            """));
        Assert.Equal("date-time-string", rules["root-d"]);
        Assert.Equal("uuid-string", rules["root-u"]);
        Assert.Equal("(root-x-0 | root-x-1)", rules["root-x"]);
        Assert.Equal("\"\\\"\" char{0,3} \"\\\"\" space", rules["root-x-0"]);
        Assert.Contains("date-time-string", rules.Keys);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]+$"}}}""", "pattern", "/properties/code")]
    [InlineData("""{"type":"array","items":{"not":{"type":"null"}}}""", "not", "/items")]
    [InlineData("""{"anyOf":[{"type":"string"},{"type":"number","minimum":0.5}]}""", "minimum", "/anyOf/1")]
    [InlineData("""{"type":"object","properties":{"a/b":{"type":"string","minLength":1,"patternProperties":{}}}}""", "patternProperties", "/properties/a~1b")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "$ref", "")]
    [InlineData("""{"type":"array","uniqueItems":true}""", "uniqueItems", "")]
    public void Unsupported_keywords_are_refused_naming_the_keyword_and_its_pointer(string schema, string keyword, string pointer)
    {
        var e = Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaGrammar.FromSchema(schema));
        Assert.Equal(keyword, e.Keyword);
        Assert.Equal(pointer, e.Pointer);
        Assert.Contains($"'{keyword}'", e.Message);
    }

    [Fact]
    public void Malformed_schema_text_is_an_argument_error()
    {
        var e = Assert.Throws<ArgumentException>(() => JsonSchemaGrammar.FromSchema("{\"type\":"));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void Json_object_mode_is_any_object_at_the_root()
    {
        var rules = Rules(JsonSchemaGrammar.AnyJsonObject.Text);
        Assert.Equal("object", rules["root"]);
        Assert.Contains("value", rules.Keys);
        Assert.Equal("object | array | string | number | boolean | null", rules["value"]);
    }

    [Fact]
    public void Rule_names_use_only_letters_digits_and_dashes()
    {
        string gbnf = Gbnf("""{"type":"object","properties":{"first name":{"type":"string"},"é_x":{"type":"boolean"}},"required":["first name"]}""");
        foreach (string name in Rules(gbnf).Keys)
            Assert.Matches("^[a-zA-Z0-9-]+$", name);
    }
}
