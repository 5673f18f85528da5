using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace UQEngine.Tests.Server;

/// <summary>GET / serves the playground: one self-contained page, locked down by its Content-Security-Policy.</summary>
[Trait("Category", "Integration")]
public sealed class PlaygroundPageTests : IAsyncLifetime
{
    private LoopbackServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync(o => o with { ApiKey = "page-key" });
    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_page_is_served_without_a_key_is_self_contained_and_its_policy_allows_only_its_own_blocks()
    {
        using var response = await _server.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        string html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<textarea id=\"prompt\"", html);
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*""(https?:)?//", RegexOptions.IgnoreCase), html); // no CDN, nothing fetched from elsewhere
        Assert.DoesNotContain("innerHTML", html); // model text goes in as text

        string policy = response.Headers.GetValues("Content-Security-Policy").Single();
        string Sha(string tag) => "'sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(
            Regex.Match(html, $"<{tag}>(.*?)</{tag}>", RegexOptions.Singleline).Groups[1].Value))) + "'";
        Assert.Contains("default-src 'none'", policy);
        Assert.Contains($"script-src {Sha("script")};", policy);
        Assert.Contains($"style-src {Sha("style")};", policy);
        Assert.Contains("connect-src 'self'", policy);

        // The page is public; the API behind it still wants the key.
        using var models = await _server.Client.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, models.StatusCode);
    }
}

