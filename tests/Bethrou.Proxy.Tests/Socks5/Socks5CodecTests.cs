using System.Buffers;
using System.Net;
using System.Text;
using Bethrou.Proxy.Socks5;

namespace Bethrou.Proxy.Tests.Socks5;

public class Socks5CodecTests
{
    private delegate Socks5ParseResult Parser<T>(ref ReadOnlySequence<byte> buffer, out T value);

    private static readonly byte[] Trailer = [0xAA, 0xBB, 0xCC];

    /// <summary>
    /// The message parses from one segment, from two segments split at every byte boundary, and from one byte per
    /// segment; bytes after it are left in place; every strict prefix is NeedMoreData and consumes nothing.
    /// </summary>
    private static T AssertParsesEverywhere<T>(byte[] message, Parser<T> parse)
    {
        T value = default!;
        var withTrailer = message.Concat(Trailer).ToArray();
        var sequences = new List<ReadOnlySequence<byte>> { new(withTrailer), SequenceHelper.OneBytePerSegment(withTrailer) };
        for (var i = 1; i < withTrailer.Length; i++)
        {
            sequences.Add(SequenceHelper.SplitAt(withTrailer, i));
        }
        foreach (var sequence in sequences)
        {
            var buffer = sequence;
            var result = parse(ref buffer, out value);
            Assert.Equal(Socks5ParseStatus.Ok, result.Status);
            Assert.Null(result.Message);
            Assert.Equal(Trailer, buffer.ToArray());
        }
        for (var length = 0; length < message.Length; length++)
        {
            foreach (var prefix in new[] { new ReadOnlySequence<byte>(message[..length]), SequenceHelper.OneBytePerSegment(message[..length]) })
            {
                var buffer = prefix;
                var result = parse(ref buffer, out _);
                Assert.Equal(Socks5ParseStatus.NeedMoreData, result.Status);
                Assert.Equal(length, buffer.Length);
            }
        }
        return value;
    }

    /// <summary>Prefixes that end before <paramref name="badIndex"/> need more data; every longer prefix (split
    /// anywhere) reports the error with the exact message and consumes nothing.</summary>
    private static void AssertErrorEverywhere<T>(byte[] message, int badIndex, Parser<T> parse, Socks5ParseStatus status, string expectedMessage)
    {
        for (var length = 0; length <= message.Length; length++)
        {
            var prefix = message[..length];
            var sequences = new List<ReadOnlySequence<byte>> { new(prefix), SequenceHelper.OneBytePerSegment(prefix) };
            for (var i = 1; i < length; i++)
            {
                sequences.Add(SequenceHelper.SplitAt(prefix, i));
            }
            foreach (var sequence in sequences)
            {
                var buffer = sequence;
                var result = parse(ref buffer, out _);
                if (length <= badIndex)
                {
                    Assert.Equal(Socks5ParseStatus.NeedMoreData, result.Status);
                }
                else
                {
                    Assert.Equal(status, result.Status);
                    Assert.Equal(expectedMessage, result.Message);
                    Assert.True(result.IsError);
                }
                Assert.Equal(length, buffer.Length);
            }
        }
    }

    // ------------------------------------------------------------------ greeting

    [Fact]
    public void Greeting_parses_at_every_split_and_keeps_trailing_bytes()
    {
        var greeting = AssertParsesEverywhere<Socks5Greeting>([0x05, 0x02, 0x00, 0x02], Socks5Codec.TryReadGreeting);
        Assert.Equal(2, greeting.MethodCount);
        Assert.True(greeting.Offers(0x00));
        Assert.True(greeting.Offers(0x02));
        Assert.False(greeting.Offers(0x01));
        Assert.False(greeting.Offers(0xFF));
    }

    [Fact]
    public void Greeting_with_all_255_methods()
    {
        var message = new byte[] { 0x05, 0xFF }.Concat(Enumerable.Range(0, 255).Select(i => (byte)i)).ToArray();
        var greeting = AssertParsesEverywhere<Socks5Greeting>(message, Socks5Codec.TryReadGreeting);
        Assert.Equal(255, greeting.MethodCount);
        for (var m = 0; m < 255; m++)
        {
            Assert.True(greeting.Offers((byte)m));
        }
        Assert.False(greeting.Offers(0xFF));
    }

