using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Bethrou.Proxy.Exit;

/// <summary>What kind of address a destination resolved to; everything but <see cref="Public"/> is refused by default.</summary>
internal enum AddressClass
{
    Public = 0,

    /// <summary>0.0.0.0/8 "this network" (RFC 1122; Linux connects 0.0.0.0 to itself).</summary>
    ThisNetwork,

    /// <summary>127.0.0.0/8, ::1.</summary>
    Loopback,

    /// <summary>10/8, 172.16/12, 192.168/16 (RFC 1918).</summary>
    Private,

    /// <summary>100.64.0.0/10 carrier-grade NAT shared space (RFC 6598).</summary>
    SharedAddressSpace,

    /// <summary>169.254/16 (incl. the cloud metadata address 169.254.169.254), fe80::/10.</summary>
    LinkLocal,

    /// <summary>198.18.0.0/15 benchmarking (RFC 2544).</summary>
    Benchmarking,

    /// <summary>224.0.0.0/4, ff00::/8.</summary>
    Multicast,

    /// <summary>240.0.0.0/4 reserved (RFC 1112), except the broadcast address.</summary>
    Reserved,

    /// <summary>255.255.255.255.</summary>
    Broadcast,

    /// <summary>::/128.</summary>
    Unspecified,

    /// <summary>fc00::/7 unique local (RFC 4193).</summary>
    UniqueLocal,

    /// <summary>fec0::/10, deprecated site-local (RFC 3879), still routed inside some sites.</summary>
    SiteLocal,

    /// <summary>::/96 other than :: and ::1: deprecated IPv4-compatible IPv6 (RFC 4291 §2.5.5.1).</summary>
    Ipv4Compatible,
}

/// <summary>
/// Sorts an address into an <see cref="AddressClass"/>. IPv6 forms that carry an IPv4 address a host or a
/// translator may deliver to are judged on that IPv4 address: IPv4-mapped <c>::ffff:0:0/96</c>, NAT64
/// <c>64:ff9b::/96</c> (RFC 6052) and 6to4 <c>2002::/16</c> (RFC 3056).
/// Not special-cased (judged public): documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24,
/// 2001:db8::/32), 192.0.0/24, Teredo 2001::/32, local-use NAT64 64:ff9b:1::/48 and discard-only 100::/64.
/// </summary>
internal static class AddressClassifier
{
    public static AddressClass Classify(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> v4 = stackalloc byte[4];
            address.TryWriteBytes(v4, out _);
            return ClassifyV4(BinaryPrimitives.ReadUInt32BigEndian(v4));
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return AddressClass.Reserved;
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        var hi = BinaryPrimitives.ReadUInt64BigEndian(b);
        var lo = BinaryPrimitives.ReadUInt64BigEndian(b[8..]);
        var embedded = BinaryPrimitives.ReadUInt32BigEndian(b[12..]);

        if (hi == 0)
        {
            if (lo == 0)
            {
                return AddressClass.Unspecified;
            }
            if (lo == 1)
            {
                return AddressClass.Loopback;
            }
            if (lo >> 32 == 0xFFFF)
            {
                return ClassifyV4(embedded); // ::ffff:a.b.c.d
            }
            if (lo >> 32 == 0)
            {
                return AddressClass.Ipv4Compatible; // ::a.b.c.d
            }
        }
        if (hi == 0x0064_FF9B_0000_0000UL && lo >> 32 == 0)
        {
            return ClassifyV4(embedded); // 64:ff9b::a.b.c.d
        }
        var first16 = (ushort)(hi >> 48);
        if (first16 == 0x2002)
        {
            return ClassifyV4((uint)(hi >> 16)); // 2002:aabb:ccdd::/48
        }
        if ((first16 & 0xFF00) == 0xFF00)
        {
            return AddressClass.Multicast;
        }
        if ((first16 & 0xFE00) == 0xFC00)
        {
            return AddressClass.UniqueLocal;
        }
        if ((first16 & 0xFFC0) == 0xFE80)
        {
            return AddressClass.LinkLocal;
        }
        if ((first16 & 0xFFC0) == 0xFEC0)
        {
            return AddressClass.SiteLocal;
        }
        return AddressClass.Public;
    }

    public static AddressClass ClassifyV4(uint a)
    {
        if (a == 0xFFFF_FFFF)
        {
            return AddressClass.Broadcast;
        }
        return (a >> 24) switch
        {
            0 => AddressClass.ThisNetwork,
            10 => AddressClass.Private,
            127 => AddressClass.Loopback,
            >= 224 and <= 239 => AddressClass.Multicast,
            >= 240 => AddressClass.Reserved,
            _ => ClassifyV4Narrow(a),
        };
    }

    private static AddressClass ClassifyV4Narrow(uint a)
    {
        if ((a & 0xFFC0_0000) == 0x6440_0000)
        {
            return AddressClass.SharedAddressSpace; // 100.64.0.0/10
        }
        if ((a & 0xFFFF_0000) == 0xA9FE_0000)
        {
            return AddressClass.LinkLocal; // 169.254.0.0/16
        }
        if ((a & 0xFFF0_0000) == 0xAC10_0000)
        {
            return AddressClass.Private; // 172.16.0.0/12
        }
        if ((a & 0xFFFF_0000) == 0xC0A8_0000)
        {
            return AddressClass.Private; // 192.168.0.0/16
        }
        if ((a & 0xFFFE_0000) == 0xC612_0000)
        {
            return AddressClass.Benchmarking; // 198.18.0.0/15
        }
        return AddressClass.Public;
    }

    /// <summary>Human text for error messages: "a loopback address", "a private (RFC 1918) address", …</summary>
    public static string Describe(AddressClass c) => c switch
    {
        AddressClass.ThisNetwork => "a 'this network' (0.0.0.0/8) address",
        AddressClass.Loopback => "a loopback address",
        AddressClass.Private => "a private (RFC 1918) address",
        AddressClass.SharedAddressSpace => "a carrier-grade NAT (100.64.0.0/10) address",
        AddressClass.LinkLocal => "a link-local address",
        AddressClass.Benchmarking => "a benchmarking (198.18.0.0/15) address",
        AddressClass.Multicast => "a multicast address",
        AddressClass.Reserved => "a reserved (240.0.0.0/4) address",
        AddressClass.Broadcast => "the broadcast address",
        AddressClass.Unspecified => "the unspecified address",
        AddressClass.UniqueLocal => "a unique-local (fc00::/7) address",
        AddressClass.SiteLocal => "a site-local (fec0::/10) address",
        AddressClass.Ipv4Compatible => "an IPv4-compatible IPv6 address",
        _ => "a public address",
    };
}
