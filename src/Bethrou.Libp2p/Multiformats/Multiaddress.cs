using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Libp2p.Multiformats;

/// <summary>Kinds of values a multiaddr component carries.</summary>
internal enum MultiaddrValueKind
{
    None,
    Ip4,
    Ip6,
    Port,
    Text,
    PeerId,
    Binary,
}

/// <summary>A protocol a multiaddr component can name.</summary>
public sealed class MultiaddressProtocol
{
    private static readonly Dictionary<string, MultiaddressProtocol> ByName = new(StringComparer.Ordinal);
    private static readonly Dictionary<int, MultiaddressProtocol> ByCode = [];

    public static readonly MultiaddressProtocol Ip4 = Register("ip4", 4, MultiaddrValueKind.Ip4);
    public static readonly MultiaddressProtocol Tcp = Register("tcp", 6, MultiaddrValueKind.Port);
    public static readonly MultiaddressProtocol Udp = Register("udp", 273, MultiaddrValueKind.Port);
    public static readonly MultiaddressProtocol Ip6 = Register("ip6", 41, MultiaddrValueKind.Ip6);
    public static readonly MultiaddressProtocol Ip6Zone = Register("ip6zone", 42, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol Dns = Register("dns", 53, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol Dns4 = Register("dns4", 54, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol Dns6 = Register("dns6", 55, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol DnsAddr = Register("dnsaddr", 56, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol P2p = Register("p2p", 421, MultiaddrValueKind.PeerId);
    public static readonly MultiaddressProtocol P2pCircuit = Register("p2p-circuit", 290, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol Tls = Register("tls", 448, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol Sni = Register("sni", 449, MultiaddrValueKind.Text);
    public static readonly MultiaddressProtocol Quic = Register("quic", 460, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol QuicV1 = Register("quic-v1", 461, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol WebTransport = Register("webtransport", 465, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol CertHash = Register("certhash", 466, MultiaddrValueKind.Binary);
    public static readonly MultiaddressProtocol Ws = Register("ws", 477, MultiaddrValueKind.None);
    public static readonly MultiaddressProtocol Wss = Register("wss", 478, MultiaddrValueKind.None);

    private MultiaddressProtocol(string name, int code, MultiaddrValueKind kind)
    {
        Name = name;
        Code = code;
        Kind = kind;
    }

    public string Name { get; }

    public int Code { get; }

    internal MultiaddrValueKind Kind { get; }

    private static MultiaddressProtocol Register(string name, int code, MultiaddrValueKind kind)
    {
        var p = new MultiaddressProtocol(name, code, kind);
        ByName[name] = p;
        ByCode[code] = p;
        return p;
    }

    internal static bool TryGet(string name, out MultiaddressProtocol protocol)
    {
        if (name == "ipfs")
        {
            protocol = P2p;
            return true;
        }
        return ByName.TryGetValue(name, out protocol!);
    }

    internal static bool TryGet(int code, out MultiaddressProtocol protocol) => ByCode.TryGetValue(code, out protocol!);

    public override string ToString() => Name;
}

/// <summary>One component of a multiaddr: a protocol and its (possibly empty) value.</summary>
public readonly record struct MultiaddressComponent(MultiaddressProtocol Protocol, string? Value, ReadOnlyMemory<byte> RawValue)
{
    public override string ToString() => Value is null ? "/" + Protocol.Name : "/" + Protocol.Name + "/" + Value;
}

/// <summary>A multiaddr, parsed from text or binary; immutable.</summary>
public sealed class Multiaddress : IEquatable<Multiaddress>
{
    private readonly MultiaddressComponent[] _components;
    private byte[]? _bytes;
    private string? _text;

    private Multiaddress(MultiaddressComponent[] components) => _components = components;

    public IReadOnlyList<MultiaddressComponent> Components => _components;

    public static Multiaddress Parse(string text)
    {
        if (!TryParse(text, out var ma, out var error))
        {
            throw new FormatException(error);
        }
        return ma;
    }

    public static bool TryParse(string? text, out Multiaddress result, out string error)
    {
        result = null!;
        if (string.IsNullOrEmpty(text))
        {
            error = "multiaddr is empty";
            return false;
        }
        if (text[0] != '/')
        {
            error = $"multiaddr '{text}' must begin with '/'";
            return false;
        }
        var parts = text.TrimEnd('/').Split('/');
        var list = new List<MultiaddressComponent>();
        var i = 1;
        while (i < parts.Length)
        {
            var name = parts[i++];
            if (!MultiaddressProtocol.TryGet(name, out var proto))
            {
                error = $"multiaddr '{text}': unknown protocol '{name}'";
                return false;
            }
            if (proto.Kind == MultiaddrValueKind.None)
            {
                list.Add(new MultiaddressComponent(proto, null, ReadOnlyMemory<byte>.Empty));
                continue;
            }
            if (i >= parts.Length)
            {
                error = $"multiaddr '{text}': /{name} needs a value";
                return false;
            }
            var value = parts[i++];
            if (!TryEncodeValue(proto, value, out var raw, out var canonical, out var why))
            {
                error = $"multiaddr '{text}': invalid /{name} value '{value}': {why}";
                return false;
            }
            list.Add(new MultiaddressComponent(proto, canonical, raw));
        }
        if (list.Count == 0)
        {
            error = $"multiaddr '{text}' has no components";
            return false;
        }
        result = new Multiaddress([.. list]);
        error = "";
        return true;
    }

    public static Multiaddress FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (!TryFromBytes(bytes, out var ma, out var error))
        {
            throw new FormatException(error);
        }
        return ma;
    }

    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, out Multiaddress result, out string error)
    {
        result = null!;
        var list = new List<MultiaddressComponent>();
        var o = 0;
        if (bytes.IsEmpty)
        {
            error = "binary multiaddr is empty";
            return false;
        }
        while (o < bytes.Length)
        {
            var st = VarInt.TryRead(bytes[o..], out var code, out var n);
            if (st != VarIntStatus.Ok || code > int.MaxValue)
            {
                error = $"binary multiaddr: bad protocol code varint at offset {o}";
                return false;
            }
            o += n;
            if (!MultiaddressProtocol.TryGet((int)code, out var proto))
            {
                error = $"binary multiaddr: unknown protocol code {code}";
                return false;
            }
            int len;
            switch (proto.Kind)
            {
                case MultiaddrValueKind.None:
                    list.Add(new MultiaddressComponent(proto, null, ReadOnlyMemory<byte>.Empty));
                    continue;
                case MultiaddrValueKind.Ip4:
                    len = 4;
                    break;
                case MultiaddrValueKind.Ip6:
                    len = 16;
                    break;
                case MultiaddrValueKind.Port:
                    len = 2;
                    break;
                default:
                    if (VarInt.TryRead(bytes[o..], out var l, out var m) != VarIntStatus.Ok || l > (ulong)(bytes.Length - o - m))
                    {
                        error = $"binary multiaddr: bad or truncated length for /{proto.Name}";
                        return false;
                    }
                    o += m;
                    len = (int)l;
                    break;
            }
            if (bytes.Length - o < len)
            {
                error = $"binary multiaddr: truncated /{proto.Name} value";
                return false;
            }
            var raw = bytes.Slice(o, len).ToArray();
            o += len;
            if (!TryDecodeValue(proto, raw, out var text, out var why))
            {
                error = $"binary multiaddr: invalid /{proto.Name} value: {why}";
                return false;
            }
            list.Add(new MultiaddressComponent(proto, text, raw));
        }
        result = new Multiaddress([.. list]);
        error = "";
        return true;
    }

    private static bool TryEncodeValue(MultiaddressProtocol proto, string value, out byte[] raw, out string canonical, out string why)
    {
        raw = [];
        canonical = value;
        why = "";
        switch (proto.Kind)
        {
            case MultiaddrValueKind.Ip4:
                if (!IPAddress.TryParse(value, out var v4) || v4.AddressFamily != AddressFamily.InterNetwork || value.Count(c => c == '.') != 3)
                {
                    why = "not an IPv4 address";
                    return false;
                }
                raw = v4.GetAddressBytes();
                canonical = v4.ToString();
                return true;
            case MultiaddrValueKind.Ip6:
                if (!IPAddress.TryParse(value, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6 || value.Contains('%'))
                {
                    why = "not an IPv6 address";
                    return false;
                }
                raw = v6.GetAddressBytes();
                canonical = FormatIp6(raw);
                return true;
            case MultiaddrValueKind.Port:
                if (!ushort.TryParse(value, System.Globalization.NumberStyles.None, null, out var port))
                {
                    why = "port must be a number from 0 to 65535";
                    return false;
                }
                raw = [(byte)(port >> 8), (byte)port];
                canonical = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return true;
            case MultiaddrValueKind.Text:
                if (value.Length == 0)
                {
                    why = "empty";
                    return false;
                }
                raw = Encoding.UTF8.GetBytes(value);
                return true;
            case MultiaddrValueKind.PeerId:
                if (!PeerId.TryParse(value, out var id, out why))
                {
                    return false;
                }
                raw = id.Bytes.ToArray();
                canonical = id.ToString();
                return true;
            case MultiaddrValueKind.Binary:
                // certhash: multibase string; we keep the multibase text verbatim (base64url 'u' or base32 'b').
                if (!TryDecodeMultibase(value, out raw))
                {
                    why = "not a supported multibase string";
                    return false;
                }
                return true;
            default:
                why = "unexpected value";
                return false;
        }
    }

    private static bool TryDecodeValue(MultiaddressProtocol proto, byte[] raw, out string text, out string why)
    {
        why = "";
        text = "";
        switch (proto.Kind)
        {
            case MultiaddrValueKind.Ip4:
                text = new IPAddress(raw).ToString();
                return true;
            case MultiaddrValueKind.Ip6:
                text = FormatIp6(raw);
                return true;
            case MultiaddrValueKind.Port:
                text = ((raw[0] << 8) | raw[1]).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return true;
            case MultiaddrValueKind.Text:
                if (raw.Length == 0)
                {
                    why = "empty";
                    return false;
                }
                try
                {
                    text = new UTF8Encoding(false, true).GetString(raw);
                }
                catch (DecoderFallbackException)
                {
                    why = "not UTF-8";
                    return false;
                }
                if (text.Contains('/'))
                {
                    why = "contains '/'";
                    return false;
                }
                return true;
            case MultiaddrValueKind.PeerId:
                if (!PeerId.TryFromBytes(raw, out var id, out why))
                {
                    return false;
                }
                text = id.ToString();
                return true;
            case MultiaddrValueKind.Binary:
                text = "u" + Convert.ToBase64String(raw).TrimEnd('=').Replace('+', '-').Replace('/', '_');
                return true;
            default:
                return false;
        }
    }

    private static bool TryDecodeMultibase(string value, out byte[] raw)
    {
        raw = [];
        if (value.Length < 2)
        {
            return false;
        }
        var body = value[1..];
        switch (value[0])
        {
            case 'u':
                var b64 = body.Replace('-', '+').Replace('_', '/');
                b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
                try
                {
                    raw = Convert.FromBase64String(b64);
                    return true;
                }
                catch (FormatException)
                {
                    return false;
                }
            case 'b':
                return Base32.TryDecode(body, out raw);
            case 'z':
                return Base58.TryDecode(body, out raw);
            default:
                return false;
        }
    }

    /// <summary>RFC 5952 text, with v4-mapped addresses printed as ::ffff:a.b.c.d (like go).</summary>
    private static string FormatIp6(byte[] raw)
    {
        var ip = new IPAddress(raw);
        return ip.IsIPv4MappedToIPv6 ? "::ffff:" + ip.MapToIPv4() : ip.ToString();
    }

    public byte[] ToBytes()
    {
        if (_bytes is not null)
        {
            return _bytes;
        }
        var ms = new List<byte>();
        Span<byte> tmp = stackalloc byte[VarInt.MaxLength];
        foreach (var c in _components)
        {
            var n = VarInt.Write(tmp, (ulong)c.Protocol.Code);
            foreach (var b in tmp[..n])
            {
                ms.Add(b);
            }
            if (c.Protocol.Kind is MultiaddrValueKind.Text or MultiaddrValueKind.PeerId or MultiaddrValueKind.Binary)
            {
                n = VarInt.Write(tmp, (ulong)c.RawValue.Length);
                foreach (var b in tmp[..n])
                {
                    ms.Add(b);
                }
            }
            ms.AddRange(c.RawValue.Span);
        }
        return _bytes = [.. ms];
    }

    public override string ToString() => _text ??= string.Concat(_components.Select(c => c.ToString()));

    /// <summary>The peer id of the last /p2p component, if any.</summary>
    public PeerId? PeerId
    {
        get
        {
            for (var i = _components.Length - 1; i >= 0; i--)
            {
                if (_components[i].Protocol == MultiaddressProtocol.P2p)
                {
                    return Multiformats.PeerId.FromBytes(_components[i].RawValue.Span);
                }
            }
            return null;
        }
    }

    public bool Contains(MultiaddressProtocol protocol) => _components.Any(c => c.Protocol == protocol);

    public bool IsRelayed => Contains(MultiaddressProtocol.P2pCircuit);

    /// <summary>Concatenates two multiaddrs.</summary>
    public Multiaddress Encapsulate(Multiaddress other) => new([.. _components, .. other._components]);

    public Multiaddress Encapsulate(string other) => Encapsulate(Parse(other));

    /// <summary>Adds /p2p/&lt;id&gt; unless the address already ends with it.</summary>
    public Multiaddress WithPeerId(PeerId id)
    {
        if (_components.Length > 0 && _components[^1].Protocol == MultiaddressProtocol.P2p)
        {
            return this;
        }
        return new([.. _components, new MultiaddressComponent(MultiaddressProtocol.P2p, id.ToString(), id.Bytes.ToArray())]);
    }

    /// <summary>Removes a trailing /p2p/&lt;id&gt; component, if present.</summary>
    public Multiaddress WithoutPeerId() =>
        _components.Length > 1 && _components[^1].Protocol == MultiaddressProtocol.P2p ? new(_components[..^1]) : this;

    /// <summary>The prefix before the first /p2p-circuit, or null if not relayed.</summary>
    public (Multiaddress Relay, PeerId? Target)? SplitCircuit()
    {
        var idx = Array.FindIndex(_components, c => c.Protocol == MultiaddressProtocol.P2pCircuit);
        if (idx <= 0)
        {
            return null;
        }
        var relay = new Multiaddress(_components[..idx]);
        var rest = _components[(idx + 1)..];
        PeerId? target = rest.Length > 0 && rest[^1].Protocol == MultiaddressProtocol.P2p
            ? Multiformats.PeerId.FromBytes(rest[^1].RawValue.Span) : null;
        return (relay, target);
    }

    /// <summary>For /ip4|ip6|dns*/…/tcp/port addresses: host and port; null otherwise.</summary>
    public (string Host, int Port, MultiaddressProtocol HostProtocol)? GetTcpEndpoint()
    {
        if (_components.Length < 2 || _components[1].Protocol != MultiaddressProtocol.Tcp)
        {
            return null;
        }
        var h = _components[0];
        if (h.Protocol != MultiaddressProtocol.Ip4 && h.Protocol != MultiaddressProtocol.Ip6 &&
            h.Protocol != MultiaddressProtocol.Dns && h.Protocol != MultiaddressProtocol.Dns4 && h.Protocol != MultiaddressProtocol.Dns6)
        {
            return null;
        }
        return (h.Value!, int.Parse(_components[1].Value!, System.Globalization.CultureInfo.InvariantCulture), h.Protocol);
    }

    public static Multiaddress FromTcpEndPoint(IPEndPoint ep)
    {
        var addr = ep.Address.IsIPv4MappedToIPv6 ? ep.Address.MapToIPv4() : ep.Address;
        var ipPart = addr.AddressFamily == AddressFamily.InterNetwork ? "/ip4/" + addr : "/ip6/" + addr;
        return Parse(ipPart + "/tcp/" + ep.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public bool Equals(Multiaddress? other) => other is not null && other.ToBytes().AsSpan().SequenceEqual(ToBytes());

    public override bool Equals(object? obj) => obj is Multiaddress m && Equals(m);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(ToBytes());
        return h.ToHashCode();
    }
}
