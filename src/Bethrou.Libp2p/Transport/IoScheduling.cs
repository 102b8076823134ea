using System.IO.Pipelines;

namespace Bethrou.Libp2p.Transport;

/// <summary>
/// Where the continuations of Bethrou's I/O pipes run: process-wide, read once at start.
/// </summary>
/// <remarks>
/// <para><b>Inline</b> (the default): a continuation runs on the thread that made it ready. A socket's receive loop
/// hands its bytes to pnet, Noise and yamux, and yamux hands each stream's payload to the application, all on one
/// thread; a stream's write goes through the write loop, Noise and pnet to the socket's send on the writer's thread.
/// Used together with .NET's inline socket completions (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, which
/// the <c>bethrou</c> executable sets), a request is handled to completion on the thread whose socket became ready,
/// as in an event loop, instead of being passed between the socket thread and thread-pool workers at every layer.
/// Each such pass is a thread wake-up: on the 2-core VMs Bethrou is measured on, they were most of a request's cost.
/// The price, as with Kestrel's <c>UnsafePreferInlineScheduling</c>: code that reads a stream must never block, or it
/// stalls every stream of its connection.</para>
/// <para><b>Thread pool</b> (<c>BETHROU_IO_SCHEDULING=threadpool</c> in the environment): every hand-off between layers
/// is queued to the thread pool, as before 2026-12-07.</para>
/// <para>Inside yamux, continuations that become ready while a loop holds a stream's lock are not run there: they are
/// deferred (<see cref="DeferredInlineScheduler"/>) and run when the loop's batch is done and no lock is held.</para>
/// </remarks>
public static class IoScheduling
{
    /// <summary>The environment variable that selects the mode: <c>inline</c> (default) or <c>threadpool</c>.</summary>
    public const string EnvironmentVariable = "BETHROU_IO_SCHEDULING";

    private static readonly (bool Inline, string? Error) s_mode = Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>True when continuations run inline (the default); false when they go through the thread pool.</summary>
    public static bool Inline => s_mode.Inline;

    /// <summary>Why the environment variable was not understood (the mode is then inline), or null. Programs report
    /// it at start.</summary>
    public static string? ConfigurationError => s_mode.Error;

    /// <summary>The scheduler for pipes that hold no lock while they complete: inline, or the thread pool.</summary>
    public static PipeScheduler PipeScheduler => Inline ? PipeScheduler.Inline : PipeScheduler.ThreadPool;

    internal static (bool Inline, string? Error) Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "inline" => (true, null),
        "threadpool" => (false, null),
        _ => (true, $"{EnvironmentVariable}: `{value}` is not a scheduling mode (expected `inline` or `threadpool`)"),
    };
}
