using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Bethrou.Cli.Commands;

internal static class Logging
{
    /// <summary>Logs go to stderr (stdout carries addresses and other output meant for scripts).</summary>
    public static ILoggerFactory Create(string level, string format) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(ParseLevel(level));
        if (format == "json")
        {
            b.AddJsonConsole(o => o.IncludeScopes = false);
        }
        else
        {
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        b.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    public static LogLevel ParseLevel(string level) => level.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => LogLevel.Information,
    };
}
