using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Discovery;

/// <summary>Chooses the addresses a node publishes (Go published every interface address, loopback and Docker ones included).</summary>
public static class AddressFilter
{
    /// <summary>
    /// The announce addresses when there are any (the operator knows best: used as given, minus a trailing
    /// <c>/p2p</c>); otherwise the listen addresses with wildcards expanded to the interface addresses, without loopback,
    /// private (RFC 1918, fc00::/7), carrier-grade NAT (100.64/10), link-local and unspecified ones unless
    /// <paramref name="includePrivate"/>. Order is kept; duplicates are removed.
    /// </summary>
    public static IReadOnlyList<Multiaddress> ForAnnouncement(
        IEnumerable<Multiaddress> listen, IEnumerable<Multiaddress>? announce, bool includePrivate)
    {
        var result = new List<Multiaddress>();
        var seen = new HashSet<Multiaddress>();
        if (announce is not null)
        {
            foreach (var a in announce)
            {
                var bare = a.WithoutPeerId();
                if (seen.Add(bare))
                {
                    result.Add(bare);
                }
            }
            if (result.Count > 0)
            {
                return result;
            }
        }
        foreach (var l in listen)
        {
            var bareListen = l.WithoutPeerId();
            // Only IP wildcards expand (AddressExpansion parses the host as an IP).
            var expanded = FirstIp(bareListen) is null ? [bareListen] : AddressExpansion.Expand(bareListen);
            foreach (var a in expanded)
            {
                if ((includePrivate ? !IsUnspecified(a) : IsPublic(a)) && seen.Add(a))
                {
                    result.Add(a);
                }
            }
        }
        return result;
    }

    /// <summary>True unless the address's IP (for relayed addresses: the relay's) is loopback, private, CGNAT,
    /// link-local or unspecified. DNS names count as public.</summary>
    public static bool IsPublic(Multiaddress address)
    {
        var ip = FirstIp(address);
        return ip is null || Classify(ip) == IpScope.Public;
    }

    private static bool IsUnspecified(Multiaddress address)
    {
        var ip = FirstIp(address);
        return ip is not null && Classify(ip) == IpScope.Unspecified;
    }

    private static IPAddress? FirstIp(Multiaddress address)
    {
        if (address.Components.Count == 0)
        {
            return null;
        }
        var c = address.Components[0];
        if ((c.Protocol == MultiaddressProtocol.Ip4 || c.Protocol == MultiaddressProtocol.Ip6) &&
            IPAddress.TryParse(c.Value, out var ip))
        {
            return ip;
        }
        return null;
    }

    internal enum IpScope
    {
        Public,
        Unspecified,
        Loopback,
        Private,
        LinkLocal,
    }

    internal static IpScope Classify(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            ip.TryWriteBytes(b, out _);
            return b[0] switch
            {
                0 => IpScope.Unspecified,
                127 => IpScope.Loopback,
                10 => IpScope.Private,
                172 when (b[1] & 0xF0) == 16 => IpScope.Private,
                192 when b[1] == 168 => IpScope.Private,
                100 when (b[1] & 0xC0) == 64 => IpScope.Private,
                169 when b[1] == 254 => IpScope.LinkLocal,
                _ => IpScope.Public,
            };
        }
        if (ip.Equals(IPAddress.IPv6Any))
        {
            return IpScope.Unspecified;
        }
        if (ip.Equals(IPAddress.IPv6Loopback))
        {
            return IpScope.Loopback;
        }
        if (ip.IsIPv6LinkLocal)
        {
            return IpScope.LinkLocal;
        }
        Span<byte> v6 = stackalloc byte[16];
        ip.TryWriteBytes(v6, out _);
        if ((v6[0] & 0xFE) == 0xFC || ip.IsIPv6SiteLocal)
        {
            return IpScope.Private;
        }
        return IpScope.Public;
    }
}
