using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace UQEngine.Server;

/// <summary>
/// The playground at GET /: one self-contained HTML page (embedded in this assembly, no external assets) that calls
/// the server's own /v1/chat/completions and shades each streamed token by its uncertainty.
/// </summary>
internal static partial class Playground
{
    private const string ResourceName = "UQEngine.Server.Playground.playground.html";

    private static readonly Lazy<(byte[] Html, string Policy)> Page = new(Load);

    public static IEndpointRouteBuilder MapPlayground(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", (HttpContext http) =>
        {
            var (html, policy) = Page.Value;
            // Only the page's own script and style (by hash) may run, and it may talk only to this server: model text
            // is inserted as text, and even a mistake there could not load or run anything else.
            http.Response.Headers.ContentSecurityPolicy = policy;
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            http.Response.Headers.CacheControl = "no-cache";
            return Results.Bytes(html, "text/html; charset=utf-8");
        });
        return endpoints;
    }

    private static (byte[], string) Load()
    {
        using var stream = typeof(Playground).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"the playground page ({ResourceName}) is missing from {typeof(Playground).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string html = reader.ReadToEnd();
        string policy = $"default-src 'none'; script-src {Hash(ScriptBlock(), html)}; style-src {Hash(StyleBlock(), html)}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        return (Encoding.UTF8.GetBytes(html), policy);
    }

    /// <summary>CSP's hash source of the single inline block the pattern matches (the exact text between the tags).</summary>
    private static string Hash(Regex block, string html)
    {
        var matches = block.Matches(html);
        if (matches.Count != 1) throw new InvalidOperationException($"the playground page must have exactly one block matching {block}, not {matches.Count}");
        return $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(matches[0].Groups[1].Value)))}'";
    }

    [GeneratedRegex("<script>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex ScriptBlock();

    [GeneratedRegex("<style>(.*?)</style>", RegexOptions.Singleline)]
    private static partial Regex StyleBlock();
}
