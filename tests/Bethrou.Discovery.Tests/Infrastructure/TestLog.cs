using Microsoft.Extensions.Logging;

namespace Bethrou.Discovery.Tests.Infrastructure;

/// <summary>A logger that keeps every formatted line (to assert what is and is not logged).</summary>
public sealed class TestLog : ILogger
{
    private readonly List<(LogLevel Level, EventId Id, string Text)> _lines = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Text)> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string AllText => string.Join("\n", Lines.Select(l => l.Text));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var text = formatter(state, exception) + (exception is null ? "" : " | " + exception);
        lock (_lines)
        {
            _lines.Add((logLevel, eventId, text));
        }
    }

    public int Count(string eventName) => Lines.Count(l => l.Id.Name == eventName);
}
