using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Libp2p.Tests.Security;

public class NoiseHandshakeTests
{
    private const string Psk = " — if both peers use a private network, check they share the same PSK";

    /// <summary>Continuations run inside FlushAsync, so after a flush returns the other side has processed the bytes.</summary>
    private static readonly PipeOptions Inline = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;

    private static async Task WriteAsync(PipeWriter writer, byte[] bytes)
    {
        await writer.WriteAsync(bytes);
    }

    private static async Task<(SecureConnection Initiator, SecureConnection Responder)> ConnectAsync(
        NoiseSecurityTransport initiator, NoiseSecurityTransport responder, Bethrou.Libp2p.Multiformats.PeerId? expected = null)
    {
        var (a, b) = DuplexPipe.CreatePair();
        var outbound = initiator.SecureOutboundAsync(a, expected, Timeout).AsTask();
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await Task.WhenAll(outbound, inbound);
        return (await outbound, await inbound);
    }

    [Fact]
    public async Task HandshakeWithRealIdentities()
    {
        using var idI = Ed25519PrivateKey.Generate();
        using var idR = Ed25519PrivateKey.Generate();
        var (i, r) = await ConnectAsync(new NoiseSecurityTransport(idI, [NoiseTestKeys.Yamux]), new NoiseSecurityTransport(idR, [NoiseTestKeys.Yamux]), idR.PeerId);
        Assert.Equal(idI.PeerId, i.LocalPeer);
        Assert.Equal(idR.PeerId, i.RemotePeer);
        Assert.Equal(idR.PeerId, r.LocalPeer);
        Assert.Equal(idI.PeerId, r.RemotePeer);
        Assert.Equal(idR.PublicKey, i.RemotePublicKey);
        Assert.Equal(idI.PublicKey, r.RemotePublicKey);

        await i.Transport.Output.WriteAsync("ping"u8.ToArray());
        var got = await r.Transport.Input.ReadAtLeastAsync(4);
        Assert.Equal("ping", Encoding.ASCII.GetString(got.Buffer.FirstSpan));
        r.Transport.Input.AdvanceTo(got.Buffer.End);
        await r.Transport.Output.WriteAsync("pong"u8.ToArray());
        got = await i.Transport.Input.ReadAtLeastAsync(4);
        Assert.Equal("pong", Encoding.ASCII.GetString(got.Buffer.FirstSpan));
        i.Transport.Input.AdvanceTo(got.Buffer.End);

        await i.Transport.Output.CompleteAsync();
        await r.Transport.Output.CompleteAsync();
    }

    [Fact]
    public async Task EachInstanceHasItsOwnStaticKeyAndReusesIt()
    {
        using var id = Ed25519PrivateKey.Generate();
        var t1 = new NoiseSecurityTransport(id, [NoiseTestKeys.Yamux]);
        var t2 = new NoiseSecurityTransport(id, [NoiseTestKeys.Yamux]);
        Assert.NotEqual(t1.LocalPayload.ToArray(), t2.LocalPayload.ToArray()); // signature covers a different static key
        using var other = Ed25519PrivateKey.Generate();
        var peer = new NoiseSecurityTransport(other, [NoiseTestKeys.Yamux]);
        var (c1, _) = await ConnectAsync(t1, peer);
        var (c2, _) = await ConnectAsync(t1, peer);
        Assert.Equal(c1.RemotePeer, c2.RemotePeer);
    }

    [Fact]
    public async Task PeerIdMismatchAbortsBeforeMsg3()
    {
        using var expected = Ed25519PrivateKey.Generate();
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var (a, b) = DuplexPipe.CreatePair();
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        var ex = await Assert.ThrowsAsync<PeerIdMismatchException>(() => initiator.SecureOutboundAsync(a, expected.PeerId, Timeout).AsTask());
        Assert.Equal($"noise: dialled {expected.PeerId} but the remote is 12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB", ex.Message);
        Assert.Equal(expected.PeerId, ex.Expected);
        Assert.Equal(NoiseTestKeys.Id2().PeerId, ex.Actual);

        await a.Output.CompleteAsync(); // the caller closes the connection
        var rex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: the connection closed before msg3" + Psk, rex.Message);
    }

