using System.Runtime.InteropServices;
using System.Text;

namespace UQEngine.Native;

/// <summary>llama.cpp's built-in chat-template engine (llama_chat_apply_template).</summary>
internal static unsafe class LlamaChatTemplate
{
    /// <summary>
    /// Formats (role, content) messages with <paramref name="template"/> (a Jinja template text or a built-in
    /// template name), ending with the assistant prefix when <paramref name="addAssistant"/>. Returns null when
    /// llama.cpp does not support the template.
    /// </summary>
    internal static string? Apply(string template, ReadOnlySpan<(string Role, string Content)> messages, bool addAssistant)
    {
        var pinned = new List<byte[]>();
        byte[] Utf8(string s) { var b = Encoding.UTF8.GetBytes(s + "\0"); pinned.Add(b); return b; }
        byte[] tmpl = Utf8(template);
        var handles = new List<GCHandle>();
        try
        {
            var native = new LlamaChatMessage[messages.Length];
            int total = 0;
            for (int i = 0; i < messages.Length; i++)
            {
                var role = GCHandle.Alloc(Utf8(messages[i].Role), GCHandleType.Pinned);
                var content = GCHandle.Alloc(Utf8(messages[i].Content), GCHandleType.Pinned);
                handles.Add(role); handles.Add(content);
                native[i] = new LlamaChatMessage { Role = (byte*)role.AddrOfPinnedObject(), Content = (byte*)content.AddrOfPinnedObject() };
                total = checked(total + messages[i].Content.Length + messages[i].Role.Length);
            }
            total = checked(total * 2 + 256);
            byte[] buffer = new byte[total];
            fixed (byte* t = tmpl)
            fixed (LlamaChatMessage* m = native)
            {
                int n;
                fixed (byte* b = buffer) n = LlamaNative.llama_chat_apply_template(t, m, (nuint)native.Length, addAssistant, b, buffer.Length);
                if (n < 0) return null;
                if (n > buffer.Length)
                {
                    buffer = new byte[n];
                    fixed (byte* b = buffer) n = LlamaNative.llama_chat_apply_template(t, m, (nuint)native.Length, addAssistant, b, buffer.Length);
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
