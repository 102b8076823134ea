namespace Bethrou.Proxy.Protocol;

/// <summary>
/// SOCKS5 reply codes (RFC 1928 §6) as plain bytes. The Socks5 area owns the real enum; these constants keep the
/// Protocol area free of that dependency and have the same values.
/// </summary>
internal static class SocksReplyBytes
{
    public const byte Succeeded = 0x00;
    public const byte GeneralFailure = 0x01;
    public const byte NotAllowedByRuleset = 0x02;
    public const byte NetworkUnreachable = 0x03;
    public const byte HostUnreachable = 0x04;
    public const byte ConnectionRefused = 0x05;
    public const byte TtlExpired = 0x06;
}
