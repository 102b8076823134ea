using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Tests.Muxing;
using Bethrou.Libp2p.Transport.Tcp;

namespace Bethrou.Libp2p.Tests.Transport;

public class SocketPipeTests
{
    [Fact]
    public async Task AConnectionWaitingForItsPeerHoldsNoReceiveBuffer()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ct = timeout.Token;
        var pool = new CountingPool();
        var (peer, local) = await ConnectedPairAsync();
        using var _ = peer;
        await using var pipe = new SocketPipe(local, new PipeOptions(pool: pool, minimumSegmentSize: 64 * 1024, useSynchronizationContext: false));

        for (var round = 1; round <= 3; round++)
        {
            var sent = Enumerable.Range(0, 1000 * round).Select(i => (byte)(i * round)).ToArray();
            await peer.SendAsync(sent, SocketFlags.None, ct);
            var received = await YamuxTest.ReadExactlyAsync(pipe.Input, sent.Length, ct);
            Assert.Equal(sent, received);

            // Everything read and consumed: the receive loop waits for the next bytes without a buffer rented.
            while (pool.Outstanding != 0)
            {
                await Task.Yield();
                ct.ThrowIfCancellationRequested();
            }
        }

        // And it still notices the end of the stream while it holds nothing.
        peer.Shutdown(SocketShutdown.Send);
        var end = await pipe.Input.ReadAsync(ct);
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
        pipe.Input.AdvanceTo(end.Buffer.End);
    }

    [Fact]
    public async Task AReadThatFillsItsBufferGoesOnReadingAndDeliversEverything()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ct = timeout.Token;
        var (peer, local) = await ConnectedPairAsync();
        using var _ = peer;
        await using var pipe = new SocketPipe(local);
        var sent = new byte[8 * 1024 * 1024 + 3];
        Random.Shared.NextBytes(sent);

        var send = Task.Run(async () =>
        {
            await peer.SendAsync(sent, SocketFlags.None, ct);
            peer.Shutdown(SocketShutdown.Send);
        }, ct);
        var received = await YamuxTest.ReadAllAsync(pipe.Input, ct);
        await send;
        Assert.True(sent.AsSpan().SequenceEqual(received));
    }

    private static async Task<(Socket Peer, Socket Local)> ConnectedPairAsync()
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var peer = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(listener.LocalEndPoint!);
        return (peer, await listener.AcceptAsync());
    }

    /// <summary>Counts the buffers rented and not yet returned.</summary>
    private sealed class CountingPool : MemoryPool<byte>
    {
        private int _outstanding;

        public int Outstanding => Volatile.Read(ref _outstanding);

        public override int MaxBufferSize => int.MaxValue;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _outstanding);
            return new Owner(this, new byte[Math.Max(minBufferSize, 4096)]);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(CountingPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref pool._outstanding);
                }
            }
        }
    }
}
