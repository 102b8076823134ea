using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>Noise log events (EventId range 1200-1299). Never logs key material.</summary>
internal static partial class NoiseLog
{
    [LoggerMessage(1200, LogLevel.Debug, "Noise handshake complete as {Role}: local {LocalPeer}, remote {RemotePeer}, early muxer {EarlyMuxer}", EventName = "HandshakeComplete")]
    public static partial void HandshakeComplete(ILogger logger, string role, string localPeer, string remotePeer, string? earlyMuxer);

    [LoggerMessage(1201, LogLevel.Debug, "Noise handshake failed as {Role}: {Reason}", EventName = "HandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, string role, string reason);

    [LoggerMessage(1202, LogLevel.Warning, "Noise frame from {RemotePeer} failed authentication; closing the connection", EventName = "FrameAuthenticationFailed")]
    public static partial void FrameAuthenticationFailed(ILogger logger, string remotePeer);

    [LoggerMessage(1205, LogLevel.Trace, "Noise transport for {RemotePeer} closed: {BytesSent} bytes sent in {FramesSent} frames, {BytesReceived} bytes received in {FramesReceived} frames", EventName = "TransportClosed")]
    public static partial void TransportClosed(ILogger logger, string remotePeer, long bytesSent, long framesSent, long bytesReceived, long framesReceived);
}
