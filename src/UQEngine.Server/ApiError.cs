using System.Text.Json.Serialization;

namespace UQEngine.Server;

/// <summary>OpenAI's error body: {"error":{"message","type","param","code"}}.</summary>
public sealed record ErrorEnvelope(ErrorBody Error);

public sealed record ErrorBody(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>A request the server refuses, with the HTTP status it is answered with.</summary>
public sealed class ApiErrorException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public ErrorEnvelope Envelope { get; } = new(new ErrorBody(message, type, param, code));
    /// <summary>Response headers that go with the error (Allow on 405, Retry-After on 429).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    public static ApiErrorException Invalid(string message, string? param = null, string? code = null) => new(400, message, "invalid_request_error", param, code);
}
