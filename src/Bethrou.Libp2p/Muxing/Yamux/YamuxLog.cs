using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>Yamux log messages (EventId 1300-1399).</summary>
internal static partial class YamuxLog
{
    [LoggerMessage(1300, LogLevel.Debug, "yamux session started (client: {IsClient})")]
    public static partial void SessionStarted(ILogger logger, bool isClient);

    [LoggerMessage(1301, LogLevel.Debug, "yamux session closed: {Reason}")]
    public static partial void SessionClosed(ILogger logger, SessionCloseReason reason, Exception? exception);

    [LoggerMessage(1302, LogLevel.Warning, "yamux protocol error, sending GoAway(1): {Error}")]
    public static partial void ProtocolError(ILogger logger, string error);

    [LoggerMessage(1303, LogLevel.Debug, "yamux: ignoring ping ACK {PingId} that was not requested")]
    public static partial void UnsolicitedPingAck(ILogger logger, uint pingId);

    [LoggerMessage(1304, LogLevel.Debug, "yamux: refusing inbound stream {StreamId} with RST: {Why}")]
    public static partial void InboundStreamRefused(ILogger logger, uint streamId, string why);

    [LoggerMessage(1305, LogLevel.Debug, "yamux: stream {StreamId} reset by the peer")]
    public static partial void RemoteReset(ILogger logger, uint streamId);

    [LoggerMessage(1306, LogLevel.Warning, "yamux: keepalive ping {PingId} unanswered after {Timeout}; closing the session")]
    public static partial void KeepAliveTimeout(ILogger logger, uint pingId, TimeSpan timeout);

    [LoggerMessage(1307, LogLevel.Debug, "yamux: peer sent GoAway({Code})")]
    public static partial void RemoteGoAway(ILogger logger, uint code);

    [LoggerMessage(1308, LogLevel.Error, "yamux: unexpected failure in the {Loop} loop")]
    public static partial void LoopFault(ILogger logger, string loop, Exception exception);

    [LoggerMessage(1309, LogLevel.Trace, "yamux: frame for unknown stream {StreamId} ignored ({Type}, {Flags}, {Length})")]
    public static partial void UnknownStreamFrame(ILogger logger, uint streamId, YamuxFrameType type, YamuxFlags flags, uint length);

    [LoggerMessage(1310, LogLevel.Trace, "yamux: stream {StreamId} receive window grown to {Window}")]
    public static partial void WindowGrown(ILogger logger, uint streamId, long window);

    [LoggerMessage(1311, LogLevel.Debug, "yamux: ping RTT {Rtt}")]
    public static partial void PingRtt(ILogger logger, TimeSpan rtt);

    [LoggerMessage(1312, LogLevel.Debug, "yamux: transport ended inside a frame ({Remaining} bytes missing)")]
    public static partial void TruncatedFrame(ILogger logger, long remaining);

    [LoggerMessage(1313, LogLevel.Debug, "yamux: reply queue full, dropping {Type} {Flags} for stream {StreamId}")]
    public static partial void ReplyDropped(ILogger logger, YamuxFrameType type, YamuxFlags flags, uint streamId);

    [LoggerMessage(1314, LogLevel.Debug, "yamux: completing the transport {Side} failed")]
    public static partial void TransportCompleteFailed(ILogger logger, string side, Exception exception);
}
