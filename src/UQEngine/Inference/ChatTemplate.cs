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
public static class ChatTemplate
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
        var native = new (string Role, string Content)[messages.Count];
        for (int i = 0; i < native.Length; i++) native[i] = (messages[i].Role, messages[i].Content);
        return LlamaChatTemplate.Apply(template, native, addAssistantPrefix)
            ?? throw new InferenceException($"llama.cpp does not support the chat template of '{model.Path}'; pass a raw prompt or a supported template.");
    }
}
