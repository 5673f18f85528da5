using System.Text;

namespace UQEngine.Inference;

/// <summary>
/// Turns a stream of token texts into text that is safe to show before the sequence ends: the generator reports the
/// token that completes a stop sequence before it cuts the stop off, so this filter looks for the stops the same way
/// (stops in list order, searched only where the new piece could have completed one) and holds back the last
/// (longest stop − 1) characters until the next piece or <see cref="Finish"/>. What it has released is always a
/// prefix of the generator's final text.
/// </summary>
public sealed class StopSequenceFilter
{
    private readonly IReadOnlyList<string> _stops;
    private readonly int _holdBack;
    private readonly StringBuilder _text = new();
    private int _released;
    private bool _stopped;

    public StopSequenceFilter(IReadOnlyList<string> stops)
    {
        _stops = stops;
        _holdBack = stops.Count == 0 ? 0 : Math.Max(0, stops.Max(s => s.Length) - 1);
    }

    /// <summary>Adds a token's text; returns the text that can now be shown (possibly empty).</summary>
    public string Push(string piece)
    {
        if (_stopped) return "";
        _text.Append(piece);
        foreach (string stop in _stops)
        {
            if (stop.Length == 0) continue;
            int from = Math.Max(0, _text.Length - piece.Length - stop.Length + 1);
            int at = _text.ToString(from, _text.Length - from).IndexOf(stop, StringComparison.Ordinal);
            if (at < 0) continue;
            _text.Length = from + at;
            _stopped = true;
            return Release(_text.Length);
        }
        int safe = _text.Length - _holdBack;
        if (safe > 0 && safe < _text.Length && char.IsHighSurrogate(_text[safe - 1])) safe--; // never split a surrogate pair
        return Release(safe);
    }

    /// <summary>The part of the generator's final (stop-cut) text not released yet.</summary>
    public string Finish(string finalText) => finalText.Length > _released ? finalText[_released..] : "";

    private string Release(int upTo)
    {
        if (upTo <= _released) return "";
        string text = _text.ToString(_released, upTo - _released);
        _released = upTo;
        return text;
    }
}
