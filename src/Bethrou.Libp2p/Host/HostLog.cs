using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Host;

internal static partial class HostLog
{
    [LoggerMessage(1400, LogLevel.Information, "Listening on {Address}")]
    public static partial void Listening(ILogger logger, Multiaddress address);

    [LoggerMessage(1401, LogLevel.Debug, "Connection {Direction} {Peer} at {Address} established")]
    public static partial void ConnectionOpened(ILogger logger, string direction, PeerId peer, Multiaddress address);

    [LoggerMessage(1402, LogLevel.Debug, "Connection to {Peer} at {Address} closed: {Cause}")]
    public static partial void ConnectionClosed(ILogger logger, PeerId peer, Multiaddress address, string cause);

    [LoggerMessage(1403, LogLevel.Warning, "Inbound connection from {Address} failed: {Reason}")]
    public static partial void InboundUpgradeFailed(ILogger logger, Multiaddress address, string reason);

    [LoggerMessage(1404, LogLevel.Debug, "Stream from {Peer} failed protocol negotiation: {Reason}")]
    public static partial void StreamNegotiationFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1405, LogLevel.Warning, "Handler for {Protocol} from {Peer} failed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string protocol, PeerId peer);

    [LoggerMessage(1406, LogLevel.Debug, "Identify with {Peer} failed: {Reason}")]
    public static partial void IdentifyFailed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(1407, LogLevel.Warning, "Inbound connection from {Address} refused: {Reason}")]
    public static partial void InboundRefused(ILogger logger, Multiaddress address, string reason);

    [LoggerMessage(1408, LogLevel.Error, "Background task {Name} faulted")]
    public static partial void BackgroundFaulted(ILogger logger, Exception exception, string name);
}
