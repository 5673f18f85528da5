using System.Diagnostics;
using UQEngine.Inference;
using UQEngine.Native;

namespace UQEngine.Training;

/// <summary>How llama.cpp trains: context (= tokens per optimizer step), optimizer, learning-rate schedule.</summary>
public sealed record TrainingOptions
{
    /// <summary>Tokens per datapoint; llama.cpp uses it as n_ctx, n_batch and n_ubatch, so one optimizer step per datapoint.</summary>
    public int ContextLength { get; init; } = 256;

    public int Epochs { get; init; } = 1;

    /// <summary>Peak learning rate (AdamW alpha).</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>The learning rate decays on a cosine from the peak to this fraction of it over all steps.</summary>
    public float FinalLearningRateFraction { get; init; } = 0.1f;

    /// <summary>Steps of linear warm-up from zero.</summary>
    public int WarmupSteps { get; init; } = 50;

    /// <summary>Decoupled weight decay (AdamW wd).</summary>
    public float WeightDecay { get; init; }

    public GgmlOptOptimizerType Optimizer { get; init; } = GgmlOptOptimizerType.AdamW;

    /// <summary>CPU threads; 0 = all cores.</summary>
    public int Threads { get; init; }
}

/// <summary>A moment of training, reported after every optimizer step.</summary>
public readonly record struct TrainingProgress(
    int Epoch, int Epochs, long StepInEpoch, long StepsPerEpoch, long Step, long TotalSteps,
    double Loss, double Accuracy, float LearningRate, TimeSpan Elapsed);

/// <summary>What an epoch did.</summary>
public sealed record TrainingEpochResult(int Epoch, long Datapoints, long Documents, long Tokens, double Loss, double Accuracy, TimeSpan Elapsed);

/// <summary>
/// Trains every weight of a llama.cpp model in place with llama.cpp's own training API (llama_opt_init /
/// llama_opt_epoch over a ggml-opt dataset), on the CPU, then saves it with llama_model_save_to_file.
/// Documents are token arrays; they are packed whole into datapoints of <see cref="TrainingOptions.ContextLength"/> + 1
/// tokens (inputs and next-token labels), the unused tail padded with the end-of-text token.
/// </summary>
/// <remarks>
/// What llama.cpp v0.5.0 needs, as its finetune example does: the weights loaded without mmap (writable), the KV
/// cache in F32 (OUT_PROD has no F16 backward), n_ctx a multiple of n_batch and n_batch of n_ubatch. It does not
/// train token_embd (commented out upstream), so token embeddings keep their initial values; every other tensor
/// is trained. llama_opt_epoch walks the dataset in order, so shuffling is done here by rebuilding it per epoch.
/// </remarks>
public sealed class LlamaTrainer : IDisposable
{
    private readonly LlamaModel _model;
    private readonly SafeLlamaContextHandle _context;
    private readonly GgmlOptimizerParamsBlock _optimizerParams;
    private readonly TrainingOptions _options;
    private readonly int _padToken;
    private readonly int _contextLength;
    private IProgress<TrainingProgress>? _progress;
    private int _epoch;
    private long _stepsThisEpoch, _stepBase, _totalSteps;
    private Stopwatch _clock = new();
    private double _lastLoss, _lastAccuracy;

    private LlamaTrainer(LlamaModel model, SafeLlamaContextHandle context, TrainingOptions options)
    {
        _model = model;
        _context = context;
        _options = options;
        _padToken = model.Vocabulary.EndOfSequence;
        // llama.cpp may round n_ctx up (the KV cache is padded); llama_opt_epoch reads n_ctx tokens per datapoint.
        _contextLength = (int)context.ContextSize;
        _optimizerParams = new GgmlOptimizerParamsBlock();
        _optimizerParams.Value.AdamWWeightDecay = options.WeightDecay;
        _optimizerParams.Value.SgdWeightDecay = options.WeightDecay;
        SetLearningRate(0);

        // llama_opt_epoch computes through the scheduler without telling the CPU backend how many threads to use, so
        // it would run with ggml's default of 4 (on a 2-core machine, threads spin in ggml_barrier most of the time).
        // One ordinary decode applies the context's n_threads to the backend, and the setting stays.
        using (var warmup = new LlamaBatchBuffer(1))
        {
            warmup.Add(model.Vocabulary.BeginningOfSequence, 0, 0, wantOutput: true);
            int rc = _context.Decode(warmup);
            if (rc != 0) throw new InferenceException($"the warm-up decode before training failed with code {rc}: {NativeLogging.RecentErrorText()}");
            _context.GetMemory().Clear(data: true);
        }

        LlamaOptimizer.Init(_context, _model.Handle, _optimizerParams, options.Optimizer);
    }

    public LlamaModel Model => _model;
    public TrainingOptions Options => _options;

    /// <summary>Tokens per datapoint as llama.cpp uses them: the context's n_ctx (the requested length, rounded up by llama.cpp if it pads).</summary>
    public int ContextLength => _contextLength;