    [Theory]
    [InlineData(new[] { "/yamux/1.0.0" }, new[] { "/yamux/1.0.0" }, "/yamux/1.0.0")]
    [InlineData(new string[0], new[] { "/yamux/1.0.0" }, null)]
    [InlineData(new[] { "/yamux/1.0.0" }, new string[0], null)]
    [InlineData(new string[0], new string[0], null)]
    [InlineData(new[] { "/mplex/6.7.0", "/yamux/1.0.0" }, new[] { "/yamux/1.0.0", "/mplex/6.7.0" }, "/mplex/6.7.0")]
    [InlineData(new[] { "/other/1", "/yamux/1.0.0" }, new[] { "/yamux/1.0.0" }, "/yamux/1.0.0")]
    public async Task EarlyMuxerNegotiation(string[] initiatorMuxers, string[] responderMuxers, string? expected)
    {
        var (i, r) = await ConnectAsync(new NoiseSecurityTransport(NoiseTestKeys.Id1(), initiatorMuxers), new NoiseSecurityTransport(NoiseTestKeys.Id2(), responderMuxers));
        Assert.Equal(expected, i.EarlyMuxer);
        Assert.Equal(expected, r.EarlyMuxer);
    }

    [Fact]
    public async Task DisjointMuxerListsFailOnBothSides()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), ["/mplex/6.7.0"]);
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var (a, b) = DuplexPipe.CreatePair();
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        const string message = "noise: no common stream muxer: the initiator offers [/mplex/6.7.0], the responder offers [/yamux/1.0.0]";
        Assert.Equal(message, (await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound)).Message);
        Assert.Equal(message, (await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound)).Message);
    }

    [Fact]
    public void SelectEarlyMuxerRules()
    {
        Assert.Null(NoiseSecurityTransport.SelectEarlyMuxer(null, ["/yamux/1.0.0"]));
        Assert.Null(NoiseSecurityTransport.SelectEarlyMuxer(["/yamux/1.0.0"], null));
        Assert.Equal("/b", NoiseSecurityTransport.SelectEarlyMuxer(["/b", "/a"], ["/a", "/b"]));
        Assert.Throws<NoiseHandshakeException>(() => NoiseSecurityTransport.SelectEarlyMuxer(["/a"], ["/b"]));
    }

    [Fact]
    public void RejectsInvalidMuxerIds()
    {
        Assert.Throws<ArgumentException>(() => new NoiseSecurityTransport(NoiseTestKeys.Id1(), [""]));
        Assert.Throws<ArgumentException>(() => new NoiseSecurityTransport(NoiseTestKeys.Id1(), [new string('x', 300)]));
    }

    /// <summary>msg1 and msg3 split at every byte boundary: the responder waits, then succeeds.</summary>
    [Fact]
    public async Task ResponderWaitsForSplitMsg1AndMsg3()
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        for (var message = 1; message <= 3; message += 2)
        {
            for (var at = 0; ; at++)
            {
                using var peer = new ScriptedNoisePeer(true, NoiseTestKeys.Id1(), NoiseTestKeys.Yamux);
                var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
                var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();

                var m1 = peer.NextFrame();
                if (message == 1 && at > m1.Length)
                {
                    return;
                }
                await WriteSplitAsync(a.Output, m1, message == 1 ? at : 0, inbound);
                peer.Read(await ScriptedNoisePeer.ReadFrameAsync(a.Input));
                var m3 = peer.NextFrame();
                if (message == 3 && at > m3.Length)
                {
                    break;
                }
                await WriteSplitAsync(a.Output, m3, message == 3 ? at : 0, inbound);

                var conn = await inbound;
                Assert.Equal(NoiseTestKeys.Id1().PeerId, conn.RemotePeer);
                Assert.Equal(NoiseTestKeys.Yamux, conn.EarlyMuxer);
            }
        }
    }

    /// <summary>msg2 split at every byte boundary: the initiator waits, then succeeds.</summary>
    [Fact]
    public async Task InitiatorWaitsForSplitMsg2()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        for (var at = 0; ; at++)
        {
            using var peer = new ScriptedNoisePeer(false, NoiseTestKeys.Id2(), NoiseTestKeys.Yamux);
            var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
            var outbound = initiator.SecureOutboundAsync(a, NoiseTestKeys.Id2().PeerId, Timeout).AsTask();
            peer.Read(await ScriptedNoisePeer.ReadFrameAsync(b.Input));
            var m2 = peer.NextFrame();
            if (at > m2.Length)
            {
                break;
            }
            await WriteSplitAsync(b.Output, m2, at, outbound);
            peer.Read(await ScriptedNoisePeer.ReadFrameAsync(b.Input));
            var conn = await outbound;
            Assert.Equal(NoiseTestKeys.Id2().PeerId, conn.RemotePeer);
        }
    }

    private static async Task WriteSplitAsync(PipeWriter writer, byte[] frame, int at, Task pending)
    {
        if (at > 0 && at < frame.Length)
        {
            await WriteAsync(writer, frame[..at]);
            Assert.False(pending.IsCompleted, $"handshake ended after {at} of {frame.Length} bytes: {pending.Exception?.InnerException?.Message}");
            await WriteAsync(writer, frame[at..]);
        }
        else
        {
            await WriteAsync(writer, frame);
        }
    }

    [Fact]
    public async Task OversizedMsg1IsRejectedFromItsLengthPrefix()
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, [0x40, 0x01, 0x00]);
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: msg1 declares 16385 bytes, more than the 16384-byte limit for handshake messages" + Psk, ex.Message);
    }

    [Fact]
    public async Task OversizedMsg2IsRejected()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        await WriteAsync(b.Output, [0xff, 0xff]);
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: msg2 declares 65535 bytes, more than the 16384-byte limit for handshake messages" + Psk, ex.Message);
    }

    [Fact]
    public async Task GarbageInsteadOfMsg1()
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);

        // something that is not libp2p at all
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, "GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: msg1 declares 18245 bytes, more than the 16384-byte limit for handshake messages" + Psk, ex.Message);

        // a frame too short to hold an ephemeral key
        (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, [0x00, 0x05, 1, 2, 3, 4, 5]);
        ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: msg1 is 5 bytes, shorter than the minimum 32" + Psk, ex.Message);

        // a low-order ephemeral key (all zero)
        (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, ScriptedNoisePeer.Frame(new byte[32]));
        ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: the remote's X25519 key is a low-order point (ee produced the all-zero secret)", ex.Message);

        // random bytes in a well-formed frame are a valid key: the responder answers and then sees garbage as msg3
        (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        var rng = new Random(42);
        var junk = new byte[32];
        rng.NextBytes(junk);
        await WriteAsync(a.Output, ScriptedNoisePeer.Frame(junk));
        _ = await ScriptedNoisePeer.ReadFrameAsync(a.Input);
        var junk3 = new byte[120];
        rng.NextBytes(junk3);
        await WriteAsync(a.Output, ScriptedNoisePeer.Frame(junk3));
        ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: msg3 failed authentication (encrypted static key)" + Psk, ex.Message);
    }

    [Fact]
    public async Task GarbageInsteadOfMsg2()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        var m1 = await ScriptedNoisePeer.ReadFrameAsync(b.Input);
        Assert.Equal(32, m1.Length);
        var junk = new byte[216];
        new Random(7).NextBytes(junk);
        await WriteAsync(b.Output, ScriptedNoisePeer.Frame(junk));
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: msg2 failed authentication (encrypted static key)" + Psk, ex.Message);
    }

    [Fact]
    public async Task TamperedPayloadInMsg2FailsAuthentication()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        using var peer = new ScriptedNoisePeer(false, NoiseTestKeys.Id2(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(b.Input));
        var m2 = peer.NextFrame();
        m2[^20] ^= 0x80;
        await WriteAsync(b.Output, m2);
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: msg2 failed authentication (encrypted payload)" + Psk, ex.Message);
    }

    [Fact]
    public async Task ConnectionClosedDuringHandshake()
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);

        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        await b.Output.CompleteAsync();
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: the connection closed before msg2" + Psk, ex.Message);

        (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        await WriteAsync(b.Output, [0x00]);
        await b.Output.CompleteAsync();
        ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: the connection closed inside the length prefix of msg2" + Psk, ex.Message);

        (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        await WriteAsync(b.Output, [0x00, 0xd8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        await b.Output.CompleteAsync();
        ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: the connection closed in the middle of msg2 (10 of 216 bytes)" + Psk, ex.Message);
    }

    [Fact]
    public async Task CancellationStopsAWaitingHandshake()
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var (_, b) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource();
        var inbound = responder.SecureInboundAsync(b, cts.Token).AsTask();
        Assert.False(inbound.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => inbound);
    }

    public static TheoryData<string, string> BadPayloads => new()
    {
        { "", "noise handshake failed: the msg2 payload has no identity_key" },
        { "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", "noise handshake failed: the msg2 payload has no identity_sig" },
        { "1240" + new string('0', 128), "noise handshake failed: the msg2 payload has no identity_key" },
        { "0a05aa", "noise handshake failed: malformed handshake payload in msg2: identity_key: length 5 runs past the end of the message (1 bytes left)" },
        { "0a0408071200" + "1200", "noise handshake failed: the msg2 identity_key is not a usable public key: unknown key type 7" },
        { "0a0708011203aabbcc" + "1200", "noise handshake failed: the msg2 identity_key is not a usable public key: Ed25519 public key must be 32 bytes, got 3" },
    };

    [Theory]
    [MemberData(nameof(BadPayloads))]
    public async Task RejectsBadPayloads(string payloadHex, string error)
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        using var peer = new ScriptedNoisePeer(false, NoiseTestKeys.Id2(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(b.Input));
        await WriteAsync(b.Output, peer.NextFrame(NoiseTestKeys.Hex(payloadHex)));
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal(error, ex.Message);
    }

    [Fact]
    public async Task RejectsSignatureOverAnotherStaticKey()
    {
        // a genuine payload of ID2, but made for a different static key (replayed from another session)
        var replayed = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]).LocalPayload.ToArray();
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        using var peer = new ScriptedNoisePeer(false, NoiseTestKeys.Id2(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var outbound = initiator.SecureOutboundAsync(a, null, Timeout).AsTask();
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(b.Input));
        await WriteAsync(b.Output, peer.NextFrame(replayed));
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => outbound);
        Assert.Equal("noise handshake failed: the identity signature of 12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB in msg2 does not cover its Noise static key (invalid signature)", ex.Message);
    }

    [Fact]
    public async Task ResponderRejectsBadInitiatorSignature()
    {
        var replayed = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]).LocalPayload.ToArray();
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        using var peer = new ScriptedNoisePeer(true, NoiseTestKeys.Id1(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, peer.NextFrame());
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(a.Input));
        await WriteAsync(a.Output, peer.NextFrame(replayed));
        var ex = await Assert.ThrowsAsync<NoiseHandshakeException>(() => inbound);
        Assert.Equal("noise handshake failed: the identity signature of 12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq in msg3 does not cover its Noise static key (invalid signature)", ex.Message);
    }

    [Fact]
    public async Task BytesAfterMsg3AreKeptForTheTransport()
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        using var peer = new ScriptedNoisePeer(true, NoiseTestKeys.Id1(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(Inline, Inline);
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await WriteAsync(a.Output, peer.NextFrame());
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(a.Input));
        // msg3 and the first two transport frames in one write
        await WriteAsync(a.Output, [.. peer.NextFrame(), .. peer.Seal("hello "u8), .. peer.Seal("world"u8)]);
        var conn = await inbound;
        var got = await conn.Transport.Input.ReadAtLeastAsync(11);
        Assert.Equal("hello world", Encoding.ASCII.GetString(got.Buffer.ToArray()));
    }
}
