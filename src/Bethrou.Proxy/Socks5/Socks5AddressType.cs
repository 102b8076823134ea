namespace Bethrou.Proxy.Socks5;

/// <summary>The ATYP field of a SOCKS5 request or reply (RFC 1928 §4, §5).</summary>
public enum Socks5AddressType : byte
{
    /// <summary>X'01' a 4-byte IPv4 address.</summary>
    IPv4 = 0x01,

    /// <summary>X'03' a length-prefixed domain name (1..255 bytes).</summary>
    DomainName = 0x03,

    /// <summary>X'04' a 16-byte IPv6 address.</summary>
    IPv6 = 0x04,
}

/// <summary>The CMD field of a SOCKS5 request (RFC 1928 §4). Other values are carried through as-is.</summary>
public enum Socks5Command : byte
{
    Connect = 0x01,
    Bind = 0x02,
    UdpAssociate = 0x03,
}

/// <summary>Authentication method identifiers (RFC 1928 §3).</summary>
public static class Socks5AuthMethod
{
    public const byte NoAuthentication = 0x00;
    public const byte GssApi = 0x01;
    public const byte UsernamePassword = 0x02;
    public const byte NoAcceptableMethods = 0xFF;
}
