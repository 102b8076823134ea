using System.IO.Pipelines;

namespace Bethrou.Proxy.Protocol;

/// <summary>
/// <c>/bethrou/ping/1.0.0</c>: the Go node's handler is <c>s.Close()</c>, so we close both directions at once and
/// exchange nothing (reference §2.3). Real RTT probing uses <c>/ipfs/ping/1.0.0</c>.
/// </summary>
internal static class BethrouPingHandler
{
    public static async ValueTask HandleAsync(IDuplexPipe stream, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await stream.Output.CompleteAsync().ConfigureAwait(false);
        await stream.Input.CompleteAsync().ConfigureAwait(false);
    }
}