    /// <summary>Loads a model file (F32 weights) for training and prepares llama.cpp's optimizer.</summary>
    public static LlamaTrainer Open(string modelPath, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ContextLength < 8) throw new ArgumentOutOfRangeException(nameof(options), "ContextLength must be at least 8");
        var model = LlamaModel.Load(modelPath, new ModelOptions { UseMemoryMap = false });
        try
        {
            int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
            var p = SafeLlamaContextHandle.DefaultParams();
            p.ContextSize = (uint)options.ContextLength;
            p.BatchSize = (uint)options.ContextLength;
            p.MicroBatchSize = (uint)options.ContextLength;
            p.MaxSequences = 1;
            p.Threads = threads;
            p.BatchThreads = threads;
            p.TypeK = 0; // GGML_TYPE_F32: the backward pass has no F16 OUT_PROD
            p.TypeV = 0;
            p.FlashAttentionType = LlamaFlashAttentionType.Disabled;
            NativeLogging.ClearRecentErrors();
            var context = SafeLlamaContextHandle.Create(model.Handle, p);
            if (context.IsInvalid) throw new InferenceException($"llama.cpp could not create a training context for '{modelPath}': {NativeLogging.RecentErrorText()}");
            uint actual = context.ContextSize;
            if (actual != p.ContextSize)
            {
                // llama.cpp rounded n_ctx up (it pads the KV cache to 256 cells): use that length for batches too, so a
                // datapoint is still one ubatch and one optimizer step.
                context.Dispose();
                p.ContextSize = p.BatchSize = p.MicroBatchSize = actual;
                context = SafeLlamaContextHandle.Create(model.Handle, p);
                if (context.IsInvalid) throw new InferenceException($"llama.cpp could not create a training context of {actual} tokens for '{modelPath}': {NativeLogging.RecentErrorText()}");
            }
            return new LlamaTrainer(model, context, options);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Tokenizes a corpus document with llama.cpp's tokenizer (BOS added, control-token text parsed).</summary>
    public int[] Tokenize(string document) => _model.Vocabulary.Tokenize(document, addSpecial: true, parseSpecial: true);

    /// <summary>Packs documents whole into datapoints of ContextLength + 1 tokens (a longer document is cut).</summary>
    public List<int[]> Pack(IEnumerable<int[]> documents)
    {
        int width = _contextLength + 1;
        var windows = new List<int[]>();
        var current = new List<int>(width);
        void Flush()
        {
            if (current.Count == 0) return;
            while (current.Count < width) current.Add(_padToken);
            windows.Add([.. current]);
            current.Clear();
        }
        foreach (int[] doc in documents)
        {
            if (current.Count + doc.Length > width) Flush();
            current.AddRange(doc.Length > width ? doc.AsSpan(0, width).ToArray() : doc);
        }
        Flush();
        return windows;
    }

    /// <summary>Total optimizer steps the schedule spans; set before the first epoch (else it is epochs x this epoch's steps).</summary>
    public long TotalSteps { get => _totalSteps; set => _totalSteps = value; }

    /// <summary>Runs one epoch of llama_opt_epoch over the packed documents, reporting after every optimizer step.</summary>
    public TrainingEpochResult TrainEpoch(int epoch, IReadOnlyList<int[]> documents, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var windows = Pack(documents);
        if (windows.Count == 0) throw new ArgumentException("no documents to train on", nameof(documents));
        int n = _contextLength;
        using var dataset = SafeGgmlOptDatasetHandle.CreateTokens(n, windows.Count);
        if (dataset.IsInvalid) throw new InferenceException("ggml_opt_dataset_init failed");
        using var result = SafeGgmlOptResultHandle.Create();
        for (int w = 0; w < windows.Count; w++)
        {
            windows[w].AsSpan(0, n).CopyTo(dataset.Inputs(w));
            windows[w].AsSpan(1, n).CopyTo(dataset.Labels(w));
        }

        _epoch = epoch;
        _stepsThisEpoch = windows.Count;
        if (_totalSteps <= 0) _totalSteps = (long)windows.Count * _options.Epochs;
        _progress = progress;
        _clock = Stopwatch.StartNew();
        SetLearningRate(_stepBase);
        try
        {
            LlamaOptimizer.RunEpoch(_context, dataset, result, windows.Count, OnStep);
        }
        finally
        {
            _progress = null;
        }
        _stepBase += windows.Count;
        var (loss, acc) = result.LossAndAccuracy();
        return new TrainingEpochResult(epoch, windows.Count, documents.Count, (long)windows.Count * n, loss, acc, _clock.Elapsed);
    }

    /// <summary>Writes the trained model with llama_model_save_to_file (llama.cpp's own GGUF saver).</summary>
    public void Save(string path)
    {
        _model.Handle.SaveToFile(Path.GetFullPath(path));
        if (!File.Exists(path)) throw new InferenceException($"llama_model_save_to_file wrote nothing at '{path}': {NativeLogging.RecentErrorText()}");
    }

    /// <summary>Cosine decay from the peak to the final fraction after a linear warm-up; written where llama.cpp reads it before each step.</summary>
    private float SetLearningRate(long step)
    {
        double peak = _options.LearningRate;
        double lr;
        if (step < _options.WarmupSteps) lr = peak * (step + 1) / (_options.WarmupSteps + 1);
        else
        {
            long total = Math.Max(_totalSteps, 1);
            double t = Math.Clamp((double)(step - _options.WarmupSteps) / Math.Max(1, total - _options.WarmupSteps), 0, 1);
            double floor = peak * _options.FinalLearningRateFraction;
            lr = floor + (peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * t));
        }
        ref var optimizer = ref _optimizerParams.Value;
        optimizer.AdamWAlpha = (float)lr;
        optimizer.SgdAlpha = (float)lr;
        return (float)lr;
    }

    // Called by llama_opt_epoch (through LlamaOptimizer, which keeps exceptions out of native code) on this thread
    // after every ubatch (= optimizer step here).
    private void OnStep(long batch, long batchMax, double loss, double accuracy)
    {
        _lastLoss = loss;
        _lastAccuracy = accuracy;
        long step = _stepBase + batch;
        float lr = SetLearningRate(step);
        _progress?.Report(new TrainingProgress(_epoch, _options.Epochs, batch, batchMax, step, _totalSteps, loss, accuracy, lr, _clock.Elapsed));
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _context.Dispose();
        _model.Dispose();
        _optimizerParams.Dispose();
    }
}
