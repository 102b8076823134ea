using System.Globalization;
using System.Net;

namespace Bethrou.Proxy.Config;

/// <summary>A SOCKS listen address: <c>host:port</c>, IPv6 in brackets (<c>[::1]:1080</c>), port 0-65535 (0 = any).</summary>
internal readonly record struct ListenAddress(string Host, int Port)
{
    public static bool TryParse(string? text, out ListenAddress address, out string error)
    {
        address = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "listen address is empty";
            return false;
        }
        string host;
        string port;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not [ipv6]:port";
                return false;
            }
            host = text[1..close];
            port = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = $"'{host}' in '{text}' is not an IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon < 0)
            {
                error = $"'{text}' has no port (use host:port, e.g. 127.0.0.1:1080)";
                return false;
            }
            host = text[..colon];
            port = text[(colon + 1)..];
            if (host.Contains(':', StringComparison.Ordinal))
            {
                error = $"'{text}' has an IPv6 address without brackets (use e.g. [::1]:1080)";
                return false;
            }
            if (host.Length == 0)
            {
                error = $"'{text}' has no host (use 0.0.0.0:{port} for every interface or 127.0.0.1:{port} for this machine)";
                return false;
            }
        }
        if (port.Length is 0 or > 5 || !port.All(char.IsAsciiDigit)
            || !int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p > 65535)
        {
            error = $"'{text}' has an invalid port (must be 0-65535)";
            return false;
        }
        address = new ListenAddress(host, p);
        error = "";
        return true;
    }

    /// <summary>True for 127.0.0.0/8, ::1 and "localhost": reachable from this machine only.</summary>
    public bool IsLoopback =>
        string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(Host, out var ip) && IPAddress.IsLoopback(ip));

    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"[{Host}]:{Port}")
            : string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}");
}
