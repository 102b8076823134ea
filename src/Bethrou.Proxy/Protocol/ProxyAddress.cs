using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Bethrou.Proxy.Protocol;

/// <summary>
/// The <c>"address"</c> field: <c>host:port</c> as Go's <c>net.JoinHostPort</c> writes it (IPv6 literals in
/// brackets). Ports are numeric 1-65535; host names are at most 255 bytes (the SOCKS5 limit).
/// </summary>
internal static class ProxyAddress
{
    public const int MaxHostLength = 255;

    /// <summary>Formats a destination: <c>1.2.3.4:443</c>, <c>example.com:443</c>, <c>[2001:db8::1]:443</c>.</summary>
    public static string Format(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"[{host}]:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"{host}:{port}");

    public static string Format(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? string.Create(CultureInfo.InvariantCulture, $"[{address}]:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"{address}:{port}");

    /// <summary>Splits <c>host:port</c> with Go's <c>SplitHostPort</c> rules plus a numeric, non-zero port.</summary>
    public static bool TryParse(string? address, out string host, out int port, out string error)
    {
        host = "";
        port = 0;
        if (string.IsNullOrEmpty(address))
        {
            error = "destination address is empty";
            return false;
        }
        ReadOnlySpan<char> hostPart;
        ReadOnlySpan<char> portPart;
        if (address[0] == '[')
        {
            var close = address.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"destination address '{address}' is missing ']'";
                return false;
            }
            if (close + 1 >= address.Length || address[close + 1] != ':')
            {
                error = $"destination address '{address}' is missing a port";
                return false;
            }
            hostPart = address.AsSpan(1, close - 1);
            portPart = address.AsSpan(close + 2);
        }
        else
        {
            var colon = address.LastIndexOf(':');
            if (colon < 0)
            {
                error = $"destination address '{address}' is missing a port";
                return false;
            }
            hostPart = address.AsSpan(0, colon);
            portPart = address.AsSpan(colon + 1);
            if (hostPart.Contains(':'))
            {
                error = $"destination address '{address}' has too many colons (IPv6 literals need brackets)";
                return false;
            }
        }
        if (hostPart.IsEmpty)
        {
            error = $"destination address '{address}' has an empty host";
            return false;
        }
        if (hostPart.Length > MaxHostLength)
        {
            error = $"destination host is longer than {MaxHostLength} characters";
            return false;
        }
        if (portPart.IsEmpty || portPart.Length > 5 || !IsDigits(portPart)
            || !int.TryParse(portPart, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"destination address '{address}' has an invalid port (must be 1-65535)";
            port = 0;
            return false;
        }
        host = hostPart.ToString();
        error = "";
        return true;
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }
        return true;
    }
}
