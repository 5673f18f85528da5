namespace UQEngine.Cli;

/// <summary>A user error: printed as one line, exit code 1, no stack trace.</summary>
internal sealed class CliException(string message) : Exception(message);
