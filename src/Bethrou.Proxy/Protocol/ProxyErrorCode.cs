using System.Diagnostics.CodeAnalysis;

namespace Bethrou.Proxy.Protocol;

/// <summary>
/// Why an exit node refused or failed a proxy request. On the wire this travels as the extra
/// <c>"code"</c> field of an error response (Go nodes ignore unknown fields and never send it).
/// </summary>
internal enum ProxyErrorCode
{
    /// <summary>Anything else. Wire name <c>general</c>; SOCKS 0x01.</summary>
    General = 0,

    /// <summary>Refused by the exit's egress policy or peer allowlist. Wire name <c>not_allowed</c>; SOCKS 0x02.</summary>
    NotAllowed,

    /// <summary>The exit has no route to the destination network. Wire name <c>network_unreachable</c>; SOCKS 0x03.</summary>
    NetworkUnreachable,

    /// <summary>No such host, or no route to it. Wire name <c>host_unreachable</c>; SOCKS 0x04.</summary>
    HostUnreachable,

    /// <summary>The destination answered with RST. Wire name <c>connection_refused</c>; SOCKS 0x05.</summary>
    ConnectionRefused,

    /// <summary>Resolution plus connect did not finish in time. Wire name <c>timeout</c>; SOCKS 0x06.</summary>
    Timeout,

    /// <summary>The exit is at a concurrent-stream limit. Wire name <c>limit</c>; SOCKS 0x01.</summary>
    Limit,
}

internal static class ProxyErrorCodes
{
    public const string GeneralName = "general";
    public const string NotAllowedName = "not_allowed";
    public const string NetworkUnreachableName = "network_unreachable";
    public const string HostUnreachableName = "host_unreachable";
    public const string ConnectionRefusedName = "connection_refused";
    public const string TimeoutName = "timeout";
    public const string LimitName = "limit";

    /// <summary>The wire name sent in the <c>"code"</c> field.</summary>
    public static string ToWireName(this ProxyErrorCode code) => code switch
    {
        ProxyErrorCode.NotAllowed => NotAllowedName,
        ProxyErrorCode.NetworkUnreachable => NetworkUnreachableName,
        ProxyErrorCode.HostUnreachable => HostUnreachableName,
        ProxyErrorCode.ConnectionRefused => ConnectionRefusedName,
        ProxyErrorCode.Timeout => TimeoutName,
        ProxyErrorCode.Limit => LimitName,
        _ => GeneralName,
    };

    /// <summary>Parses a wire name (exact, lower case). Unknown names return false.</summary>
    public static bool TryParseWireName([NotNullWhen(true)] string? name, out ProxyErrorCode code)
    {
        switch (name)
        {
            case GeneralName: code = ProxyErrorCode.General; return true;
            case NotAllowedName: code = ProxyErrorCode.NotAllowed; return true;
            case NetworkUnreachableName: code = ProxyErrorCode.NetworkUnreachable; return true;
            case HostUnreachableName: code = ProxyErrorCode.HostUnreachable; return true;
            case ConnectionRefusedName: code = ProxyErrorCode.ConnectionRefused; return true;
            case TimeoutName: code = ProxyErrorCode.Timeout; return true;
            case LimitName: code = ProxyErrorCode.Limit; return true;
            default: code = ProxyErrorCode.General; return false;
        }
    }

    /// <summary>The SOCKS5 reply byte a client sends its application for this error.</summary>
    public static byte ToSocksReply(this ProxyErrorCode code) => code switch
    {
        ProxyErrorCode.NotAllowed => SocksReplyBytes.NotAllowedByRuleset,
        ProxyErrorCode.NetworkUnreachable => SocksReplyBytes.NetworkUnreachable,
        ProxyErrorCode.HostUnreachable => SocksReplyBytes.HostUnreachable,
        ProxyErrorCode.ConnectionRefused => SocksReplyBytes.ConnectionRefused,
        ProxyErrorCode.Timeout => SocksReplyBytes.TtlExpired,
        _ => SocksReplyBytes.GeneralFailure,
    };

    /// <summary>
    /// Classifies an error response. A known <c>"code"</c> wins; otherwise (Go nodes send only free text, or a
    /// newer node sent a code we do not know) the message text is matched the way Go clients do, extended with
    /// the policy, timeout and unreachable cases Go maps to 0x01.
    /// </summary>
    public static ProxyErrorCode Classify(string? code, string? message)
    {
        if (TryParseWireName(code, out var parsed))
        {
            return parsed;
        }
        return ClassifyMessage(message);
    }

    /// <summary>Maps a Go error string to a code. Order matters: policy texts can quote a host name.</summary>
    public static ProxyErrorCode ClassifyMessage(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return ProxyErrorCode.General;
        }
        ReadOnlySpan<string> policy =
        [
            "not allowed", "blocked by policy", "private address", "not authorized",
        ];
        foreach (var p in policy)
        {
            if (message.Contains(p, StringComparison.OrdinalIgnoreCase))
            {
                return ProxyErrorCode.NotAllowed;
            }
        }
        if (message.Contains("no such host", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.HostUnreachable;
        }
        if (message.Contains("refused", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.ConnectionRefused;
        }
        if (message.Contains("timeout", StringComparison.OrdinalIgnoreCase)
            || message.Contains("timed out", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.Timeout;
        }
        if (message.Contains("network is unreachable", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.NetworkUnreachable;
        }
        if (message.Contains("no route to host", StringComparison.OrdinalIgnoreCase)
            || message.Contains("host is unreachable", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.HostUnreachable;
        }
        if (message.Contains("concurrent stream", StringComparison.OrdinalIgnoreCase))
        {
            return ProxyErrorCode.Limit;
        }
        return ProxyErrorCode.General;
    }
}