    [Theory]
    [InlineData(new byte[] { 0x04, 0x01, 0x00 }, 0, "unsupported SOCKS version 4 in greeting (expected 5)")]
    [InlineData(new byte[] { 0x00 }, 0, "unsupported SOCKS version 0 in greeting (expected 5)")]
    [InlineData(new byte[] { 0x47, 0x45, 0x54, 0x20, 0x2F }, 0, "unsupported SOCKS version 71 in greeting (expected 5)")] // "GET /": HTTP on a SOCKS port
    public void Greeting_bad_version(byte[] message, int badIndex, string expected)
        => AssertErrorEverywhere<Socks5Greeting>(message, badIndex, Socks5Codec.TryReadGreeting, Socks5ParseStatus.BadVersion, expected);

    [Fact]
    public void Greeting_zero_methods()
        => AssertErrorEverywhere<Socks5Greeting>([0x05, 0x00, 0x00], 1, Socks5Codec.TryReadGreeting, Socks5ParseStatus.NoMethods,
            "SOCKS5 greeting offers no authentication methods (NMETHODS = 0)");

    [Fact]
    public void Greeting_truncated_needs_more_data()
    {
        var buffer = new ReadOnlySequence<byte>([0x05, 0x03, 0x00, 0x01]);
        Assert.Equal(Socks5ParseStatus.NeedMoreData, Socks5Codec.TryReadGreeting(ref buffer, out _).Status);
        Assert.Equal(4, buffer.Length);
    }

