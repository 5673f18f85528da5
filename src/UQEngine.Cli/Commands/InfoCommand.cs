using System.CommandLine;
using Spectre.Console;
using UQEngine.Cli.Rendering;
using UQEngine.Gguf;
using UQEngine.Inference;

namespace UQEngine.Cli.Commands;

/// <summary>`uqengine info`: what a GGUF file holds, read by the managed reader without loading weights.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("model") { Description = "GGUF model file" };
        var metadata = new Option<bool>("--metadata") { Description = "List every metadata key (long arrays summarized)" };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var check = new Option<bool>("--check") { Description = "Also check that the file is safe and sound: llama.cpp's limits (GGUF validator), NaN/infinite weights (reads every F32/F16/BF16 tensor and quantization scale), and a load + one-token decode in a child process (a crash there is reported, not suffered); exit 1 on any problem" };
        var command = new Command("info", "Show a GGUF model's architecture, sizes, vocabulary and quantization (reads no weights unless --check)") { path, metadata, tensors, json, check };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var file = GgufFile.Read(result.GetValue(path)!);
            var facts = GgufModelFacts.From(file);
            var report = result.GetValue(check) ? ModelCheckReport.Run(file) : null;
            if (result.GetValue(json))
            {
                JsonOutput.Write(new
                {
                    path = facts.FilePath, file_size = facts.FileSize, gguf_version = facts.GgufVersion, architecture = facts.Architecture, name = facts.Name,
                    layers = facts.LayerCount, embedding = facts.EmbeddingLength, feed_forward = facts.FeedForwardLength, heads = facts.HeadCount, kv_heads = facts.HeadCountKv,
                    context_length = facts.ContextLength, vocabulary = facts.VocabularySize, tokenizer = facts.TokenizerModel, tokenizer_pre = facts.TokenizerPre,
                    file_type = facts.FileTypeName, parameters = facts.ParameterCount, bits_per_weight = facts.BitsPerWeight, has_chat_template = facts.HasChatTemplate,
                    tensor_types = facts.TypeUsage.Select(u => new { type = u.Type.ToString(), tensors = u.TensorCount, bytes = u.ByteCount }),
                    check = report is null ? null : new
                    {
                        ok = report.Ok, problems = report.Problems,
                        non_finite_tensors = report.NonFinite.Select(t => new { name = t.Name, type = t.Type.ToString(), non_finite = t.NonFiniteCount, scanned = t.ScannedCount, scales_only = t.ScalesOnly }),
                        isolated = report.Isolated is { } r ? new { outcome = r.Outcome.ToString(), message = r.Message, signal = r.Signal, assertion = r.Assertion, non_finite_logits = r.NonFiniteLogits } : null,
                    },
                });
                return report is { Ok: false } ? 1 : 0;
            }
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Path.GetFileName(facts.FilePath))).AddColumn("").AddColumn("");
            void Row(string k, object? v) { if (v is not null) table.AddRow(k, Markup.Escape(v.ToString()!)); }
            Row("architecture", facts.Architecture);
            Row("name", facts.Name);
            Row("parameters", $"{facts.ParameterCount:N0}");
            Row("file type", facts.FileTypeName);
            Row("bits per weight", $"{facts.BitsPerWeight:F2}");
            Row("layers", facts.LayerCount);
            Row("embedding", facts.EmbeddingLength);
            Row("feed-forward", facts.FeedForwardLength);
            Row("heads (kv)", facts.HeadCount is null ? null : $"{facts.HeadCount} ({facts.HeadCountKv})");
            Row("head width", facts.HeadDimension);
            Row("rope base", facts.RopeFreqBase);
            Row("sliding window", facts.SlidingWindow);
            Row("logit soft-cap", facts.FinalLogitSoftcapping);
            Row("output", facts.TiedEmbeddings ? "tied to the token embedding" : null);
            Row("context length", facts.ContextLength);
            Row("vocabulary", facts.VocabularySize is null ? null : $"{facts.VocabularySize} ({facts.TokenizerModel}/{facts.TokenizerPre}, {facts.MergeCount} merges)");
            Row("chat template", facts.HasChatTemplate ? "yes" : "no");
            Row("file", $"{facts.FileSize:N0} bytes, GGUF v{facts.GgufVersion}, {facts.MetadataCount} metadata keys, {facts.TensorCount} tensors");
            AnsiConsole.Write(table);

            var types = new Table().Border(TableBorder.Simple).AddColumns("tensor type", "tensors", "elements", "MiB");
            foreach (var u in facts.TypeUsage) types.AddRow(u.Type.ToString(), u.TensorCount.ToString(), $"{u.ElementCount:N0}", $"{u.ByteCount / 1048576.0:F2}");
            AnsiConsole.Write(types);

            if (result.GetValue(metadata))
            {
                var meta = new Table().Border(TableBorder.Simple).AddColumns("key", "value");
                foreach (var (key, value) in file.Metadata) meta.AddRow(Markup.Escape(key), Markup.Escape(Summarize(value.ToString() ?? "")));
                AnsiConsole.Write(meta);
            }
            if (result.GetValue(tensors))
            {
                var list = new Table().Border(TableBorder.Simple).AddColumns("tensor", "type", "shape", "bytes");
                foreach (var t in file.Tensors) list.AddRow(Markup.Escape(t.Name), t.Type.ToString(), string.Join(" x ", t.Dimensions), $"{t.ByteSize:N0}");
                AnsiConsole.Write(list);
            }
            if (report is not null)
            {
                foreach (string line in report.Lines()) Console.WriteLine(line);
                return report.Ok ? 0 : 1;
            }
            return 0;
        }));
        return command;
    }

    private static string Summarize(string s) => s.Length <= 120 ? s : s[..117] + "...";
}

/// <summary>`info --check`: the validator's problems, the weight scan and the isolated load + decode, one line per finding.</summary>
internal sealed record ModelCheckReport(IReadOnlyList<string> Problems, IReadOnlyList<NonFiniteTensor> NonFinite, ModelCheckResult? Isolated)
{
    public bool Ok => Problems.Count == 0 && NonFinite.Count == 0 && Isolated is { Passed: true, NonFiniteLogits: false };

    public static ModelCheckReport Run(GgufFile file)
    {
        var problems = GgufModelValidator.FindProblems(file);
        var nonFinite = GgufWeightScan.FindNonFinite(file);
        // Only a file the validator accepts is worth loading: the product would refuse the others before llama.cpp.
        var isolated = problems.Count == 0 ? IsolatedModelChecker.CheckOnce(file.Path) : null;
        return new ModelCheckReport(problems, nonFinite, isolated);
    }

    public IEnumerable<string> Lines()
    {
        foreach (string p in Problems) yield return "check: problem: " + p;
        foreach (var t in NonFinite) yield return "check: non-finite: " + t;
        if (Isolated is null) yield return "check: load: skipped (the validator refuses the file, so UQEngine never hands it to llama.cpp)";
        else if (Isolated.Passed) yield return "check: load: " + (Isolated.NonFiniteLogits ? "loaded and decoded one token, but its logits were NaN or infinite" : "loaded and decoded one token in a child process");
        else yield return $"check: load: {Isolated.Outcome}: {Isolated.Message}";
        yield return Ok ? "check: ok" : "check: FAILED";
    }
}
