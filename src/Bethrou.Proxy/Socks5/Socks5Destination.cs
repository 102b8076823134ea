using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Proxy.Socks5;

/// <summary>
/// The target of a SOCKS5 request: a domain name (resolved by whoever dials it, never locally by the client side)
/// or an IP address, plus a port.
/// </summary>
public sealed record Socks5Destination
{
    /// <summary>Longest domain name the SOCKS5 wire format can carry (one length byte).</summary>
    public const int MaxDomainLength = 255;

    private Socks5Destination(Socks5AddressType addressType, string? host, IPAddress? address, ushort port)
    {
        AddressType = addressType;
        Host = host;
        Address = address;
        Port = port;
    }

    /// <summary>ATYP: <see cref="Socks5AddressType.DomainName"/> (see <see cref="Host"/>) or IPv4/IPv6 (see <see cref="Address"/>).</summary>
    public Socks5AddressType AddressType { get; }

    /// <summary>The domain name when <see cref="AddressType"/> is <see cref="Socks5AddressType.DomainName"/>, else null.</summary>
    public string? Host { get; }

    /// <summary>The address when <see cref="AddressType"/> is IPv4 or IPv6, else null.</summary>
    public IPAddress? Address { get; }

    public ushort Port { get; }

    /// <summary>A domain-name destination. The name must be 1..255 UTF-8 bytes without NUL.</summary>
    /// <exception cref="ArgumentException">The name is empty, too long or contains NUL.</exception>
    public static Socks5Destination FromDomain(string host, ushort port)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Length == 0)
        {
            throw new ArgumentException("A SOCKS5 domain name must not be empty.", nameof(host));
        }
        if (host.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A SOCKS5 domain name must not contain NUL.", nameof(host));
        }
        var byteCount = Encoding.UTF8.GetByteCount(host);
        if (byteCount > MaxDomainLength)
        {
            throw new ArgumentException(
                $"A SOCKS5 domain name is at most {MaxDomainLength} bytes; this one is {byteCount} bytes.", nameof(host));
        }
        return new Socks5Destination(Socks5AddressType.DomainName, host, null, port);
    }

    /// <summary>An IPv4 or IPv6 destination.</summary>
    /// <exception cref="ArgumentException">The address is neither IPv4 nor IPv6.</exception>
    public static Socks5Destination FromAddress(IPAddress address, ushort port)
    {
        ArgumentNullException.ThrowIfNull(address);
        var type = address.AddressFamily switch
        {
            AddressFamily.InterNetwork => Socks5AddressType.IPv4,
            AddressFamily.InterNetworkV6 => Socks5AddressType.IPv6,
            _ => throw new ArgumentException($"Address family {address.AddressFamily} cannot be a SOCKS5 destination.", nameof(address)),
        };
        return new Socks5Destination(type, null, address, port);
    }

    /// <summary>An IPv4 or IPv6 destination from an endpoint.</summary>
    public static Socks5Destination FromEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return FromAddress(endPoint.Address, (ushort)endPoint.Port);
    }

    /// <summary>The host part as Go prints it: the domain name, dotted IPv4, or RFC 5952 IPv6 (an IPv4-mapped IPv6
    /// address prints as plain IPv4, like Go's <c>net.IP.String</c>).</summary>
    public string HostText => Host ?? FormatAddress(Address!);

    /// <summary>
    /// <c>host:port</c> exactly as Go's <c>net.JoinHostPort</c> (the Bethrou wire format):
    /// <c>1.2.3.4:443</c>, <c>example.com:443</c>, <c>[2001:db8::1]:443</c>. Any host containing ':' is bracketed.
    /// </summary>
    public string ToHostPort()
    {
        var host = HostText;
        var port = Port.ToString(CultureInfo.InvariantCulture);
        return host.Contains(':', StringComparison.Ordinal) ? "[" + host + "]:" + port : host + ":" + port;
    }

    public override string ToString() => ToHostPort();

    /// <summary>Formats an IP address the way Go's <c>net.IP.String</c> does.</summary>
    internal static string FormatAddress(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            throw new ArgumentException("Address is larger than 16 bytes.", nameof(address));
        }
        if (written == 4)
        {
            return FormatIPv4(bytes[..4]);
        }
        if (IsIPv4Mapped(bytes))
        {
            return FormatIPv4(bytes.Slice(12, 4));
        }
        var text = FormatIPv6(bytes);
        return address.ScopeId != 0 ? text + "%" + address.ScopeId.ToString(CultureInfo.InvariantCulture) : text;
    }

    private static bool IsIPv4Mapped(ReadOnlySpan<byte> b16)
        => b16[..10].IndexOfAnyExcept((byte)0) < 0 && b16[10] == 0xFF && b16[11] == 0xFF;

    private static string FormatIPv4(ReadOnlySpan<byte> b)
    {
        Span<char> chars = stackalloc char[15];
        var n = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                chars[n++] = '.';
            }
            b[i].TryFormat(chars[n..], out var w, default, CultureInfo.InvariantCulture);
            n += w;
        }
        return new string(chars[..n]);
    }

    // RFC 5952 §4 (what Go's netip prints): lower-case hex without leading zeros; the longest run of two or more
    // zero groups (the first one on a tie) becomes "::"; no dotted-quad tail.
    private static string FormatIPv6(ReadOnlySpan<byte> b)
    {
        Span<ushort> groups = stackalloc ushort[8];
        for (var i = 0; i < 8; i++)
        {
            groups[i] = (ushort)((b[2 * i] << 8) | b[(2 * i) + 1]);
        }
        int bestStart = -1, bestLength = 0;
        for (var i = 0; i < 8;)
        {
            if (groups[i] != 0)
            {
                i++;
                continue;
            }
            var j = i;
            while (j < 8 && groups[j] == 0)
            {
                j++;
            }
            if (j - i >= 2 && j - i > bestLength)
            {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        Span<char> chars = stackalloc char[39];
        var n = 0;
        for (var i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                chars[n++] = ':';
                chars[n++] = ':';
                i += bestLength - 1;
                continue;
            }
            if (i > 0 && chars[n - 1] != ':')
            {
                chars[n++] = ':';
            }
            groups[i].TryFormat(chars[n..], out var w, "x", CultureInfo.InvariantCulture);
            n += w;
        }
        return new string(chars[..n]);
    }
}
