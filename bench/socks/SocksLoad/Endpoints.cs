using System.Globalization;
using System.Net;

namespace Bethrou.Bench.Socks;

internal static class Endpoints
{
    /// <summary>Parses `host:port` where host is an IPv4 literal (loopback benchmark).</summary>
    public static IPEndPoint ParseIPv4(string value, string what, bool allowPortZero = false)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0
            || !IPAddress.TryParse(value.AsSpan(0, colon), out var ip)
            || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var port)
            || port < (allowPortZero ? 0 : 1) || port > 65535)
        {
            throw new UsageException($"{what}: `{value}` is not ipv4:port");
        }
        return new IPEndPoint(ip, port);
    }

    /// <summary>Parses `host:port` keeping the host as text (sent as a SOCKS5 IPv4 or domain address).</summary>
    public static (string Host, int Port) ParseHostPort(string value, string what)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var port)
            || port is <= 0 or > 65535)
        {
            throw new UsageException($"{what}: `{value}` is not host:port");
        }
        return (value[..colon], port);
    }
}
