using System.Globalization;
using System.Text;

namespace UQEngine.Tests.Models;

/// <summary>
/// Seeded, varied strings for tokenizer parity: prose, contractions, numbers, whitespace runs, code, scripts with
/// combining marks, emoji sequences and special-token look-alikes, alone and mixed. Same seed, same strings.
/// </summary>
internal static class TokenizerParityCorpus
{
    /// <summary>The kinds of string, each generated <c>count / Kinds.Length</c> times (the mixed kind joins the others).</summary>
    public static readonly string[] Kinds = ["prose", "contractions", "numbers", "whitespace", "code", "scripts", "emoji", "look-alikes", "mixed"];

    private static readonly string[] Words =
    [
        "the", "model", "is", "not", "sure", "about", "this", "answer", "and", "it", "says", "so", "uncertainty", "tokens",
        "Hello", "World", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "entropy", "calibration", "THE", "Paris",
        "internationalization", "antidisestablishmentarianism", "a", "I", "OK", "GPT", "llama", "HTTPServer", "camelCaseWord",
        "snake_case_word", "x", "naïve", "café", "résumé", "Zürich", "São", "Paulo", "Ångström", "ﬁnance", "coöperate", "ÉCOLE", "ÜBER",
    ];

    private static readonly string[] Contractions =
    [
        "it's", "don't", "can't", "THEY'RE", "we'VE", "I'm", "you'll", "he'd", "She'S", "'s", "'t", "'RE", "'ll", "O'Neil",
        "rock'n'roll", "'tis", "y'all'd've", "isn't", "WON'T", "it’s", "''", "'", "'s'", "don''t",
    ];

    private static readonly string[] Code =
    [
        "for (int i = 0; i < n; i++) {\n    sum += values[i];\n}",
        "def mean(xs):\n\treturn sum(xs) / len(xs)\n",
        "const f = async (x) => { await fetch(`/api/${x}`); };",
        "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![0xFF, 0x10];\n    Ok(())\n}",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
        "<div class=\"note\">&nbsp;<a href='/x?y=1&z=2'>link</a></div>",
        "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\"}}",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
        "    if x != None and not y:\r\n        raise ValueError('bad')\r\n",
        "$ grep -rn \"TODO\" src/ | wc -l && echo $((1 + 2))",
        "public static T Max<T>(this IEnumerable<T> xs) where T : IComparable<T> => xs.Aggregate((a, b) => a.CompareTo(b) > 0 ? a : b);",
        "x=1;y=2;z=x**y//3%4",
        "// comment\n/* block */\n#define PI 3.14159\n",
        "a->b::c<d>>e; f &&= g ||= h ?? i ?.j",
    ];

    private static readonly string[] Scripts =
    [
        "你好，世界！今天天气很好。", "東京は日本の首都です。カタカナとひらがな。", "안녕하세요 세계", "مرحبا بالعالم، كيف حالك؟",
        "नमस्ते दुनिया, यह एक परीक्षण है।", "Привет, мир! Ёжик в тумане.", "Γειά σου Κόσμε", "สวัสดีชาวโลก", "שלום עולם",
        "Tiếng Việt có dấu: người, được, những", "e\u0301 a\u0300 o\u0308 n\u0303 (combining)", "Z\u0351\u0352\u0353a\u0354\u0355lgo",
        "क्षत्रिय ज्ञान श्री", "Ελληνικά ΑΒΓ αβγ", "İstanbul ıi IĞ", "straße STRASSE", "ǅemal ǈubljana", "ﾊﾝｶｸ ＡＢＣ１２３",
        "\u00a0non\u00a0breaking\u00a0spaces\u2003em\u3000ideographic", "zero\u200bwidth\u200cjoiner\u200dmarks\ufeff",
        "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𠀀𠀁𠀂", "Ⅻ ½ ² ③ ٣٤٥ ४२", "ⓐⓑⓒ ℌℑℜ ﬀﬁﬂ",
    ];

    private static readonly string[] Emoji =
    [
        "🙂", "😀😃😄", "👍🏽", "👋🏿👋🏻", "👨‍👩‍👧‍👦", "🧑‍💻", "🏳️‍🌈", "🇺🇸🇯🇵🇩🇪", "1️⃣#️⃣", "❤️", "☺︎", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
        "👩🏽‍🚀", "🤷‍♂️", "✨🔥💯", "©®™", "⌚⌛",
    ];

    private static readonly string[] LookAlikes =
    [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "[INST]", "[/INST]", "<|begin_of_text|>", "<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>",
        "<|endoftext", "endoftext|>", "<|ENDOFTEXT|>", "< |endoftext| >", "<|endoftext|><|endoftext|>", "<think>", "</think>",
        "<<SYS>>", "<unk>", "[PAD100261]", "[PAD199998]", "<|reserved_special_token_0|>", "<|im_start|>system\nYou are helpful.<|im_end|>",
    ];

