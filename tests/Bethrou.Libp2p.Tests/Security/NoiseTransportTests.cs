using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Security.Noise;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Libp2p.Tests.Security;

public class NoiseTransportTests
{
    private static readonly PipeOptions Inline = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    private static async Task<(SecureConnection Initiator, SecureConnection Responder)> ConnectAsync(IDuplexPipe a, IDuplexPipe b)
    {
        var initiator = new NoiseSecurityTransport(NoiseTestKeys.Id1(), [NoiseTestKeys.Yamux]);
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var outbound = initiator.SecureOutboundAsync(a, NoiseTestKeys.Id2().PeerId, Timeout).AsTask();
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await Task.WhenAll(outbound, inbound);
        return (await outbound, await inbound);
    }

    private static async Task WriteChunkedAsync(PipeWriter output, byte[] data, int seed, bool complete = true)
    {
        var rng = new Random(seed);
        var o = 0;
        while (o < data.Length)
        {
            var n = Math.Min(data.Length - o, rng.Next(1, 200_000));
            var flush = await output.WriteAsync(data.AsMemory(o, n));
            Assert.False(flush.IsCompleted);
            o += n;
        }
        if (complete)
        {
            await output.CompleteAsync();
        }
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader input, CancellationToken ct = default)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var result = await input.ReadAsync(ct);
            foreach (var segment in result.Buffer)
            {
                ms.Write(segment.Span);
            }
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return ms.ToArray();
            }
        }
    }

    [Fact]
    public async Task SixteenMiBEachWayConcurrently()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        var up = RandomNumberGenerator.GetBytes(16 << 20);
        var down = RandomNumberGenerator.GetBytes(16 << 20);

        var sendUp = WriteChunkedAsync(i.Transport.Output, up, 1);
        var sendDown = WriteChunkedAsync(r.Transport.Output, down, 2);
        var gotUp = ReadToEndAsync(r.Transport.Input, Timeout);
        var gotDown = ReadToEndAsync(i.Transport.Input, Timeout);
        await Task.WhenAll(sendUp, sendDown, gotUp, gotDown);

        var receivedUp = await gotUp;
        var receivedDown = await gotDown;
        Assert.Equal(up.Length, receivedUp.Length);
        Assert.Equal(down.Length, receivedDown.Length);
        Assert.True(up.AsSpan().SequenceEqual(receivedUp));
        Assert.True(down.AsSpan().SequenceEqual(receivedDown));
    }

    [Fact]
    public async Task WriteLargerThanOneFrameIsSplitIntoMaximalFrames()
    {
        var tap = new TappedLink();
        var (i, r) = await ConnectAsync(tap.Initiator, tap.Responder);
        var handshakeBytes = tap.InitiatorToResponder().Length;
        Assert.Equal(2 + 32 + 2 + 48 + 120 + 16, handshakeBytes);

        var data = RandomNumberGenerator.GetBytes(200_000);
        var reading = ReadToEndAsync(r.Transport.Input, Timeout); // the reader pulls while we write
        var memory = i.Transport.Output.GetMemory(data.Length); // one contiguous segment
        data.CopyTo(memory);
        i.Transport.Output.Advance(data.Length);
        await i.Transport.Output.FlushAsync();
        await i.Transport.Output.CompleteAsync();

        Assert.Equal(data, await reading);
        var frames = ParseFrames(tap.InitiatorToResponder().AsSpan(handshakeBytes));
        Assert.Equal([65535, 65535, 65535, 200_000 - (3 * 65519) + 16], frames);
    }

    [Fact]
    public async Task ManySmallWritesNeverExceedTheFrameLimit()
    {
        var tap = new TappedLink();
        var (i, r) = await ConnectAsync(tap.Initiator, tap.Responder);
        var handshakeBytes = tap.InitiatorToResponder().Length;
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var reading = ReadToEndAsync(r.Transport.Input, Timeout);
        for (var o = 0; o < data.Length; o += 1000)
        {
            i.Transport.Output.Write(data.AsSpan(o, Math.Min(1000, data.Length - o)));
            if (o % 7000 == 0)
            {
                await i.Transport.Output.FlushAsync();
            }
        }
        await i.Transport.Output.CompleteAsync();
        Assert.Equal(data, await reading);
        var frames = ParseFrames(tap.InitiatorToResponder().AsSpan(handshakeBytes));
        Assert.All(frames, f => Assert.InRange(f, 17, 65535));
        Assert.Equal(data.Length, frames.Sum(f => f - 16));
    }

    private static List<int> ParseFrames(ReadOnlySpan<byte> wire)
    {
        var frames = new List<int>();
        while (wire.Length > 0)
        {
            var len = BinaryPrimitives.ReadUInt16BigEndian(wire);
            frames.Add(len);
            wire = wire[(2 + len)..];
        }
        return frames;
    }

    [Fact]
    public async Task TamperedFrameFailsAuthenticationAndAbortsTheConnection()
    {
        // flip a ciphertext byte of the first transport frame (after msg1 = 34 bytes and msg3 = 2 + 184 bytes)
        var tap = new TappedLink(tamperI2ROffset: 34 + 186 + 2 + 3);
        var (i, r) = await ConnectAsync(tap.Initiator, tap.Responder);
        await i.Transport.Output.WriteAsync("attack at dawn"u8.ToArray());

        var ex = await Assert.ThrowsAsync<IOException>(async () => await r.Transport.Input.ReadAsync());
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", ex.Message);

        var wex = await Assert.ThrowsAsync<IOException>(async () => await r.Transport.Output.WriteAsync("x"u8.ToArray()));
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", wex.Message);
    }

    [Fact]
    public async Task TamperedTagFailsAuthentication()
    {
        var tap = new TappedLink(tamperI2ROffset: 34 + 186 + 2 + 5 + 15);
        var (i, r) = await ConnectAsync(tap.Initiator, tap.Responder);
        await i.Transport.Output.WriteAsync("hello"u8.ToArray());
        var ex = await Assert.ThrowsAsync<IOException>(async () => await r.Transport.Input.ReadAsync());
        Assert.Equal("noise: frame failed authentication (corrupted or tampered stream)", ex.Message);
    }

    private static async Task<(ScriptedNoisePeer Peer, SecureConnection Conn, IDuplexPipe Wire)> ScriptedInitiatorAsync(PipeOptions? options = null)
    {
        var responder = new NoiseSecurityTransport(NoiseTestKeys.Id2(), [NoiseTestKeys.Yamux]);
        var peer = new ScriptedNoisePeer(true, NoiseTestKeys.Id1(), NoiseTestKeys.Yamux);
        var (a, b) = DuplexPipe.CreatePair(options ?? Inline, options ?? Inline);
        var inbound = responder.SecureInboundAsync(b, Timeout).AsTask();
        await a.Output.WriteAsync(peer.NextFrame());
        peer.Read(await ScriptedNoisePeer.ReadFrameAsync(a.Input));
        await a.Output.WriteAsync(peer.NextFrame());
        return (peer, await inbound, a);
    }

    [Fact]
    public async Task FrameShorterThanTheTagIsRejected()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            await wire.Output.WriteAsync(NoiseTestKeys.Hex("0005 0102030405"));
            var ex = await Assert.ThrowsAsync<IOException>(async () => await conn.Transport.Input.ReadAsync());
            Assert.Equal("noise: received a 5-byte frame, shorter than the 16-byte authentication tag", ex.Message);
        }
    }

    [Fact]
    public async Task ConnectionClosedInsideAFrame()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            var frame = peer.Seal("hello"u8);
            await wire.Output.WriteAsync(frame.AsMemory(0, 12));
            await wire.Output.CompleteAsync();
            var ex = await Assert.ThrowsAsync<IOException>(async () => await conn.Transport.Input.ReadAsync());
            Assert.Equal("noise: the connection closed in the middle of a frame (12 bytes of an incomplete frame)", ex.Message);
        }
    }

    [Fact]
    public async Task FramesArriveByteByByte()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            byte[] bytes = [.. peer.Seal([]), .. peer.Seal("hello"u8), .. peer.Seal(" world"u8)];
            foreach (var b in bytes)
            {
                await wire.Output.WriteAsync(new[] { b });
            }
            await wire.Output.CompleteAsync();
            Assert.Equal("hello world", Encoding.ASCII.GetString(await ReadToEndAsync(conn.Transport.Input, Timeout)));
        }
    }

    [Fact]
    public async Task MaximalFrameSpanningManySegments()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, minimumSegmentSize: 4096, useSynchronizationContext: false));
        using (peer)
        {
            var data = RandomNumberGenerator.GetBytes(NoiseFraming.MaxPlaintextLength);
            var frame = peer.Seal(data);
            Assert.Equal(65537, frame.Length);
            // The reader pulls: it reads while the frame arrives (the wire pipe pauses its writer at 64 KiB).
            var reading = ReadToEndAsync(conn.Transport.Input, Timeout);
            for (var o = 0; o < frame.Length; o += 1000)
            {
                await wire.Output.WriteAsync(frame.AsMemory(o, Math.Min(1000, frame.Length - o)));
            }
            await wire.Output.CompleteAsync();
            Assert.Equal(data, await reading);
        }
    }

    [Fact]
    public async Task ResponderFramesDecryptOnTheScriptedSide()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            await conn.Transport.Output.WriteAsync("from responder"u8.ToArray());
            var message = await ScriptedNoisePeer.ReadFrameAsync(wire.Input, Timeout);
            Assert.Equal("from responder", Encoding.ASCII.GetString(peer.Open(message)));
        }
    }

    [Fact]
    public async Task CompletingOutputEndsTheRemoteInput()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        await i.Transport.Output.WriteAsync("last words"u8.ToArray());
        await i.Transport.Output.CompleteAsync();
        Assert.Equal("last words", Encoding.ASCII.GetString(await ReadToEndAsync(r.Transport.Input, Timeout)));

        // the other direction still works (half-close), then closes too
        await r.Transport.Output.WriteAsync("reply"u8.ToArray());
        await r.Transport.Output.CompleteAsync();
        Assert.Equal("reply", Encoding.ASCII.GetString(await ReadToEndAsync(i.Transport.Input, Timeout)));
    }

    [Fact]
    public async Task InnerErrorReachesTheApplication()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            await wire.Output.CompleteAsync(new IOException("connection reset by peer"));
            var ex = await Assert.ThrowsAsync<IOException>(async () => await conn.Transport.Input.ReadAsync());
            Assert.Equal("connection reset by peer", ex.Message);
        }
    }

    [Fact]
    public async Task ApplicationThatStopsReadingReleasesTheInnerInput()
    {
        var (peer, conn, wire) = await ScriptedInitiatorAsync();
        using (peer)
        {
            await conn.Transport.Input.CompleteAsync();
            await wire.Output.WriteAsync(peer.Seal("ignored"u8));
            // the decrypt pump stops and completes the inner reader: our writes to the wire now see a completed reader
            var flush = await wire.Output.WriteAsync(peer.Seal("ignored"u8));
            Assert.True(flush.IsCompleted);
        }
    }

    [Fact]
    public async Task ALaterSmallGetMemoryReplacesAnUnadvancedLargeOne()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        _ = i.Transport.Output.GetMemory(200_000); // larger than a frame: a staging buffer, never advanced
        var small = i.Transport.Output.GetMemory(5);
        "hello"u8.CopyTo(small.Span);
        i.Transport.Output.Advance(5);
        await i.Transport.Output.FlushAsync();
        await i.Transport.Output.CompleteAsync();
        Assert.Equal("hello", Encoding.ASCII.GetString(await ReadToEndAsync(r.Transport.Input, Timeout)));
    }

    [Fact]
    public async Task CancelPendingReadReturnsACanceledReadAndReadingGoesOn()
    {
        // yamux cancels its transport read when it shuts down; the decrypting reader has no loop of its own and must
        // still answer a pending read with IsCanceled, then keep working.
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        var pending = r.Transport.Input.ReadAsync().AsTask();
        Assert.False(pending.IsCompleted);
        r.Transport.Input.CancelPendingRead();
        var canceled = await pending.WaitAsync(Timeout);
        Assert.True(canceled.IsCanceled);
        Assert.True(canceled.Buffer.IsEmpty);
        r.Transport.Input.AdvanceTo(canceled.Buffer.Start);

        await i.Transport.Output.WriteAsync("after the cancel"u8.ToArray());
        await i.Transport.Output.CompleteAsync();
        Assert.Equal("after the cancel", Encoding.ASCII.GetString(await ReadToEndAsync(r.Transport.Input, Timeout)));
    }

    [Fact]
    public async Task PartlyConsumedPlaintextIsReturnedAgainWithoutNewFrames()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        await i.Transport.Output.WriteAsync("abcdef"u8.ToArray());
        var first = await r.Transport.Input.ReadAsync();
        Assert.Equal("abcdef", Encoding.ASCII.GetString(first.Buffer.ToArray()));
        r.Transport.Input.AdvanceTo(first.Buffer.GetPosition(2), first.Buffer.GetPosition(2)); // consumed 2, examined 2
        var second = await r.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout); // no new frame needed
        Assert.Equal("cdef", Encoding.ASCII.GetString(second.Buffer.ToArray()));
        r.Transport.Input.AdvanceTo(second.Buffer.Start, second.Buffer.End); // examined everything: next read waits
        var third = r.Transport.Input.ReadAsync().AsTask();
        Assert.False(third.IsCompleted);
        await i.Transport.Output.WriteAsync("gh"u8.ToArray());
        Assert.Equal("cdefgh", Encoding.ASCII.GetString((await third.WaitAsync(Timeout)).Buffer.ToArray()));
    }

    [Fact]
    public async Task BuffersAreBoundedWhenTheReceiverDoesNotRead()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var (i, r) = await ConnectAsync(a, b);
        var chunk = new byte[64 * 1024];
        long written = 0;
        ValueTask<FlushResult> pending = default;
        while (written < 64L << 20)
        {
            i.Transport.Output.Write(chunk);
            written += chunk.Length;
            pending = i.Transport.Output.FlushAsync();
            if (!pending.IsCompleted)
            {
                break;
            }
        }
        // app pipe (1 MiB) + inner pipe + receiver's app pipe (1 MiB) + frames in flight: far below 8 MiB
        Assert.InRange(written, 1, 8L << 20);
        var reading = ReadToEndAsync(r.Transport.Input, Timeout);
        await pending;
        await i.Transport.Output.CompleteAsync();
        Assert.Equal(written, (await reading).Length);
    }
}
