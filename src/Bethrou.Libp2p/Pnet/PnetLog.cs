using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Pnet;

/// <summary>Pnet log events (EventId 1000-1099). Never logs key material or nonces.</summary>
internal static partial class PnetLog
{
    [LoggerMessage(1000, LogLevel.Debug, "pnet: nonces exchanged, connection protected (key fingerprint {Fingerprint})", EventName = "PnetProtected")]
    public static partial void Protected(ILogger logger, string fingerprint);

    [LoggerMessage(1001, LogLevel.Debug, "pnet: nonce exchange failed", EventName = "PnetNonceExchangeFailed")]
    public static partial void NonceExchangeFailed(ILogger logger, Exception exception);

    [LoggerMessage(1002, LogLevel.Debug, "pnet: inbound direction ended after {Bytes} bytes", EventName = "PnetInboundEnded")]
    public static partial void InboundEnded(ILogger logger, ulong bytes, Exception? exception);

    [LoggerMessage(1003, LogLevel.Debug, "pnet: outbound direction ended after {Bytes} bytes", EventName = "PnetOutboundEnded")]
    public static partial void OutboundEnded(ILogger logger, ulong bytes, Exception? exception);
}
