using Bethrou.Libp2p.Multiformats;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Exit;

/// <summary>Exit-node log events, EventIds 2100-2199. Destinations appear only at Debug; no secrets ever.</summary>
internal static partial class ExitLog
{
    [LoggerMessage(2100, LogLevel.Debug, "Proxy stream from {Peer} connected to {Destination} via {RemoteEndPoint}")]
    public static partial void StreamConnected(ILogger logger, PeerId peer, string destination, string remoteEndPoint);

    [LoggerMessage(2101, LogLevel.Warning, "Refused proxy stream from {Peer}: peer is not on this exit node's allowlist")]
    public static partial void PeerNotAuthorized(ILogger logger, PeerId peer);

    [LoggerMessage(2102, LogLevel.Warning, "Refused proxy stream from {Peer}: the exit node is at its limit of {Limit} concurrent streams")]
    public static partial void GlobalLimitReached(ILogger logger, PeerId peer, int limit);

    [LoggerMessage(2103, LogLevel.Warning, "Refused proxy stream from {Peer}: the peer is at its limit of {Limit} concurrent streams")]
    public static partial void PeerLimitReached(ILogger logger, PeerId peer, int limit);

    [LoggerMessage(2104, LogLevel.Debug, "Bad proxy request from {Peer}: {Reason}")]
    public static partial void BadRequest(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(2105, LogLevel.Debug, "Proxy stream from {Peer} to {Destination} failed with {Code}: {Reason}")]
    public static partial void DialFailed(ILogger logger, PeerId peer, string destination, ProxyErrorCode code, string reason);

    [LoggerMessage(2106, LogLevel.Debug, "Proxy stream from {Peer} ended ({Outcome}); {BytesToOrigin} bytes sent, {BytesFromOrigin} bytes received")]
    public static partial void StreamEnded(ILogger logger, PeerId peer, ExitPumpOutcome outcome, long bytesToOrigin, long bytesFromOrigin);

    [LoggerMessage(2107, LogLevel.Debug, "Proxy stream from {Peer} failed while writing the handshake response")]
    public static partial void ResponseFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(2108, LogLevel.Debug, "Proxy stream from {Peer} sent no request within {Timeout}")]
    public static partial void RequestTimedOut(ILogger logger, PeerId peer, TimeSpan timeout);

    [LoggerMessage(2109, LogLevel.Debug, "Proxy stream from {Peer} was canceled by shutdown")]
    public static partial void StreamCanceled(ILogger logger, PeerId peer);
}
