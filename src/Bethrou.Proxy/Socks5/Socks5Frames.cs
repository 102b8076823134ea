using System.Security.Cryptography;

namespace Bethrou.Proxy.Socks5;

/// <summary>Outcome of one SOCKS5 parse step.</summary>
public enum Socks5ParseStatus
{
    /// <summary>A whole message was parsed and consumed from the buffer.</summary>
    Ok,

    /// <summary>The buffer ends inside the message; nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>VER is not 5 (greeting, request, reply).</summary>
    BadVersion,

    /// <summary>A greeting with NMETHODS = 0.</summary>
    NoMethods,

    /// <summary>An RFC 1929 request whose VER is not 1.</summary>
    BadAuthVersion,

    /// <summary>An RFC 1929 request with ULEN = 0.</summary>
    EmptyUsername,

    /// <summary>An RFC 1929 request with PLEN = 0.</summary>
    EmptyPassword,

    /// <summary>RSV is not 0.</summary>
    BadReservedByte,

    /// <summary>ATYP is not 1, 3 or 4.</summary>
    UnknownAddressType,

    /// <summary>A domain-name address with length 0.</summary>
    EmptyDomain,

    /// <summary>A domain name containing a NUL byte.</summary>
    DomainContainsNul,

    /// <summary>A domain name that is not valid UTF-8.</summary>
    DomainNotUtf8,
}

/// <summary>
/// Result of a SOCKS5 parse: a status plus, for errors, a precise message naming the offending value.
/// Messages are only built on error paths.
/// </summary>
public readonly record struct Socks5ParseResult(Socks5ParseStatus Status, string? Message)
{
    public static Socks5ParseResult Ok => new(Socks5ParseStatus.Ok, null);

    public static Socks5ParseResult NeedMoreData => new(Socks5ParseStatus.NeedMoreData, null);

    public bool IsOk => Status == Socks5ParseStatus.Ok;

    public bool IsError => Status is not (Socks5ParseStatus.Ok or Socks5ParseStatus.NeedMoreData);

    public override string ToString() => Message is null ? Status.ToString() : Status + ": " + Message;
}

/// <summary>A method-selection request (RFC 1928 §3): the set of methods the client offers.</summary>
public readonly struct Socks5Greeting
{
    private readonly ulong _m0, _m1, _m2, _m3;

    internal Socks5Greeting(ReadOnlySpan<byte> methods)
    {
        MethodCount = methods.Length;
        foreach (var m in methods)
        {
            var bit = 1UL << (m & 63);
            switch (m >> 6)
            {
                case 0: _m0 |= bit; break;
                case 1: _m1 |= bit; break;
                case 2: _m2 |= bit; break;
                default: _m3 |= bit; break;
            }
        }
    }

    /// <summary>NMETHODS as sent (duplicates included).</summary>
    public int MethodCount { get; }

    public bool Offers(byte method)
    {
        var word = (method >> 6) switch { 0 => _m0, 1 => _m1, 2 => _m2, _ => _m3 };
        return (word & (1UL << (method & 63))) != 0;
    }
}

/// <summary>An RFC 1929 username/password request. The arrays are copies owned by this value.</summary>
public sealed class Socks5AuthRequest
{
    internal Socks5AuthRequest(byte[] username, byte[] password)
    {
        Username = username;
        Password = password;
    }

    public byte[] Username { get; }

    public byte[] Password { get; }

    /// <summary>Overwrites the password bytes with zeros.</summary>
    public void Clear() => CryptographicOperations.ZeroMemory(Password);

    public override string ToString() => "Socks5AuthRequest(username: " + Username.Length + " bytes, password: redacted)";
}

/// <summary>A SOCKS5 request (RFC 1928 §4). <see cref="Command"/> is passed through as sent, even if unknown.</summary>
public sealed record Socks5Request(Socks5Command Command, Socks5Destination Destination);

/// <summary>A SOCKS5 reply (RFC 1928 §6), as read by a client.</summary>
public sealed record Socks5Reply(Socks5ReplyCode Code, Socks5Destination Bound);