    /// <summary><paramref name="count"/> strings from <paramref name="seed"/>, the kinds in turn.</summary>
    public static List<(string Kind, string Text)> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var result = new List<(string, string)>(count);
        for (int i = 0; i < count; i++)
        {
            string kind = Kinds[i % Kinds.Length];
            result.Add((kind, kind == "mixed" ? Mixed(random) : One(kind, random)));
        }

        return result;
    }

    private static string Mixed(Random random)
    {
        var sb = new StringBuilder();
        int parts = random.Next(2, 6);
        for (int p = 0; p < parts; p++)
        {
            sb.Append(One(Kinds[random.Next(Kinds.Length - 1)], random));
            sb.Append(Pick(random, ["", " ", "\n", "\t", "  ", "\r\n", ". "]));
        }

        return sb.ToString();
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static string One(string kind, Random random) => kind switch
    {
        "prose" => Prose(random),
        "contractions" => string.Join(Pick(random, [" ", "", "  "]), Enumerable.Range(0, random.Next(1, 5)).Select(_ => random.Next(3) == 0 ? Pick(random, Words) : Pick(random, Contractions))),
        "numbers" => Numbers(random),
        "whitespace" => Whitespace(random),
        "code" => Pick(random, ["", "  ", "    ", "\t", "\n"]) + Slice(random, Pick(random, Code)),
        "scripts" => string.Join(Pick(random, [" ", "", "\n", ", "]), Enumerable.Range(0, random.Next(1, 4)).Select(_ => Slice(random, Pick(random, Scripts)))),
        "emoji" => string.Concat(Enumerable.Range(0, random.Next(1, 4)).Select(_ => Pick(random, Emoji) + Pick(random, ["", " ", "a", "!", "\n"]))),
        "look-alikes" => Pick(random, ["", "Say ", " ", "x", "\n", "text "]) + Pick(random, LookAlikes) + Pick(random, ["", " end", "\n", "x", ".", " <|im_end|>"]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    // A random run of whole text elements (never half a surrogate pair or a mark without its base), at least half the text.
    private static string Slice(Random random, string text)
    {
        int[] starts = StringInfo.ParseCombiningCharacters(text);
        int from = random.Next(starts.Length / 2 + 1), to = random.Next(from + (starts.Length + 1) / 2, starts.Length + 1);
        int end = to < starts.Length ? starts[to] : text.Length;
        return text[starts[Math.Min(from, starts.Length - 1)]..end];
    }

    private static string Prose(Random random)
    {
        var sb = new StringBuilder();
        int words = random.Next(3, 18);
        for (int w = 0; w < words; w++)
        {
            if (w > 0) sb.Append(' ');
            string word = Pick(random, Words);
            sb.Append(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word);
            if (random.Next(8) == 0) sb.Append(Pick(random, [",", ";", ":", " -", "—", "!", "?", "...", "\"", ")"]));
        }

        return sb.Append(Pick(random, [".", "!", "?", "", ".\n"])).ToString();
    }

    private static string Numbers(Random random)
    {
        string Digits(int n) => string.Concat(Enumerable.Range(0, n).Select(i => (char)('0' + (i == 0 ? random.Next(1, 10) : random.Next(10)))));
        return random.Next(8) switch
        {
            0 => Digits(random.Next(1, 25)),
            1 => string.Format(CultureInfo.InvariantCulture, "{0:N2}", random.NextDouble() * 1e9),
            2 => $"{random.Next(1900, 2100)}-{random.Next(1, 13):D2}-{random.Next(1, 29):D2}T{random.Next(24):D2}:{random.Next(60):D2}:00Z",
            3 => $"+1 ({Digits(3)}) {Digits(3)}-{Digits(4)}",
            4 => $"{Digits(random.Next(1, 5))}.{Digits(random.Next(1, 8))}e-{random.Next(1, 30)}",
            5 => $"v{random.Next(10)}.{random.Next(20)}.{random.Next(100)} build {Digits(6)}",
            6 => $"0x{random.Next():X8} {random.Next(100)}% ${random.Next(1000)}.{random.Next(100):D2}",
            _ => $"{Digits(3)} {Digits(4)}{Pick(random, ["", " ", "  ", "\t"])}{Digits(2)}abc{Digits(7)}",
        };
    }

    private static string Whitespace(Random random)
    {
        string[] runs = [" ", "  ", "   ", "        ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", "\r", " \n", "\n ", " \t\n  ", "\n\n\n\n", "  \r\n  "];
        var sb = new StringBuilder();
        if (random.Next(3) == 0) sb.Append(Pick(random, runs));
        int words = random.Next(1, 6);
        for (int w = 0; w < words; w++)
        {
            sb.Append(Pick(random, Words));
            if (w < words - 1 || random.Next(2) == 0) sb.Append(Pick(random, runs));
        }

        return sb.ToString();
    }
}
