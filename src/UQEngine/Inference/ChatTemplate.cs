using System.Text;
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
    public static unsafe string Format(LlamaModel model, IReadOnlyList<ChatMessage> messages, bool addAssistantPrefix = true, string? template = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        template ??= model.ChatTemplate ?? throw new InferenceException($"'{model.Path}' has no chat template (tokenizer.chat_template); pass a raw prompt instead.");
        var pinned = new List<byte[]>();
        byte[] Utf8(string s) { var b = Encoding.UTF8.GetBytes(s + "\0"); pinned.Add(b); return b; }
        byte[] tmpl = Utf8(template);
        var handles = new List<System.Runtime.InteropServices.GCHandle>();
        try
        {
            var native = new LlamaChatMessage[messages.Count];
            for (int i = 0; i < messages.Count; i++)
            {
                var role = System.Runtime.InteropServices.GCHandle.Alloc(Utf8(messages[i].Role), System.Runtime.InteropServices.GCHandleType.Pinned);
                var content = System.Runtime.InteropServices.GCHandle.Alloc(Utf8(messages[i].Content), System.Runtime.InteropServices.GCHandleType.Pinned);
                handles.Add(role); handles.Add(content);
                native[i] = new LlamaChatMessage { Role = (byte*)role.AddrOfPinnedObject(), Content = (byte*)content.AddrOfPinnedObject() };
            }
            int total = messages.Sum(m => m.Content.Length + m.Role.Length) * 2 + 256;
            byte[] buffer = new byte[total];
            fixed (byte* t = tmpl)
            fixed (LlamaChatMessage* m = native)
            {
                int n;
                fixed (byte* b = buffer) n = LlamaNative.llama_chat_apply_template(t, m, (nuint)native.Length, addAssistantPrefix, b, buffer.Length);
                if (n < 0) throw new InferenceException($"llama.cpp does not support the chat template of '{model.Path}'; pass a raw prompt or a supported template.");
                if (n > buffer.Length)
                {
                    buffer = new byte[n];
                    fixed (byte* b = buffer) n = LlamaNative.llama_chat_apply_template(t, m, (nuint)native.Length, addAssistantPrefix, b, buffer.Length);
                }
                return Encoding.UTF8.GetString(buffer, 0, n);
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }
}
