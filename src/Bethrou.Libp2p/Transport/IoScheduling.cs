using System.IO.Pipelines;

namespace Bethrou.Libp2p.Transport;

/// <summary>
/// Where the continuations of Bethrou's I/O pipes run: process-wide, read once at start.
/// </summary>
/// <remarks>
/// <para><b>Inline</b>: a continuation runs on the thread that made it ready. A socket's receive loop hands its bytes
/// to pnet, Noise and yamux, and yamux hands each stream's payload to the application, all on one thread; a stream's
/// write goes through the write loop, Noise and pnet to the socket's send on the writer's thread. Together with .NET's
/// inline socket completions (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>), a request is handled to
/// completion on the thread whose socket became ready, as in an event loop, instead of being passed between the socket
/// thread and thread-pool workers at every layer; each such pass is a thread wake-up, and on the 2-core VMs Bethrou is
/// measured on they were most of a request's cost. The price, as with Kestrel's <c>UnsafePreferInlineScheduling</c>:
/// code that reads a stream must never block, or it stalls every stream of its connection.</para>
/// <para><b>Thread pool</b>: every hand-off between layers is queued to the thread pool (Bethrou before 2026-12-07).</para>
/// <para>The mode is <c>BETHROU_IO_SCHEDULING</c> (<c>inline</c> or <c>threadpool</c>) when set, otherwise inline
/// exactly when .NET's inline socket completions are on: inline pipes fed by socket completions that were already
/// handed to the thread pool measured worse than either mode (stack echo: 360-400 MB/s against 450-530). The
/// <c>bethrou</c> executable turns inline socket completions on unless told otherwise.</para>
/// <para>Inside yamux, continuations that become ready while a loop holds a stream's lock are not run there: they are
/// deferred (<see cref="DeferredInlineScheduler"/>) and run when the loop's batch is done and no lock is held.</para>
/// </remarks>
public static class IoScheduling
{
    /// <summary>The environment variable that selects the mode: <c>inline</c> (default) or <c>threadpool</c>.</summary>
    public const string EnvironmentVariable = "BETHROU_IO_SCHEDULING";

    /// <summary>.NET's switch that runs socket completions on its socket threads (read at the first socket operation).</summary>
    public const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>True when continuations run inline; false when they go through the thread pool.</summary>
    public static bool Inline => Mode.Value;

    /// <summary>
    /// For a program's first lines, before any socket exists: makes inline the default by turning on .NET's inline
    /// socket completions, unless <c>BETHROU_IO_SCHEDULING</c> asks for the thread pool or the switch is already set
    /// either way. Returns the error for a <c>BETHROU_IO_SCHEDULING</c> value that is neither mode (nothing is changed
    /// then), or null.
    /// </summary>
    public static string? PreferInline()
    {
        var (inline, error) = Parse(Environment.GetEnvironmentVariable(EnvironmentVariable), inlineSocketCompletions: true);
        if (error is null && inline && Environment.GetEnvironmentVariable(InlineSocketCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletionsVariable, "1");
        }
        return error;
    }

    /// <summary>The scheduler for pipes that hold no lock while they complete: inline, or the thread pool.</summary>
    public static PipeScheduler PipeScheduler => Inline ? PipeScheduler.Inline : PipeScheduler.ThreadPool;

    /// <summary>True unless <paramref name="value"/> (the variable's value) asks for the thread pool; a value that is
    /// neither mode is an error. Unset or empty follows <paramref name="inlineSocketCompletions"/>.</summary>
    public static (bool Inline, string? Error) Parse(string? value, bool inlineSocketCompletions) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => (inlineSocketCompletions, null),
        "inline" => (true, null),
        "threadpool" => (false, null),
        _ => (inlineSocketCompletions, $"{EnvironmentVariable}: `{value}` is not a scheduling mode (expected `inline` or `threadpool`)"),
    };

    // Its own type, so that PreferInline can run before the mode is read.
    private static class Mode
    {
        // A value that is neither mode follows the socket setting here; programs refuse it through PreferInline.
        public static readonly bool Value = Parse(
            Environment.GetEnvironmentVariable(EnvironmentVariable),
            Environment.GetEnvironmentVariable(InlineSocketCompletionsVariable) == "1").Inline;
    }
}
