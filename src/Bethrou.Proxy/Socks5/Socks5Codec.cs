using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace Bethrou.Proxy.Socks5;

/// <summary>
/// Synchronous, bounded SOCKS5 (RFC 1928) and username/password (RFC 1929) frame codec.
/// Every <c>TryRead…</c> consumes exactly one message from <paramref name="buffer"/> on
/// <see cref="Socks5ParseStatus.Ok"/> (bytes after it are left in place) and consumes nothing otherwise. Fields are
/// validated as soon as they arrive, so a bad byte is reported even before the message is complete.
/// </summary>
public static class Socks5Codec
{
    public const byte Version = 0x05;
    public const byte AuthVersion = 0x01;

    /// <summary>VER + NMETHODS + 255 methods.</summary>
    public const int MaxGreetingLength = 2 + 255;

    /// <summary>VER + ULEN + 255 + PLEN + 255.</summary>
    public const int MaxAuthRequestLength = 1 + 1 + 255 + 1 + 255;

    /// <summary>VER CMD RSV ATYP + (LEN + 255-byte domain) + PORT.</summary>
    public const int MaxRequestLength = 4 + 1 + 255 + 2;

    /// <summary>Same layout as a request.</summary>
    public const int MaxReplyLength = MaxRequestLength;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // ---------------------------------------------------------------- server side: read

    /// <summary>Reads a method-selection message: VER=5, NMETHODS ≥ 1, METHODS.</summary>
    public static Socks5ParseResult TryReadGreeting(ref ReadOnlySequence<byte> buffer, out Socks5Greeting greeting)
    {
        greeting = default;
        Span<byte> scratch = stackalloc byte[MaxGreetingLength];
        var span = Peek(buffer, scratch);
        if (span.Length < 1)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        if (span[0] != Version)
        {
            return BadVersion(span[0], "greeting");
        }
        if (span.Length < 2)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        int count = span[1];
        if (count == 0)
        {
            return Error(Socks5ParseStatus.NoMethods, "SOCKS5 greeting offers no authentication methods (NMETHODS = 0)");
        }
        if (span.Length < 2 + count)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        greeting = new Socks5Greeting(span.Slice(2, count));
        buffer = buffer.Slice(2 + count);
        return Socks5ParseResult.Ok;
    }

    /// <summary>Reads an RFC 1929 request: VER=1, ULEN 1..255, UNAME, PLEN 1..255, PASSWD.</summary>
    public static Socks5ParseResult TryReadAuthRequest(ref ReadOnlySequence<byte> buffer, out Socks5AuthRequest? request)
    {
        request = null;
        Span<byte> scratch = stackalloc byte[MaxAuthRequestLength];
        var span = Peek(buffer, scratch);
        try
        {
            if (span.Length < 1)
            {
                return Socks5ParseResult.NeedMoreData;
            }
            if (span[0] != AuthVersion)
            {
                return Error(Socks5ParseStatus.BadAuthVersion, string.Create(CultureInfo.InvariantCulture,
                    $"unsupported username/password sub-negotiation version {span[0]} (expected 1)"));
            }
            if (span.Length < 2)
            {
                return Socks5ParseResult.NeedMoreData;
            }
            int ulen = span[1];
            if (ulen == 0)
            {
                return Error(Socks5ParseStatus.EmptyUsername, "username/password request has an empty username (ULEN = 0)");
            }
            if (span.Length < 2 + ulen + 1)
            {
                return Socks5ParseResult.NeedMoreData;
            }
            int plen = span[2 + ulen];
            if (plen == 0)
            {
                return Error(Socks5ParseStatus.EmptyPassword, "username/password request has an empty password (PLEN = 0)");
            }
            var total = 3 + ulen + plen;
            if (span.Length < total)
            {
                return Socks5ParseResult.NeedMoreData;
            }
            request = new Socks5AuthRequest(span.Slice(2, ulen).ToArray(), span.Slice(3 + ulen, plen).ToArray());
            buffer = buffer.Slice(total);
            return Socks5ParseResult.Ok;
        }
        finally
        {
            // The scratch copy may hold a password.
            scratch.Clear();
        }
    }

    /// <summary>Reads a request: VER=5, CMD (any value), RSV=0, ATYP 1/3/4, DST.ADDR, DST.PORT.</summary>
    public static Socks5ParseResult TryReadRequest(ref ReadOnlySequence<byte> buffer, out Socks5Request? request)
    {
        request = null;
        var result = TryReadAddressed(ref buffer, "request", out var first, out var destination);
        if (result.IsOk)
        {
            request = new Socks5Request((Socks5Command)first, destination!);
        }
        return result;
    }

    // ---------------------------------------------------------------- server side: write

    /// <summary>Writes the method-selection reply: VER=5, METHOD.</summary>
    public static void WriteMethodSelection(IBufferWriter<byte> writer, byte method)
    {
        var span = writer.GetSpan(2);
        span[0] = Version;
        span[1] = method;
        writer.Advance(2);
    }

