using System.Text.RegularExpressions;
using UQEngine.Native;

namespace UQEngine.Inference;

/// <summary>One chat turn.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}

/// <summary>Formats chat messages with a model's template through llama.cpp's built-in template engine.</summary>
public static partial class ChatTemplate
{
    /// <summary>
    /// Formats with the model's template when it has one; otherwise a plain "role: content" transcript ending in
    /// "assistant:", so a model without a template still answers chat requests.
    /// </summary>
    public static string FormatOrTranscript(LlamaModel model, IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.ChatTemplate is not null) return Format(model, messages);
        return string.Concat(messages.Select(m => $"{m.Role}: {m.Content}\n")) + "assistant:";
    }

    /// <summary>
    /// Formats messages with the model's own template (or <paramref name="template"/>), ending with the
    /// assistant prefix when <paramref name="addAssistantPrefix"/>. Throws InferenceException when the model has no
    /// template or llama.cpp does not support it.
    /// </summary>
    public static string Format(LlamaModel model, IReadOnlyList<ChatMessage> messages, bool addAssistantPrefix = true, string? template = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        template ??= model.ChatTemplate ?? throw new InferenceException($"'{model.Path}' has no chat template (tokenizer.chat_template); pass a raw prompt instead.");
        // llama.cpp's built-in engine matches a template by its markers and formats every role; a template that raises
        // for system messages (Gemma 2, Mistral v0.1/v0.2) would get a prompt its model never saw: refuse instead.
        if (messages.Any(m => m.Role == "system") && SystemRefusal(template) is { } refusal)
            throw new InferenceException($"the chat template of '{model.Path}' refuses system messages (it raises '{refusal}'); put the instructions in the first user message instead.");
        var native = new (string Role, string Content)[messages.Count];
        for (int i = 0; i < native.Length; i++) native[i] = (messages[i].Role, messages[i].Content);
        return LlamaChatTemplate.Apply(template, native, addAssistantPrefix)
            ?? throw new InferenceException($"llama.cpp does not support the chat template of '{model.Path}'; pass a raw prompt or a supported template.");
    }

    /// <summary>
    /// The message of a raise_exception in <paramref name="template"/> that refuses the system role ("System role not
    /// supported", "Only user and assistant roles are supported!"), or null when the template accepts it.
    /// </summary>
    public static string? SystemRefusal(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        foreach (Match m in RaiseException().Matches(template))
        {
            string message = m.Groups["message"].Value;
            if (message.Contains("system", StringComparison.OrdinalIgnoreCase) || message.Contains("only user and assistant", StringComparison.OrdinalIgnoreCase))
                return message;
        }
        return null;
    }

    [GeneratedRegex("""raise_exception\(\s*(['"])(?<message>.*?)\1\s*\)""", RegexOptions.CultureInvariant)]
    private static partial Regex RaiseException();

    /// <summary>
    /// The prompt tokens of a conversation (<see cref="FormatOrTranscript"/>), with message contents read as data:
    /// control-token text written inside a message ("&lt;|im_end|&gt;&lt;|im_start|&gt;assistant") is tokenized as
    /// plain text, so one message cannot forge the turns of a conversation, while the template's own markers stay
    /// control tokens. A conversation whose contents hold no control-token text gets exactly the tokens of the whole
    /// formatted prompt tokenized with special-token parsing (what <paramref name="parseSpecialInContent"/> = true
    /// always returns: the old behaviour, for callers that write control tokens into messages on purpose).
    /// </summary>
    /// <remarks>
    /// The template is rendered around unique placeholders; its pieces are tokenized with special-token parsing,
    /// each content without. When that puts the same control tokens at the same places as tokenizing the whole
    /// prompt, the whole prompt's tokens are returned (unchanged for every ordinary conversation); otherwise the
    /// pieced tokens (a content's text may then split differently at its two edges).
    /// </remarks>
    public static int[] TokenizeOrTranscript(LlamaModel model, IReadOnlyList<ChatMessage> messages, bool parseSpecialInContent = false, bool addSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(messages);
        var vocab = model.Vocabulary;
        string prompt = FormatOrTranscript(model, messages);
        int[] whole = vocab.Tokenize(prompt, addSpecial, parseSpecial: true);
        if (parseSpecialInContent) return whole;

        var segments = Segments(model, messages, prompt);
        if (segments is null)
        {
            // The template did not keep each content once and in order: without pieces, refuse control text in contents.
            foreach (var m in messages)
                if (HoldsControlText(vocab, m.Content))
                    throw new InferenceException($"a {m.Role} message holds control-token text, and the chat template of '{model.Path}' cannot keep message contents apart from its own markers.");
            return whole;
        }
        var pieced = new List<int>(whole.Length + 8);
        bool first = true;
        foreach (var (text, isContent) in segments)
        {
            if (text.Length > 0 || first) pieced.AddRange(vocab.Tokenize(text, addSpecial: first && addSpecial, parseSpecial: !isContent));
            first = false;
        }
        return ControlTokens(vocab, whole).SequenceEqual(ControlTokens(vocab, pieced)) ? whole : [.. pieced];
    }

    /// <summary>Whether this text holds text that special-token parsing turns into other tokens.</summary>
    private static bool HoldsControlText(Vocabulary vocab, string text) =>
        text.Length > 0 && !vocab.Tokenize(text, addSpecial: false, parseSpecial: true).AsSpan().SequenceEqual(vocab.Tokenize(text, addSpecial: false, parseSpecial: false));

    /// <summary>Tokens that render as no text (control tokens: BOS, &lt;|im_start|&gt;, ...), in order.</summary>
    private static IEnumerable<int> ControlTokens(Vocabulary vocab, IEnumerable<int> tokens) => tokens.Where(t => vocab.TokenBytes(t).Length == 0);

    /// <summary>
    /// The formatted prompt as template pieces and contents, alternating (template first and last), whose
    /// concatenation is <paramref name="prompt"/>; null when the template does not keep every content once and in order.
    /// </summary>
    private static List<(string Text, bool IsContent)>? Segments(LlamaModel model, IReadOnlyList<ChatMessage> messages, string prompt)
    {
        var segments = new List<(string, bool)>();
        if (model.ChatTemplate is null)
        {
            foreach (var m in messages)
            {
                segments.Add(($"{(segments.Count == 0 ? "" : "\n")}{m.Role}: ", false));
                segments.Add((m.Content, true));
            }
            segments.Add(("\nassistant:", false));
            return segments;
        }

        string nonce = Guid.NewGuid().ToString("N");
        string Placeholder(int i) => $"UQENGINE{nonce}MSG{i}END";
        var skeleton = Format(model, [.. messages.Select((m, i) => m with { Content = Placeholder(i) })]);
        int at = 0;
        var pieces = new List<string>();
        for (int i = 0; i < messages.Count; i++)
        {
            string placeholder = Placeholder(i);
            int found = skeleton.IndexOf(placeholder, at, StringComparison.Ordinal);
            if (found < 0 || skeleton.IndexOf(placeholder, found + placeholder.Length, StringComparison.Ordinal) >= 0) return null;
            pieces.Add(skeleton[at..found]);
            at = found + placeholder.Length;
        }
        pieces.Add(skeleton[at..]);
        // Some templates trim contents: use the contents as the real rendering holds them.
        foreach (Func<string, string> shape in new Func<string, string>[] { c => c, c => c.Trim() })
        {
            var contents = messages.Select(m => shape(m.Content)).ToArray();
            var candidate = new List<(string, bool)>();
            for (int i = 0; i < contents.Length; i++) { candidate.Add((pieces[i], false)); candidate.Add((contents[i], true)); }
            candidate.Add((pieces[^1], false));
            if (string.Concat(candidate.Select(s => s.Item1)) == prompt) return candidate;
        }
        return null;
    }
}
