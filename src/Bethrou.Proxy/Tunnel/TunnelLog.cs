using System.Net;
using Bethrou.Proxy.Socks5;
using Microsoft.Extensions.Logging;

namespace Bethrou.Proxy.Tunnel;

/// <summary>Tunnel log events: EventIds 2080-2099 (the Socks5 area's range, 2000-2099).</summary>
internal static partial class TunnelLog
{
    [LoggerMessage(2080, LogLevel.Debug, "Direct connect to {Destination} from {LocalEndPoint}", EventName = "DirectConnected")]
    public static partial void DirectConnected(ILogger logger, Socks5Destination destination, EndPoint? localEndPoint);

    [LoggerMessage(2081, LogLevel.Debug, "Direct connect to {Destination} failed ({ReplyCode}): {Reason}", EventName = "DirectConnectFailed")]
    public static partial void DirectConnectFailed(ILogger logger, Socks5Destination destination, Socks5ReplyCode replyCode, string reason);
}
