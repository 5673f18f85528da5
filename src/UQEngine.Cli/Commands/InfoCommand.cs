using System.CommandLine;
using Spectre.Console;
using UQEngine.Cli.Rendering;
using UQEngine.Gguf;

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
        var command = new Command("info", "Show a GGUF model's architecture, sizes, vocabulary and quantization (reads no weights)") { path, metadata, tensors, json };
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var file = GgufFile.Read(result.GetValue(path)!);
            var facts = GgufModelFacts.From(file);
            if (result.GetValue(json))
            {
                JsonOutput.Write(new
                {
                    path = facts.FilePath, file_size = facts.FileSize, gguf_version = facts.GgufVersion, architecture = facts.Architecture, name = facts.Name,
                    layers = facts.LayerCount, embedding = facts.EmbeddingLength, feed_forward = facts.FeedForwardLength, heads = facts.HeadCount, kv_heads = facts.HeadCountKv,
                    context_length = facts.ContextLength, vocabulary = facts.VocabularySize, tokenizer = facts.TokenizerModel, tokenizer_pre = facts.TokenizerPre,
                    file_type = facts.FileTypeName, parameters = facts.ParameterCount, bits_per_weight = facts.BitsPerWeight, has_chat_template = facts.HasChatTemplate,
                    tensor_types = facts.TypeUsage.Select(u => new { type = u.Type.ToString(), tensors = u.TensorCount, bytes = u.ByteCount }),
                });
                return 0;
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
            return 0;
        }));
        return command;
    }

    private static string Summarize(string s) => s.Length <= 120 ? s : s[..117] + "...";
}
