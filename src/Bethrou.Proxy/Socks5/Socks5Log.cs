using System.Net;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Socks5;

/// <summary>SOCKS5 server log events: EventIds 2000-2079 (2080-2099: <see cref="TunnelLog"/>).
/// Destinations are logged at Debug only; credentials never.</summary>
internal static partial class Socks5Log
{
    [LoggerMessage(2000, LogLevel.Information, "SOCKS5 server listening on {EndPoint} (authentication: {AuthMode})", EventName = "Listening")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, string authMode);

    [LoggerMessage(2001, LogLevel.Information, "SOCKS5 server on {EndPoint} stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2002, LogLevel.Debug, "Connection {ConnectionId} accepted from {RemoteEndPoint}", EventName = "ConnectionAccepted")]
    public static partial void ConnectionAccepted(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(2003, LogLevel.Warning, "Connection from {RemoteEndPoint} closed: at the limit of {MaxConnections} connections", EventName = "ConnectionRejected")]
    public static partial void ConnectionRejected(ILogger logger, EndPoint? remoteEndPoint, int maxConnections);

    [LoggerMessage(2004, LogLevel.Debug, "Connection {ConnectionId}: handshake timed out after {Timeout}", EventName = "HandshakeTimedOut")]
    public static partial void HandshakeTimedOut(ILogger logger, long connectionId, TimeSpan timeout);

    [LoggerMessage(2005, LogLevel.Debug, "Connection {ConnectionId}: client closed during the {Phase}", EventName = "ClosedDuringHandshake")]
    public static partial void ClosedDuringHandshake(ILogger logger, long connectionId, string phase);

    [LoggerMessage(2006, LogLevel.Debug, "Connection {ConnectionId}: malformed {Phase} ({Status}): {Reason}", EventName = "MalformedMessage")]
    public static partial void MalformedMessage(ILogger logger, long connectionId, string phase, Socks5ParseStatus status, string? reason);

    [LoggerMessage(2007, LogLevel.Debug, "Connection {ConnectionId}: no acceptable authentication method offered (server requires {Method})", EventName = "NoAcceptableMethod")]
    public static partial void NoAcceptableMethod(ILogger logger, long connectionId, byte method);

    [LoggerMessage(2008, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: authentication failed", EventName = "AuthenticationFailed")]
    public static partial void AuthenticationFailed(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(2009, LogLevel.Debug, "Connection {ConnectionId}: command {Command} not supported", EventName = "CommandNotSupported")]
    public static partial void CommandNotSupported(ILogger logger, long connectionId, Socks5Command command);

    [LoggerMessage(2010, LogLevel.Debug, "Connection {ConnectionId}: CONNECT {Destination}", EventName = "ConnectRequested")]
    public static partial void ConnectRequested(ILogger logger, long connectionId, Socks5Destination destination);

    [LoggerMessage(2011, LogLevel.Debug, "Connection {ConnectionId}: CONNECT {Destination} failed ({ReplyCode}): {Reason}", EventName = "ConnectFailed")]
    public static partial void ConnectFailed(ILogger logger, long connectionId, Socks5Destination destination, Socks5ReplyCode replyCode, string reason);

    [LoggerMessage(2012, LogLevel.Debug, "Connection {ConnectionId}: tunnel closed ({Status}, failed side {FailedSide}), {BytesUp} bytes up, {BytesDown} bytes down", EventName = "TunnelClosed")]
    public static partial void TunnelClosed(ILogger logger, long connectionId, PumpStatus status, PumpSide failedSide, long bytesUp, long bytesDown, Exception? exception);

    [LoggerMessage(2013, LogLevel.Debug, "Connection {ConnectionId}: I/O error during the handshake", EventName = "HandshakeIOError")]
    public static partial void HandshakeIOError(ILogger logger, long connectionId, Exception exception);

    [LoggerMessage(2014, LogLevel.Warning, "Accepting a SOCKS5 connection failed ({SocketError})", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, System.Net.Sockets.SocketError socketError, Exception exception);

    [LoggerMessage(2015, LogLevel.Warning, "Drain timeout of {DrainTimeout} reached: aborting {Count} connection(s)", EventName = "DrainTimeout")]
    public static partial void DrainTimeout(ILogger logger, TimeSpan drainTimeout, int count);

    [LoggerMessage(2016, LogLevel.Error, "Connection {ConnectionId}: unexpected error", EventName = "ConnectionFaulted")]
    public static partial void ConnectionFaulted(ILogger logger, long connectionId, Exception exception);

    [LoggerMessage(2017, LogLevel.Debug, "Connection {ConnectionId}: CONNECT {Destination} timed out after {Timeout}", EventName = "ConnectTimedOut")]
    public static partial void ConnectTimedOut(ILogger logger, long connectionId, Socks5Destination destination, TimeSpan timeout);

    [LoggerMessage(2018, LogLevel.Warning, "Connection {ConnectionId}: the tunnel connector threw instead of returning a failure", EventName = "ConnectorFaulted")]
    public static partial void ConnectorFaulted(ILogger logger, long connectionId, Exception exception);
}
