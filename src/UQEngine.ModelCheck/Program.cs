using System.Text;
using UQEngine.Gguf;
using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.ModelCheck;

/// <summary>
/// The isolated checker's child process (started by <see cref="IsolatedModelChecker"/>): reads one model path per
/// stdin line, runs the product's load path on it (GGUF reader, <see cref="GgufModelValidator"/>, llama.cpp load,
/// one decoded token) and answers one line per file: outcome, tab, non-finite flag (0/1), tab, message. Before each
/// file it writes a marker to stderr, so the parent pairs a crash with the native lines printed for that file.
/// Arguments: [--threads N] [--device cpu|cuda] [--gpu-layers N] [--no-validate].
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int threads = 1, gpuLayers = -1;
        bool validate = true;
        var device = NativeBackend.Cpu;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads" when i + 1 < args.Length: threads = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--gpu-layers" when i + 1 < args.Length: gpuLayers = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--device" when i + 1 < args.Length: device = args[++i] == "cuda" ? NativeBackend.Cuda : NativeBackend.Cpu; break;
                case "--no-validate": validate = false; break;
                default:
                    Console.Error.WriteLine($"UQEngine.ModelCheck: unknown argument '{args[i]}' (this is IsolatedModelChecker's child; it reads model paths on stdin)");
                    return 2;
            }
        }

        var options = new ModelOptions { Device = device, GpuLayers = gpuLayers };
        using var input = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
        string? path;
        while ((path = input.ReadLine()) is not null)
        {
            Console.Error.WriteLine(IsolatedModelChecker.StartMarker);
            Console.Error.Flush();
            var (outcome, nonFinite, message) = Check(path, options, threads, validate);
            output.WriteLine($"{outcome}\t{(nonFinite ? 1 : 0)}\t{message.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", " ", StringComparison.Ordinal)}");
        }

        return 0;
    }

    private static (string Outcome, bool NonFinite, string Message) Check(string path, ModelOptions options, int threads, bool validate)
    {
        try
        {
            if (validate)
            {
                GgufFile file;
                try
                {
                    file = GgufFile.Read(path);
                }
                catch (Exception e) when (e is GgufFormatException or IOException or UnauthorizedAccessException)
                {
                    return ("reader", false, e.Message);
                }

                try
                {
                    GgufModelValidator.Validate(file);
                }
                catch (GgufFormatException e)
                {
                    return ("validator", false, e.Message);
                }
            }

            using var model = LlamaModel.LoadValidated(path, options);
            using var context = model.CreateContext(new ContextOptions { ContextSize = 64, BatchSize = 64, Threads = threads });
            // One forward pass over a short prompt: the logits of the next token. Read directly (no sampler), so a
            // model whose logits are all NaN is reported as such rather than as "no greedy token".
            int[] prompt = model.Vocabulary.Tokenize("Hello", addSpecial: true, parseSpecial: false);
            if (prompt.Length == 0) prompt = [0];
            prompt = prompt[..Math.Min(prompt.Length, 16)];
            using var batch = new LlamaBatchBuffer(context.BatchSize);
            for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, 0, wantOutput: i == prompt.Length - 1);
            context.Decode(batch);
            var logits = context.GetLogits(prompt.Length - 1);
            bool nonFinite = false;
            foreach (float v in logits) nonFinite |= !float.IsFinite(v);
            return ("passed", nonFinite, $"{model.Facts.Architecture}, {model.Facts.VocabularySize} tokens: loaded and decoded one token ({logits.Length} logits)" +
                (nonFinite ? "; its logits were not finite (NaN or infinite weights?)" : ""));
        }
        catch (Exception e) when (e is InferenceException or GgufFormatException or NativeLibraryException)
        {
            return ("load", false, e.Message);
        }
        catch (Exception e)
        {
            return ("faulted", false, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
