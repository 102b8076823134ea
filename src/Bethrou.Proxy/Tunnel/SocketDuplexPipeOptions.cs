using System.Buffers;
using System.IO.Pipelines;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Proxy.Tunnel;

/// <summary>Buffering and scheduling for <see cref="SocketDuplexPipe"/>.</summary>
public sealed class SocketDuplexPipeOptions
{
    public static SocketDuplexPipeOptions Default { get; } = new();

    /// <summary>Bytes asked of the pipe for each socket receive (also the pipes' minimum segment size).
    /// Big chunks mean fewer system calls per megabyte. Default 64 KiB.</summary>
    public int ReceiveSize { get; init; } = 64 * 1024;

    /// <summary>Received bytes the application has not read yet before the receive loop pauses (backpressure).
    /// Receiving resumes at half of it. Default 1 MiB.</summary>
    public long MaxReceiveBufferSize { get; init; } = 1024 * 1024;

    /// <summary>Bytes written by the application but not yet sent before its <c>FlushAsync</c> waits.
    /// Default 1 MiB.</summary>
    public long MaxSendBufferSize { get; init; } = 1024 * 1024;

    /// <summary>Wait for data with a zero-byte receive before taking a buffer from the pool, so idle connections
    /// hold no memory. Skipped while the previous receive filled its whole buffer (more data is likely queued).</summary>
    public bool WaitForDataBeforeAllocatingBuffer { get; init; } = true;

    /// <summary>Disable Nagle's algorithm (tunnels carry interactive traffic). Default true.</summary>
    public bool NoDelay { get; init; } = true;

    /// <summary>Pool for pipe segments; null uses the shared array pool (no per-segment allocation).</summary>
    public MemoryPool<byte>? MemoryPool { get; init; }

    /// <summary>Runs the application's continuations (its reads of <c>Input</c>, its resumed flushes of <c>Output</c>).</summary>
    public PipeScheduler ApplicationScheduler { get; init; } = IoScheduling.PipeScheduler;

    /// <summary>Runs the socket loops' continuations (the send loop after the application flushes, the receive
    /// loop after the application frees space).</summary>
    public PipeScheduler TransportScheduler { get; init; } = IoScheduling.PipeScheduler;

    internal void Validate()
    {
        if (ReceiveSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(ReceiveSize), ReceiveSize, "ReceiveSize must be at least 1024 bytes.");
        }
        if (MaxReceiveBufferSize < ReceiveSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReceiveBufferSize), MaxReceiveBufferSize,
                "MaxReceiveBufferSize must be at least ReceiveSize.");
        }
        if (MaxSendBufferSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSendBufferSize), MaxSendBufferSize,
                "MaxSendBufferSize must be at least 1024 bytes.");
        }
        ArgumentNullException.ThrowIfNull(ApplicationScheduler);
        ArgumentNullException.ThrowIfNull(TransportScheduler);
    }
}
