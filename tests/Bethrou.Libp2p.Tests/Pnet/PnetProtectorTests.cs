using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Bethrou.Libp2p.Multistream;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Tests.Multistream;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Tests.Pnet;

public class PnetProtectorTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60); // only turns a hang into a failure

    [Fact]
    public async Task DialerFirstWireBytesMatchTheDigestVector()
    {
        // libp2p-wire.md §14.5: PSK 00..1f, local nonce 40..57, then the encrypted 0x13 "/multistream/1.0.0\n".
        var psk = PreSharedKey.FromBytes(XSalsa20Tests.Sequence(0, 32));
        var (local, remote) = DuplexPipe.CreatePair();
        var protect = ProtectAsync(local, psk, XSalsa20Tests.Sequence(0x40, 24));

        // Our nonce is on the wire before the remote has sent anything.
        var nonce = await MultistreamSelectTests.ReadExactlyAsync(remote.Input, 24);
        Assert.Equal("404142434445464748494a4b4c4d4e4f5051525354555657", Convert.ToHexStringLower(nonce));
        Assert.False(protect.IsCompleted);

        var remoteNonce = RandomNumberGenerator.GetBytes(24);
        await WriteAsync(remote.Output, remoteNonce);
        var connection = await protect.WaitAsync(Guard);

        await WriteAsync(connection.Output, MultistreamSelectTests.Msg("/multistream/1.0.0"));
        var wire = await MultistreamSelectTests.ReadExactlyAsync(remote.Input, 20);
        Assert.Equal("ea506157f3ad3a9c74f28d52d0b3c82315834f4e", Convert.ToHexStringLower(wire));
    }

    [Fact]
    public async Task CiphertextInTheSamePacketAsTheNonceIsDecrypted()
    {
        var psk = PreSharedKey.Generate();
        var (local, remote) = DuplexPipe.CreatePair();
        var remoteNonce = RandomNumberGenerator.GetBytes(24);
        var plain = "hello after the nonce"u8.ToArray();
        var packet = new byte[24 + plain.Length];
        remoteNonce.CopyTo(packet, 0);
        using (var cipher = new XSalsa20Stream(psk.Key.Span, remoteNonce))
        {
            cipher.Transform(plain, packet.AsSpan(24));
        }
        await WriteAsync(remote.Output, packet);

        var connection = await ProtectAsync(local, psk, RandomNumberGenerator.GetBytes(24)).WaitAsync(Guard);
        Assert.Equal(plain, await MultistreamSelectTests.ReadExactlyAsync(connection.Input, plain.Length));
    }

    [Fact]
    public async Task RoundTripInMemoryWithHalfClose()
    {
        var psk = PreSharedKey.Generate();
        var (a, b) = await ConnectInMemoryAsync(psk, psk);

        await WriteAsync(a.Output, "from a"u8.ToArray());
        await WriteAsync(b.Output, "from b"u8.ToArray());
        Assert.Equal("from a"u8.ToArray(), await MultistreamSelectTests.ReadExactlyAsync(b.Input, 6));
        Assert.Equal("from b"u8.ToArray(), await MultistreamSelectTests.ReadExactlyAsync(a.Input, 6));

        // A half-closes: B sees the end of A's direction and can still answer.
        await WriteAsync(a.Output, "last"u8.ToArray());
        await a.Output.CompleteAsync();
        Assert.Equal("last"u8.ToArray(), await ReadToEndAsync(b.Input));
        await WriteAsync(b.Output, "still open"u8.ToArray());
        Assert.Equal("still open"u8.ToArray(), await MultistreamSelectTests.ReadExactlyAsync(a.Input, 10));
        await b.Output.CompleteAsync();
        Assert.Empty(await ReadToEndAsync(a.Input));
        await a.Input.CompleteAsync();
        await b.Input.CompleteAsync();
    }

    [Fact]
    public async Task TenMebibytesEachWayInMemory()
    {
        var psk = PreSharedKey.Generate();
        var (a, b) = await ConnectInMemoryAsync(psk, psk);
        var fromA = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var fromB = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);

        var results = await Task.WhenAll(
            SendAllAsync(a.Output, fromA, 61 * 1024 + 7), ReadToEndAsync(b.Input),
            SendAllAsync(b.Output, fromB, 1500), ReadToEndAsync(a.Input)).WaitAsync(Guard);
        Assert.True(fromA.AsSpan().SequenceEqual(results[1]), "A to B differs");
        Assert.True(fromB.AsSpan().SequenceEqual(results[3]), "B to A differs");
    }

    [Fact]
    public async Task TenMebibytesEchoedOverLoopbackTcp()
    {
        var psk = PreSharedKey.Generate();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        var accept = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await accept.WaitAsync(Guard);

        var clientPipe = SocketPipe(client);
        var serverPipe = SocketPipe(server);
        var dial = PnetProtector.ProtectAsync(clientPipe, psk, CancellationToken.None).AsTask();
        var listen = PnetProtector.ProtectAsync(serverPipe, psk, CancellationToken.None).AsTask();
        var a = await dial.WaitAsync(Guard);
        var b = await listen.WaitAsync(Guard);

        // B echoes everything it receives and half-closes when A does.
        var echo = EchoAsync(b);
        var data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var send = SendAllAsync(a.Output, data, 100_000);
        var received = await ReadToEndAsync(a.Input).WaitAsync(Guard);
        await send;
        await echo.WaitAsync(Guard);
        Assert.Equal(data.Length, received.Length);
        Assert.True(data.AsSpan().SequenceEqual(received), "echo differs");
        await a.Input.CompleteAsync();
    }

    [Fact]
    public async Task TruncatedNonceIsAClearIOException()
    {
        var (local, remote) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, [1, 2, 3, 4, 5]);
        await remote.Output.CompleteAsync();
        var e = await Assert.ThrowsAsync<IOException>(() => ProtectAsync(local, PreSharedKey.Generate(), RandomNumberGenerator.GetBytes(24)));
        Assert.Equal("pnet: connection closed before the remote's 24-byte nonce (got 5 bytes; is the remote using the same private network?)", e.Message);
    }

    [Fact]
    public async Task PlaintextLibp2pPeerIsRecognised()
    {
        var (local, remote) = DuplexPipe.CreatePair();
        await WriteAsync(remote.Output, MultistreamSelectTests.Msg("/multistream/1.0.0")); // 20 bytes, fewer than a nonce
        var e = await Assert.ThrowsAsync<IOException>(() => ProtectAsync(local, PreSharedKey.Generate(), RandomNumberGenerator.GetBytes(24)));
        Assert.Equal("pnet: the remote is not using a private network: it sent a plaintext /multistream/1.0.0 header instead of a 24-byte nonce", e.Message);
    }

    [Fact]
    public async Task CancellationWhileWaitingForTheNonce()
    {
        var (local, _) = DuplexPipe.CreatePair();
        using var cts = new CancellationTokenSource();
        var protect = PnetProtector.ProtectAsync(local, PreSharedKey.Generate(), cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => protect.WaitAsync(Guard));
    }

    [Fact]
    public async Task TransportErrorReachesTheApplicationReader()
    {
        var psk = PreSharedKey.Generate();
        var (local, remote) = DuplexPipe.CreatePair();
        var connection = await HandshakeWithRawRemoteAsync(local, remote, psk);
        var boom = new IOException("connection reset by peer");
        await remote.Output.CompleteAsync(boom);
        var e = await Assert.ThrowsAsync<IOException>(async () => await ReadToEndAsync(connection.Input));
        Assert.Same(boom, e);
    }

    [Fact]
    public async Task ApplicationErrorReachesTheTransport()
    {
        var psk = PreSharedKey.Generate();
        var (local, remote) = DuplexPipe.CreatePair();
        var connection = await HandshakeWithRawRemoteAsync(local, remote, psk);
        var abort = new InvalidOperationException("stream aborted");
        await connection.Output.CompleteAsync(abort);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await ReadToEndAsync(remote.Input));
        Assert.Same(abort, e);
    }

    [Fact]
    public async Task TransportThatStopsReadingFailsApplicationWrites()
    {
        var psk = PreSharedKey.Generate();
        var (local, remote) = DuplexPipe.CreatePair();
        var connection = await HandshakeWithRawRemoteAsync(local, remote, psk);
        var gone = new IOException("socket closed");
        await remote.Input.CompleteAsync(gone);
        // The writer passes straight through: the write that reaches the completed transport reader fails with its cause.
        var e = await Assert.ThrowsAnyAsync<IOException>(async () => await WriteAsync(connection.Output, [1, 2, 3]));
        Assert.Same(gone, e);
    }

    [Fact]
    public async Task ApplicationThatStopsReadingReleasesTheTransport()
    {
        var psk = PreSharedKey.Generate();
        var (local, remote) = DuplexPipe.CreatePair();
        var connection = await HandshakeWithRawRemoteAsync(local, remote, psk);
        await connection.Input.CompleteAsync();
        // Completing the protected reader completes the transport's reader at once: the remote's writes see it.
        FlushResult flush;
        do
        {
            remote.Output.Write(new byte[1]);
            flush = await remote.Output.FlushAsync().AsTask().WaitAsync(Guard);
            await Task.Yield();
        }
        while (!flush.IsCompleted);
    }

    [Fact]
    public async Task WrongPskMakesMultistreamFailOnBothSides()
    {
        // Fixed keys and nonces make the garbage deterministic; the header check rejects it at once.
        var (rawA, rawB) = DuplexPipe.CreatePair();
        var protectA = PnetProtector.ProtectAsync(rawA, PreSharedKey.FromBytes(XSalsa20Tests.Sequence(0, 32)),
            XSalsa20Tests.Sequence(0x40, 24), PnetConnectionOptions.Default, NullLogger.Instance, CancellationToken.None).AsTask();
        var protectB = PnetProtector.ProtectAsync(rawB, PreSharedKey.FromBytes(XSalsa20Tests.Sequence(1, 32)),
            XSalsa20Tests.Sequence(0x80, 24), PnetConnectionOptions.Default, NullLogger.Instance, CancellationToken.None).AsTask();
        var a = await protectA.WaitAsync(Guard);
        var b = await protectB.WaitAsync(Guard);

        var select = MultistreamSelect.SelectOneAsync(a, ["/noise"], CancellationToken.None).AsTask();
        var handle = MultistreamSelect.HandleAsync(b, ["/noise"], CancellationToken.None).AsTask();
        var responder = await Assert.ThrowsAsync<NegotiationFailedException>(() => handle.WaitAsync(Guard));
        Assert.StartsWith("multistream: ", responder.Message);
        Assert.EndsWith(" — wrong private network key (PSK) or not a libp2p peer?", responder.Message);

        // The responder's owner closes the connection; the initiator fails too (on garbage or on the close).
        await b.Output.CompleteAsync();
        var initiator = await Assert.ThrowsAsync<NegotiationFailedException>(() => select.WaitAsync(Guard));
        Assert.EndsWith(" — wrong private network key (PSK) or not a libp2p peer?", initiator.Message);
    }

    [Fact]
    public async Task SamePskNegotiatesThroughPnet()
    {
        var psk = PreSharedKey.Generate();
        var (a, b) = await ConnectInMemoryAsync(psk, psk);
        var handle = MultistreamSelect.HandleAsync(b, ["/noise"], CancellationToken.None).AsTask();
        Assert.Equal("/noise", await MultistreamSelect.SelectOneAsync(a, ["/tls/1.0.0", "/noise"], CancellationToken.None).AsTask().WaitAsync(Guard));
        Assert.Equal("/noise", await handle.WaitAsync(Guard));
    }

    [Fact]
    public async Task BytesLeftUnconsumedAcrossReadsAreDecryptedOnce()
    {
        // The reader decrypts in place: bytes that stay in the transport pipe across reads (examined, not consumed)
        // must not be XORed again, and later bytes must continue the keystream.
        var psk = PreSharedKey.Generate();
        var (a, b) = await ConnectInMemoryAsync(psk, psk);
        var data = RandomNumberGenerator.GetBytes(100_000);
        var received = new MemoryStream();
        var sent = 0;
        while (received.Length < data.Length)
        {
            if (sent < data.Length)
            {
                var n = Math.Min(7_001, data.Length - sent);
                await WriteAsync(a.Output, data.AsMemory(sent, n).ToArray());
                sent += n;
            }
            var result = await b.Input.ReadAsync().AsTask().WaitAsync(Guard);
            var buffer = result.Buffer;
            // Consume a third of what is there (at least one byte); examine all of it while more is coming (the next
            // read then waits for new bytes, which land behind the unconsumed ones).
            var take = Math.Max(1, buffer.Length / 3);
            foreach (var segment in buffer.Slice(0, take))
            {
                received.Write(segment.Span);
            }
            b.Input.AdvanceTo(buffer.GetPosition(take), sent < data.Length ? buffer.End : buffer.GetPosition(take));
        }
        Assert.True(data.AsSpan().SequenceEqual(received.ToArray()), "plaintext differs");
    }

    private static Task<PnetConnection> ProtectAsync(IDuplexPipe inner, PreSharedKey psk, byte[] nonce) =>
        PnetProtector.ProtectAsync(inner, psk, nonce, PnetConnectionOptions.Default, NullLogger.Instance, CancellationToken.None).AsTask().WaitAsync(Guard);

    private static async Task<(PnetConnection A, PnetConnection B)> ConnectInMemoryAsync(PreSharedKey pskA, PreSharedKey pskB)
    {
        var (rawA, rawB) = DuplexPipe.CreatePair();
        var a = ProtectAsync(rawA, pskA, RandomNumberGenerator.GetBytes(24));
        var b = ProtectAsync(rawB, pskB, RandomNumberGenerator.GetBytes(24));
        return (await a, await b);
    }

    private static async Task<PnetConnection> HandshakeWithRawRemoteAsync(IDuplexPipe local, IDuplexPipe remote, PreSharedKey psk)
    {
        var protect = ProtectAsync(local, psk, RandomNumberGenerator.GetBytes(24));
        await MultistreamSelectTests.ReadExactlyAsync(remote.Input, 24);
        await WriteAsync(remote.Output, RandomNumberGenerator.GetBytes(24));
        return await protect;
    }

    private static IDuplexPipe SocketPipe(TcpClient client)
    {
        var stream = client.GetStream();
        // leaveOpen: completing the reader must not dispose the stream the writer still uses.
        return new DuplexPipe(PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)), new ShutdownOnCompleteWriter(PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)), client.Client));
    }

    private static async Task EchoAsync(IDuplexPipe pipe)
    {
        while (true)
        {
            var result = await pipe.Input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                pipe.Output.Write(segment.Span);
            }
            pipe.Input.AdvanceTo(result.Buffer.End);
            await pipe.Output.FlushAsync();
            if (result.IsCompleted)
            {
                break;
            }
        }
        await pipe.Input.CompleteAsync();
        await pipe.Output.CompleteAsync();
    }

    private static async Task<byte[]> SendAllAsync(PipeWriter output, byte[] data, int chunk)
    {
        for (var offset = 0; offset < data.Length; offset += chunk)
        {
            output.Write(data.AsSpan(offset, Math.Min(chunk, data.Length - offset)));
            await output.FlushAsync();
        }
        await output.CompleteAsync();
        return [];
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader input)
    {
        var received = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return received.WrittenSpan.ToArray();
            }
        }
    }

    private static async Task WriteAsync(PipeWriter writer, byte[] bytes)
    {
        writer.Write(bytes);
        var result = await writer.FlushAsync();
        if (result.IsCompleted)
        {
            throw new IOException("reader completed");
        }
    }

    /// <summary>Completing the writer half-closes the socket (FIN) instead of closing it.</summary>
    private sealed class ShutdownOnCompleteWriter(PipeWriter inner, Socket socket) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            socket.Shutdown(SocketShutdown.Send);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception);
            socket.Shutdown(SocketShutdown.Send);
        }
    }
}