/// <summary>
/// The playground in a real browser: Debian's chromium, driven by Playwright, against a server on the synthetic model.
/// Skipped when /usr/bin/chromium is absent (install it with `apt-get install -y chromium`).
/// </summary>
[Trait("Category", "Integration")]
public sealed class PlaygroundBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Key = "browser-key";

    [Fact]
    public async Task A_prompt_streams_shaded_tokens_with_alternatives_and_scores_that_match_the_api()
    {
        Assert.SkipUnless(File.Exists(Chromium), $"{Chromium} is not installed (Debian: apt-get install -y chromium); Playwright's own browser download is not used");
        await using var server = await LoopbackServer.StartAsync(o => o with { ApiKey = Key, ModelId = LoopbackServer.ModelId });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox"], // the test may run as root, where chromium's sandbox refuses to start
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 620 } });
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") consoleErrors.Add(message.Text); };
        page.PageError += (_, error) => consoleErrors.Add(error);

        await page.GotoAsync(server.BaseAddress + "/");
        // Without the key the page says so instead of failing silently.
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("API key", new() { Timeout = 30_000 });
        await page.FillAsync("#api-key", Key);
        await page.DispatchEventAsync("#api-key", "change");
        await Assertions.Expect(page.Locator("#model")).ToHaveTextAsync("model: synthetic", new() { Timeout = 30_000 });

        const string prompt = "Tell me about the weather";
        await page.FillAsync("#prompt", prompt);
        await page.FillAsync("#max-tokens", "24");
        await page.FillAsync("#temperature", "0");
        await page.ClickAsync("#send");
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("done:", new() { Timeout = 60_000 });

        // The same request without streaming, straight to the API, is the reference.
        using var reference = await server.PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = LoopbackServer.ModelId, ["messages"] = new[] { new { role = "user", content = prompt } },
            ["max_tokens"] = 24, ["temperature"] = 0, ["logprobs"] = true, ["top_logprobs"] = 5,
        }), Key);
        int status = (int)reference.StatusCode;
        var body = JsonDocument.Parse(await reference.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        var entries = choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();

        var tokens = page.Locator("#answer .tok");
        Assert.Equal(entries.Count, await tokens.CountAsync());
        Assert.Equal(choice.GetProperty("message").GetProperty("content").GetString(), await page.InnerTextAsync("#answer"));

        // Hover text: the chosen token's numbers and the five alternatives, as the API reports them.
        string firstTitle = (await tokens.First.GetAttributeAsync("title"))!;
        Assert.Contains("alternatives:", firstTitle);
        Assert.Equal(5, firstTitle.Split('\n').Count(line => line.StartsWith("  \"", StringComparison.Ordinal)));
        Assert.Contains(JsonSerializer.Serialize(entries[0].GetProperty("top_logprobs")[0].GetProperty("token").GetString()), firstTitle);
        Assert.Contains($"rank = {entries[0].GetProperty("rank").GetInt32()}", firstTitle);

        // Shading follows uncertainty: the most likely token is greener (green − red larger) than the least likely one.
        var shades = await page.EvalOnSelectorAllAsync<string[][]>("#answer .tok", "spans => spans.map(s => [s.dataset.p, getComputedStyle(s).backgroundColor])");
        Assert.True(shades.Select(s => s[1]).Distinct().Count() > 1, "every token has the same shade");
        var byP = shades.Select(s => (P: double.Parse(s[0], CultureInfo.InvariantCulture), Rgb: ParseRgb(s[1]))).OrderBy(s => s.P).ToList();
        Assert.True(byP[^1].P > byP[0].P);
        Assert.True(byP[^1].Rgb.G - byP[^1].Rgb.R > byP[0].Rgb.G - byP[0].Rgb.R, $"p={byP[^1].P} is shaded {byP[^1].Rgb}, p={byP[0].P} is shaded {byP[0].Rgb}");
        var html = await page.InnerHTMLAsync("#answer");
        await page.SelectOptionAsync("#shade-by", "entropy");
        Assert.NotEqual(html, await page.InnerHTMLAsync("#answer")); // switching the measure re-shades

        // The sequence scores beside the answer are the API's.
        var scores = await page.EvalOnSelectorAllAsync<string[][]>("#scores dt", "dts => dts.map(dt => [dt.textContent, dt.nextElementSibling.textContent])");
        var shown = scores.ToDictionary(s => s[0], s => s[1]);
        var uncertainty = choice.GetProperty("uncertainty");
        Assert.Equal(uncertainty.GetProperty("sequence_probability").GetDouble(), double.Parse(shown["P(answer)"], CultureInfo.InvariantCulture), Tolerance(uncertainty.GetProperty("sequence_probability").GetDouble()));
        Assert.Equal(uncertainty.GetProperty("mean_entropy").GetDouble(), double.Parse(shown["mean entropy"], CultureInfo.InvariantCulture), 1e-3);
        Assert.Equal(uncertainty.GetProperty("perplexity").GetDouble(), double.Parse(shown["perplexity"], CultureInfo.InvariantCulture), Tolerance(uncertainty.GetProperty("perplexity").GetDouble()));
        Assert.Equal(choice.GetProperty("finish_reason").GetString(), shown["finish"]);

        await page.SelectOptionAsync("#shade-by", "surprisal");
        await tokens.Nth(entries.Count / 2).HoverAsync();
        await Assertions.Expect(page.Locator("#tip")).ToBeVisibleAsync();
        Assert.Equal(await tokens.Nth(entries.Count / 2).GetAttributeAsync("title"), await page.InnerTextAsync("#tip"));
        string screenshot = Path.Combine(AppContext.BaseDirectory, "playground.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000);

        // Model text is inserted as text: markup in a token stays visible characters and runs nothing.
        await page.EvaluateAsync("""addToken({ token: "<img src=x onerror=\"window.injected=1\">", logprob: -0.5, entropy: 1, rank: 0, top_logprobs: [{ token: "<b>bold</b>", logprob: -1 }] })""");
        Assert.Equal(0, await page.Locator("#answer img").CountAsync());
        Assert.EndsWith("<img src=x onerror=\"window.injected=1\">", await page.InnerTextAsync("#answer"));
        Assert.Contains("\"<b>bold</b>\"", (await tokens.Last.GetAttributeAsync("title"))!);
        Assert.Null(await page.EvaluateAsync<int?>("window.injected"));
        Assert.DoesNotContain(consoleErrors, e => !e.Contains("401")); // the keyless first load logs its 401; nothing else may fail
    }

    [Fact]
    public async Task A_JSON_answer_lists_its_fields_shaded_by_confidence_as_the_api_reports_them()
    {
        Assert.SkipUnless(File.Exists(Chromium), $"{Chromium} is not installed (Debian: apt-get install -y chromium); Playwright's own browser download is not used");
        await using var server = await LoopbackServer.StartAsync(o => o with { ApiKey = Key, ModelId = LoopbackServer.ModelId });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 620 } });
        var pageErrors = new List<string>();
        page.PageError += (_, error) => pageErrors.Add(error);
        await page.GotoAsync(server.BaseAddress + "/");
        await page.FillAsync("#api-key", Key);
        await page.DispatchEventAsync("#api-key", "change");
        await Assertions.Expect(page.Locator("#model")).ToHaveTextAsync("model: synthetic", new() { Timeout = 30_000 });

        const string schema = """{"type":"object","properties":{"city":{"enum":["Paris","Rome","Oslo"]},"ok":{"type":"boolean"}},"required":["city","ok"],"additionalProperties":false}""";
        await page.SelectOptionAsync("#format", "json_schema");
        Assert.True(await page.IsVisibleAsync("#schema"));
        await page.FillAsync("#schema", "{not json");
        await page.FillAsync("#prompt", "Where?");
        await page.ClickAsync("#send");
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("not valid JSON");

        await page.FillAsync("#schema", schema);
        await page.FillAsync("#max-tokens", "40");
        await page.ClickAsync("#send");
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("done:", new() { Timeout = 60_000 });

        using var reference = await server.PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = LoopbackServer.ModelId, ["messages"] = new[] { new { role = "user", content = "Where?" } }, ["max_tokens"] = 40, ["temperature"] = 0,
            ["response_format"] = new { type = "json_schema", json_schema = new { name = "playground", schema = JsonDocument.Parse(schema).RootElement } },
        }), Key);
        var fields = JsonDocument.Parse(await reference.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0]
            .GetProperty("uncertainty").GetProperty("fields").EnumerateArray().ToList();
        Assert.Equal(2, fields.Count);
        var rows = await page.EvalOnSelectorAllAsync<string[][]>("#fields tr", "rows => rows.map(r => [...r.children].map(td => td.textContent).concat([r.dataset.p]))");
        Assert.Equal(fields.Count, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(fields[i].GetProperty("pointer").GetString(), rows[i][0]);
            Assert.Equal(fields[i].GetProperty("value").GetString(), rows[i][1]);
            Assert.Equal(fields[i].GetProperty("probability").GetDouble(), double.Parse(rows[i][3], CultureInfo.InvariantCulture), 1e-9);
        }
        Assert.True(await page.IsVisibleAsync("#fields-title"));

        // Shading: a sure field is greener than an unsure one, and the measure switch re-shades the fields too.
        await page.EvaluateAsync("""showFields([{ pointer: "/a", value: "\"x\"", probability: 0.99, mean_entropy: 0.05, token_count: 1 }, { pointer: "/b", value: "<b>y</b>", probability: 0.01, mean_entropy: 3, token_count: 2 }])""");
        var shades = await page.EvalOnSelectorAllAsync<string[]>("#fields tr", "rows => rows.map(r => getComputedStyle(r).backgroundColor)");
        var (sure, unsure) = (ParseRgb(shades[0]), ParseRgb(shades[1]));
        Assert.True(sure.G - sure.R > unsure.G - unsure.R, $"p=0.99 is shaded {sure}, p=0.01 is shaded {unsure}");
        Assert.Equal(0, await page.Locator("#fields b").CountAsync()); // values are text, never markup
        await page.SelectOptionAsync("#shade-by", "p");
        Assert.NotEqual(shades[1], await page.EvalOnSelectorAsync<string>("#fields tr:nth-child(2)", "r => getComputedStyle(r).backgroundColor"));
        Assert.Empty(pageErrors);
    }

    /// <summary>The page shows 4 decimals, or 3 significant digits in exponent form for tiny values.</summary>
    private static double Tolerance(double value) => Math.Max(6e-5, Math.Abs(value) * 6e-3);

    private static (int R, int G, int B) ParseRgb(string css)
    {
        var m = Regex.Match(css, @"rgba?\((\d+),\s*(\d+),\s*(\d+)");
        Assert.True(m.Success, $"not an rgb colour: {css}");
        return (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value));
    }
}
