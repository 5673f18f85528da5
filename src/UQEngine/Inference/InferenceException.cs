namespace UQEngine.Inference;

/// <summary>A model could not be loaded or a decode step failed. The message names the model and the cause.</summary>
public sealed class InferenceException(string message, Exception? inner = null) : Exception(message, inner);