    [Fact]
    public void Greeting_garbage_is_rejected_at_the_first_byte()
    {
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var garbage = new byte[1 + random.Next(600)];
            random.NextBytes(garbage);
            if (garbage[0] == 0x05)
            {
                garbage[0] = 0x06;
            }
            var buffer = new ReadOnlySequence<byte>(garbage);
            var result = Socks5Codec.TryReadGreeting(ref buffer, out _);
            Assert.Equal(Socks5ParseStatus.BadVersion, result.Status);
            Assert.Equal(garbage.Length, buffer.Length);
        }
    }

    [Fact]
    public void Greeting_writer_round_trips_and_rejects_oversized()
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteGreeting(writer, [0x00, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02, 0x00, 0x02 }, writer.WrittenSpan.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteGreeting(new ArrayBufferWriter<byte>(), new byte[256]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteGreeting(new ArrayBufferWriter<byte>(), []));
    }

    [Fact]
    public void Method_selection_write_and_read()
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteMethodSelection(writer, 0x02);
        Assert.Equal(new byte[] { 0x05, 0x02 }, writer.WrittenSpan.ToArray());
        Assert.Equal(0x02, AssertParsesEverywhere<byte>([0x05, 0x02], Socks5Codec.TryReadMethodSelection));
        AssertErrorEverywhere<byte>([0x04, 0x00], 0, Socks5Codec.TryReadMethodSelection, Socks5ParseStatus.BadVersion,
            "unsupported SOCKS version 4 in method selection (expected 5)");
    }

    // ------------------------------------------------------------------ RFC 1929

    private static byte[] AuthRequest(string user, string pass)
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteAuthRequest(writer, Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(pass));
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Auth_request_parses_at_every_split()
    {
        var message = AuthRequest("alice", "s3cret");
        Assert.Equal(new byte[] { 0x01, 0x05, (byte)'a', (byte)'l', (byte)'i', (byte)'c', (byte)'e', 0x06, (byte)'s', (byte)'3', (byte)'c', (byte)'r', (byte)'e', (byte)'t' }, message);
        var request = AssertParsesEverywhere<Socks5AuthRequest?>(message, Socks5Codec.TryReadAuthRequest)!;
        Assert.Equal("alice", Encoding.UTF8.GetString(request.Username));
        Assert.Equal("s3cret", Encoding.UTF8.GetString(request.Password));
        Assert.DoesNotContain("s3cret", request.ToString(), StringComparison.Ordinal);
        request.Clear();
        Assert.All(request.Password, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Auth_request_with_maximum_lengths()
    {
        var request = AssertParsesEverywhere<Socks5AuthRequest?>(AuthRequest(new string('u', 255), new string('p', 255)),
            Socks5Codec.TryReadAuthRequest)!;
        Assert.Equal(255, request.Username.Length);
        Assert.Equal(255, request.Password.Length);
    }

    [Fact]
    public void Auth_request_errors()
    {
        AssertErrorEverywhere<Socks5AuthRequest?>([0x05, 0x01, 0x61, 0x01, 0x62], 0, Socks5Codec.TryReadAuthRequest,
            Socks5ParseStatus.BadAuthVersion, "unsupported username/password sub-negotiation version 5 (expected 1)");
        AssertErrorEverywhere<Socks5AuthRequest?>([0x01, 0x00, 0x01, 0x62], 1, Socks5Codec.TryReadAuthRequest,
            Socks5ParseStatus.EmptyUsername, "username/password request has an empty username (ULEN = 0)");
        AssertErrorEverywhere<Socks5AuthRequest?>([0x01, 0x01, 0x61, 0x00], 3, Socks5Codec.TryReadAuthRequest,
            Socks5ParseStatus.EmptyPassword, "username/password request has an empty password (PLEN = 0)");
    }

    [Fact]
    public void Auth_writer_rejects_bad_lengths()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteAuthRequest(new ArrayBufferWriter<byte>(), [], [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteAuthRequest(new ArrayBufferWriter<byte>(), [1], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteAuthRequest(new ArrayBufferWriter<byte>(), new byte[256], [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Socks5Codec.WriteAuthRequest(new ArrayBufferWriter<byte>(), [1], new byte[256]));
    }

    [Fact]
    public void Auth_status_write_and_read()
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteAuthStatus(writer, success: true);
        Socks5Codec.WriteAuthStatus(writer, success: false);
        Assert.Equal(new byte[] { 0x01, 0x00, 0x01, 0x01 }, writer.WrittenSpan.ToArray());
        Assert.True(AssertParsesEverywhere<bool>([0x01, 0x00], Socks5Codec.TryReadAuthStatus));
        Assert.False(AssertParsesEverywhere<bool>([0x01, 0x01], Socks5Codec.TryReadAuthStatus));
        AssertErrorEverywhere<bool>([0x05, 0x00], 0, Socks5Codec.TryReadAuthStatus, Socks5ParseStatus.BadAuthVersion,
            "unsupported username/password status version 5 (expected 1)");
    }

    // ------------------------------------------------------------------ request

    [Fact]
    public void Request_ipv4_exact_bytes_and_every_split()
    {
        byte[] message = [0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0x01, 0xBB];
        var request = AssertParsesEverywhere<Socks5Request?>(message, Socks5Codec.TryReadRequest)!;
        Assert.Equal(Socks5Command.Connect, request.Command);
        Assert.Equal(Socks5AddressType.IPv4, request.Destination.AddressType);
        Assert.Equal(IPAddress.Parse("1.2.3.4"), request.Destination.Address);
        Assert.Equal(443, request.Destination.Port);
        Assert.Equal("1.2.3.4:443", request.Destination.ToHostPort());
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteRequest(writer, Socks5Command.Connect, request.Destination);
        Assert.Equal(message, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Request_ipv6()
    {
        var address = IPAddress.Parse("2001:db8::1");
        byte[] message = [0x05, 0x01, 0x00, 0x04, .. address.GetAddressBytes(), 0x1F, 0x90];
        var request = AssertParsesEverywhere<Socks5Request?>(message, Socks5Codec.TryReadRequest)!;
        Assert.Equal(Socks5AddressType.IPv6, request.Destination.AddressType);
        Assert.Equal(address, request.Destination.Address);
        Assert.Equal("[2001:db8::1]:8080", request.Destination.ToHostPort());
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteRequest(writer, Socks5Command.Connect, request.Destination);
        Assert.Equal(message, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Request_domain()
    {
        byte[] message = [0x05, 0x01, 0x00, 0x03, 11, .. "example.com"u8, 0x00, 0x50];
        var request = AssertParsesEverywhere<Socks5Request?>(message, Socks5Codec.TryReadRequest)!;
        Assert.Equal(Socks5AddressType.DomainName, request.Destination.AddressType);
        Assert.Equal("example.com", request.Destination.Host);
        Assert.Null(request.Destination.Address);
        Assert.Equal("example.com:80", request.Destination.ToHostPort());
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteRequest(writer, Socks5Command.Connect, request.Destination);
        Assert.Equal(message, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Request_domain_of_maximum_length()
    {
        var name = new string('a', 255);
        byte[] message = [0x05, 0x01, 0x00, 0x03, 255, .. Encoding.ASCII.GetBytes(name), 0xFF, 0xFF];
        var request = AssertParsesEverywhere<Socks5Request?>(message, Socks5Codec.TryReadRequest)!;
        Assert.Equal(name, request.Destination.Host);
        Assert.Equal(65535, request.Destination.Port);
        Assert.Equal(Socks5Codec.MaxRequestLength, message.Length);
    }

    [Theory]
    [InlineData((byte)0x02, Socks5Command.Bind)]
    [InlineData((byte)0x03, Socks5Command.UdpAssociate)]
    [InlineData((byte)0x09, (Socks5Command)0x09)]
    public void Request_command_is_passed_through(byte command, Socks5Command expected)
    {
        var request = AssertParsesEverywhere<Socks5Request?>([0x05, command, 0x00, 0x01, 127, 0, 0, 1, 0, 80], Socks5Codec.TryReadRequest)!;
        Assert.Equal(expected, request.Command);
    }

    [Fact]
    public void Request_errors()
    {
        AssertErrorEverywhere<Socks5Request?>([0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80], 0, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.BadVersion, "unsupported SOCKS version 4 in request (expected 5)");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80], 2, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.BadReservedByte, "SOCKS5 request has reserved byte 0x01 (must be 0x00)");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80], 3, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.UnknownAddressType, "SOCKS5 request has unknown address type 0x02 (expected 0x01, 0x03 or 0x04)");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x00, 0xFF], 3, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.UnknownAddressType, "SOCKS5 request has unknown address type 0xFF (expected 0x01, 0x03 or 0x04)");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x00, 0x03, 0x00, 0, 80], 4, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.EmptyDomain, "SOCKS5 request has an empty domain name");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x00, 0x03, 0x03, (byte)'a', 0x00, (byte)'b', 0, 80], 6, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.DomainContainsNul, "SOCKS5 request has a NUL byte at offset 1 of its domain name");
        AssertErrorEverywhere<Socks5Request?>([0x05, 0x01, 0x00, 0x03, 0x02, 0xC3, 0x28, 0, 80], 8, Socks5Codec.TryReadRequest,
            Socks5ParseStatus.DomainNotUtf8, "SOCKS5 request has a domain name that is not valid UTF-8");
    }

    [Fact]
    public void Request_garbage()
    {
        var random = new Random(1929);
        for (var i = 0; i < 500; i++)
        {
            var garbage = new byte[random.Next(1, 400)];
            random.NextBytes(garbage);
            var buffer = new ReadOnlySequence<byte>(garbage);
            var result = Socks5Codec.TryReadRequest(ref buffer, out var request);
            if (result.IsOk)
            {
                Assert.NotNull(request);
                Assert.True(garbage.Length - buffer.Length <= Socks5Codec.MaxRequestLength);
            }
            else
            {
                Assert.Null(request);
                Assert.Equal(garbage.Length, buffer.Length);
                Assert.Equal(result.IsError, result.Message is not null);
            }
        }
    }

    [Fact]
    public void Parsers_read_at_most_their_maximum_from_a_large_buffer()
    {
        var big = new byte[100_000];
        byte[] request = [0x05, 0x01, 0x00, 0x03, 255, .. Enumerable.Repeat((byte)'x', 255), 0x01, 0xBB];
        request.CopyTo(big, 0);
        var buffer = SequenceHelper.SplitAt(big, 7);
        Assert.True(Socks5Codec.TryReadRequest(ref buffer, out _).IsOk);
        Assert.Equal(big.Length - request.Length, buffer.Length);
    }

    // ------------------------------------------------------------------ reply

    [Fact]
    public void Reply_with_no_bound_address_is_zero_ipv4()
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteReply(writer, Socks5ReplyCode.CommandNotSupported, null);
        Assert.Equal(new byte[] { 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0 }, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Reply_round_trips_every_address_type()
    {
        var destinations = new[]
        {
            Socks5Destination.FromAddress(IPAddress.Parse("10.1.2.3"), 1080),
            Socks5Destination.FromAddress(IPAddress.Parse("2001:db8::5"), 1),
            Socks5Destination.FromDomain("relay.example", 65535),
        };
        foreach (var bound in destinations)
        {
            var writer = new ArrayBufferWriter<byte>();
            Socks5Codec.WriteReply(writer, Socks5ReplyCode.Succeeded, bound);
            var reply = AssertParsesEverywhere<Socks5Reply?>(writer.WrittenSpan.ToArray(), Socks5Codec.TryReadReply)!;
            Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);
            Assert.Equal(bound, reply.Bound);
        }
    }

    [Fact]
    public void Reply_codes_match_rfc1928()
    {
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (byte)i), Enum.GetValues<Socks5ReplyCode>().Select(c => (byte)c));
    }
}