    /// <summary>Writes the RFC 1929 status: VER=1, STATUS (0 = success, 1 = failure).</summary>
    public static void WriteAuthStatus(IBufferWriter<byte> writer, bool success)
    {
        var span = writer.GetSpan(2);
        span[0] = AuthVersion;
        span[1] = success ? (byte)0x00 : (byte)0x01;
        writer.Advance(2);
    }

    /// <summary>Writes a reply: VER=5, REP, RSV=0, BND.ADDR, BND.PORT. A null <paramref name="bound"/> is 0.0.0.0:0.</summary>
    public static void WriteReply(IBufferWriter<byte> writer, Socks5ReplyCode code, Socks5Destination? bound)
        => WriteAddressed(writer, (byte)code, bound);

    // ---------------------------------------------------------------- client side (tests, tools)

    /// <summary>Writes a greeting offering <paramref name="methods"/> (1..255 of them).</summary>
    public static void WriteGreeting(IBufferWriter<byte> writer, ReadOnlySpan<byte> methods)
    {
        if (methods.Length is 0 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(methods), methods.Length, "A SOCKS5 greeting carries 1..255 methods.");
        }
        var span = writer.GetSpan(2 + methods.Length);
        span[0] = Version;
        span[1] = (byte)methods.Length;
        methods.CopyTo(span[2..]);
        writer.Advance(2 + methods.Length);
    }

    /// <summary>Reads the method-selection reply (VER=5, METHOD).</summary>
    public static Socks5ParseResult TryReadMethodSelection(ref ReadOnlySequence<byte> buffer, out byte method)
    {
        method = 0;
        Span<byte> scratch = stackalloc byte[2];
        var span = Peek(buffer, scratch);
        if (span.Length < 1)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        if (span[0] != Version)
        {
            return BadVersion(span[0], "method selection");
        }
        if (span.Length < 2)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        method = span[1];
        buffer = buffer.Slice(2);
        return Socks5ParseResult.Ok;
    }

    /// <summary>Writes an RFC 1929 request. Username and password are 1..255 bytes each.</summary>
    public static void WriteAuthRequest(IBufferWriter<byte> writer, ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        if (username.Length is 0 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(username), username.Length, "An RFC 1929 username is 1..255 bytes.");
        }
        if (password.Length is 0 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(password), password.Length, "An RFC 1929 password is 1..255 bytes.");
        }
        var total = 3 + username.Length + password.Length;
        var span = writer.GetSpan(total);
        span[0] = AuthVersion;
        span[1] = (byte)username.Length;
        username.CopyTo(span[2..]);
        span[2 + username.Length] = (byte)password.Length;
        password.CopyTo(span[(3 + username.Length)..]);
        writer.Advance(total);
    }

    /// <summary>Reads the RFC 1929 status reply (VER=1, STATUS).</summary>
    public static Socks5ParseResult TryReadAuthStatus(ref ReadOnlySequence<byte> buffer, out bool success)
    {
        success = false;
        Span<byte> scratch = stackalloc byte[2];
        var span = Peek(buffer, scratch);
        if (span.Length < 1)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        if (span[0] != AuthVersion)
        {
            return Error(Socks5ParseStatus.BadAuthVersion, string.Create(CultureInfo.InvariantCulture,
                $"unsupported username/password status version {span[0]} (expected 1)"));
        }
        if (span.Length < 2)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        success = span[1] == 0;
        buffer = buffer.Slice(2);
        return Socks5ParseResult.Ok;
    }

    /// <summary>Writes a request.</summary>
    public static void WriteRequest(IBufferWriter<byte> writer, Socks5Command command, Socks5Destination destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        WriteAddressed(writer, (byte)command, destination);
    }

    /// <summary>Reads a reply (same layout as a request; REP is passed through as sent).</summary>
    public static Socks5ParseResult TryReadReply(ref ReadOnlySequence<byte> buffer, out Socks5Reply? reply)
    {
        reply = null;
        var result = TryReadAddressed(ref buffer, "reply", out var first, out var bound);
        if (result.IsOk)
        {
            reply = new Socks5Reply((Socks5ReplyCode)first, bound!);
        }
        return result;
    }

    // ---------------------------------------------------------------- shared

    // VER, <first> (CMD or REP), RSV, ATYP, ADDR, PORT
    private static Socks5ParseResult TryReadAddressed(
        ref ReadOnlySequence<byte> buffer, string what, out byte first, out Socks5Destination? destination)
    {
        first = 0;
        destination = null;
        Span<byte> scratch = stackalloc byte[MaxRequestLength];
        var span = Peek(buffer, scratch);
        if (span.Length < 1)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        if (span[0] != Version)
        {
            return BadVersion(span[0], what);
        }
        if (span.Length < 3)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        if (span[2] != 0)
        {
            return Error(Socks5ParseStatus.BadReservedByte, string.Create(CultureInfo.InvariantCulture,
                $"SOCKS5 {what} has reserved byte 0x{span[2]:X2} (must be 0x00)"));
        }
        if (span.Length < 4)
        {
            return Socks5ParseResult.NeedMoreData;
        }
        var atyp = span[3];
        int total;
        switch ((Socks5AddressType)atyp)
        {
            case Socks5AddressType.IPv4:
                total = 4 + 4 + 2;
                if (span.Length < total)
                {
                    return Socks5ParseResult.NeedMoreData;
                }
                destination = Socks5Destination.FromAddress(new IPAddress(span.Slice(4, 4)), ReadPort(span, 8));
                break;
            case Socks5AddressType.IPv6:
                total = 4 + 16 + 2;
                if (span.Length < total)
                {
                    return Socks5ParseResult.NeedMoreData;
                }
                destination = Socks5Destination.FromAddress(new IPAddress(span.Slice(4, 16)), ReadPort(span, 20));
                break;
            case Socks5AddressType.DomainName:
                if (span.Length < 5)
                {
                    return Socks5ParseResult.NeedMoreData;
                }
                int length = span[4];
                if (length == 0)
                {
                    return Error(Socks5ParseStatus.EmptyDomain, $"SOCKS5 {what} has an empty domain name");
                }
                var available = Math.Min(length, span.Length - 5);
                var nul = span.Slice(5, available).IndexOf((byte)0);
                if (nul >= 0)
                {
                    return Error(Socks5ParseStatus.DomainContainsNul, string.Create(CultureInfo.InvariantCulture,
                        $"SOCKS5 {what} has a NUL byte at offset {nul} of its domain name"));
                }
                total = 5 + length + 2;
                if (span.Length < total)
                {
                    return Socks5ParseResult.NeedMoreData;
                }
                string host;
                try
                {
                    host = StrictUtf8.GetString(span.Slice(5, length));
                }
                catch (DecoderFallbackException)
                {
                    return Error(Socks5ParseStatus.DomainNotUtf8, $"SOCKS5 {what} has a domain name that is not valid UTF-8");
                }
                destination = Socks5Destination.FromDomain(host, ReadPort(span, 5 + length));
                break;
            default:
                return Error(Socks5ParseStatus.UnknownAddressType, string.Create(CultureInfo.InvariantCulture,
                    $"SOCKS5 {what} has unknown address type 0x{atyp:X2} (expected 0x01, 0x03 or 0x04)"));
        }
        buffer = buffer.Slice(total);
        first = span[1];
        return Socks5ParseResult.Ok;
    }

    private static void WriteAddressed(IBufferWriter<byte> writer, byte first, Socks5Destination? destination)
    {
        var span = writer.GetSpan(MaxRequestLength);
        span[0] = Version;
        span[1] = first;
        span[2] = 0;
        int n;
        if (destination is null)
        {
            span[3] = (byte)Socks5AddressType.IPv4;
            span.Slice(4, 6).Clear();
            n = 10;
        }
        else if (destination.AddressType == Socks5AddressType.DomainName)
        {
            span[3] = (byte)Socks5AddressType.DomainName;
            var length = Encoding.UTF8.GetBytes(destination.Host, span[5..]);
            span[4] = (byte)length;
            n = 5 + length;
            BinaryPrimitives.WriteUInt16BigEndian(span[n..], destination.Port);
            n += 2;
        }
        else
        {
            span[3] = (byte)destination.AddressType;
            destination.Address!.TryWriteBytes(span[4..], out var written);
            n = 4 + written;
            BinaryPrimitives.WriteUInt16BigEndian(span[n..], destination.Port);
            n += 2;
        }
        writer.Advance(n);
    }

    private static ushort ReadPort(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt16BigEndian(span[offset..]);

    /// <summary>The first bytes of <paramref name="buffer"/> as one span, copying into <paramref name="scratch"/>
    /// (at most its length) only when the buffer is split across segments.</summary>
    private static ReadOnlySpan<byte> Peek(in ReadOnlySequence<byte> buffer, Span<byte> scratch)
    {
        var first = buffer.FirstSpan;
        if (buffer.IsSingleSegment || first.Length >= scratch.Length)
        {
            return first;
        }
        var n = (int)Math.Min(buffer.Length, scratch.Length);
        buffer.Slice(0, n).CopyTo(scratch);
        return scratch[..n];
    }

    private static Socks5ParseResult BadVersion(byte version, string what)
        => Error(Socks5ParseStatus.BadVersion, string.Create(CultureInfo.InvariantCulture,
            $"unsupported SOCKS version {version} in {what} (expected 5)"));

    private static Socks5ParseResult Error(Socks5ParseStatus status, string message) => new(status, message);
}
