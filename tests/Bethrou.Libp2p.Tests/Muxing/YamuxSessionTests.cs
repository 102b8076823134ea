using System.Text;
using Xunit.Abstractions;
using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <remarks>Runs alone: ThousandIdleStreamsStayCheap measures the process heap, which tests running beside it would inflate.</remarks>
[Collection(MemorySensitiveCollection.Name)]
public class YamuxSessionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task OpenAcceptEcho()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var echo = Task.Run(async () =>
        {
            var stream = await server.AcceptStreamAsync(ct);
            Assert.NotNull(stream);
            Assert.Equal(1u, stream!.Id);
            Assert.False(stream.IsOutbound);
            var data = await YamuxTest.ReadAllAsync(stream.Input, ct);
            await stream.Output.WriteAsync(data, ct);
            await stream.Output.CompleteAsync();
        }, ct);

        var s = await client.OpenStreamAsync(ct);
        Assert.Equal(1u, s.Id);
        await s.Output.WriteAsync("hello yamux"u8.ToArray(), ct);
        await s.Output.CompleteAsync();
        var back = await YamuxTest.ReadAllAsync(s.Input, ct);
        Assert.Equal("hello yamux", Encoding.ASCII.GetString(back));
        await echo;

        var s2 = await client.OpenStreamAsync(ct);
        Assert.Equal(3u, s2.Id);
        var fromServer = await server.OpenStreamAsync(ct);
        Assert.Equal(2u, fromServer.Id);
    }

    [Fact]
    public async Task HalfCloseBothDirections()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("request"u8.ToArray(), ct);
        await c.Output.CompleteAsync(); // client write side closed

        var s = (await server.AcceptStreamAsync(ct))!;
        Assert.Equal("request", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(s.Input, ct)));

        // The client still receives after closing its write side, in several pieces.
        for (var i = 0; i < 3; i++)
        {
            await s.Output.WriteAsync(Encoding.ASCII.GetBytes($"part{i};"), ct);
            Assert.Equal($"part{i};", Encoding.ASCII.GetString(await YamuxTest.ReadExactlyAsync(c.Input, 6, ct)));
        }
        await s.Output.CompleteAsync();
        var rest = await c.Input.ReadAsync(ct);
        Assert.True(rest.IsCompleted);
        Assert.True(rest.Buffer.IsEmpty);
        c.Input.AdvanceTo(rest.Buffer.End);

        // The other direction: server closes first, client keeps writing.
        var c2 = await client.OpenStreamAsync(ct);
        await c2.Output.WriteAsync("x"u8.ToArray(), ct);
        var s2 = (await server.AcceptStreamAsync(ct))!;
        await s2.Output.CompleteAsync();
        var eof = await c2.Input.ReadAsync(ct);
        Assert.True(eof.IsCompleted);
        c2.Input.AdvanceTo(eof.Buffer.End);
        await c2.Output.WriteAsync("more"u8.ToArray(), ct);
        await c2.Output.CompleteAsync();
        Assert.Equal("xmore", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(s2.Input, ct)));
    }

    [Fact]
    public async Task StreamsAreRemovedOnceBothSidesFinished()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("a"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        Assert.Equal(1, client.OpenStreamCount);
        await c.Output.CompleteAsync();
        await YamuxTest.ReadAllAsync(s.Input, ct);
        await s.Output.CompleteAsync();
        await YamuxTest.ReadAllAsync(c.Input, ct);
        // Both FINs seen on the client; the server removes once its FIN is written. Ping round trips order it.
        await client.PingAsync(ct);
        await server.PingAsync(ct);
        Assert.Equal(0, client.OpenStreamCount);
        Assert.Equal(0, server.OpenStreamCount);
    }

    [Fact]
    public async Task ResetFromClientFailsServerBothWays()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        await YamuxTest.ReadExactlyAsync(s.Input, 1, ct);

        c.Reset();
        var local = await Assert.ThrowsAsync<StreamResetException>(async () => await c.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.Local, local.Kind);
        await Assert.ThrowsAsync<StreamResetException>(async () => await c.Output.WriteAsync("y"u8.ToArray(), ct));

        var remote = await Assert.ThrowsAsync<StreamResetException>(async () => await s.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.Remote, remote.Kind);
        Assert.Equal(1u, remote.StreamId);
        Assert.Equal("yamux: stream 1 was reset by the peer", remote.Message);
        await Assert.ThrowsAsync<StreamResetException>(async () => await s.Output.WriteAsync("z"u8.ToArray(), ct));
        Assert.Null(client.CloseReason);
        Assert.Null(server.CloseReason);
    }

    [Fact]
    public async Task ResetFromServerFailsPendingClientRead()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var pendingRead = c.Input.ReadAsync(ct).AsTask();
        var s = (await server.AcceptStreamAsync(ct))!;
        s.Reset();
        var error = await Assert.ThrowsAsync<StreamResetException>(() => pendingRead);
        Assert.Equal(StreamResetKind.Remote, error.Kind);
        await Assert.ThrowsAsync<StreamResetException>(async () => await c.Output.WriteAsync("y"u8.ToArray(), ct));
        Assert.Null(client.CloseReason);
    }

    [Fact]
    public async Task ResetUnblocksWriterWaitingForWindow()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;

        var c = await client.OpenStreamAsync(ct);
        var s = (await server.AcceptStreamAsync(ct))!; // never reads: window + send buffer fill up
        var writer = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            while (true)
            {
                await c.Output.WriteAsync(chunk, ct);
            }
        }, ct);
        // Wait (by round trips, not time) until the server side holds a full window.
        while (s.Input.TryRead(out var r) is var got && (!got || r.Buffer.Length < 256 * 1024))
        {
            if (got)
            {
                s.Input.AdvanceTo(r.Buffer.Start, r.Buffer.End);
            }
            await client.PingAsync(ct);
        }
        s.Reset();
        await Assert.ThrowsAsync<StreamResetException>(() => writer);
    }

    [Fact]
    public async Task Transfer64MiBSingleStreamWithWindowGrowth()
    {
        var ct = YamuxTest.Timeout(120);
        // No keepalive on the server: its own ping would overwrite the RTT set below.
        var (client, server) = YamuxTest.Pair(server: YamuxTest.NoKeepAlive());
        await using var _c = client;
        await using var _s = server;
        // A long RTT makes every window update "fast", so the receive window must grow to the 16 MiB cap.
        server.SetRttForTesting(TimeSpan.FromSeconds(1));
        const long total = 64L * 1024 * 1024;

        var c = await client.OpenStreamAsync(ct);
        var send = Task.Run(async () =>
        {
            await YamuxTest.WritePatternAsync(c.Output, total, seed: 7, chunk: 100_003, ct);
            await c.Output.CompleteAsync();
        }, ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        var received = await YamuxTest.ReadAndVerifyPatternAsync(s.Input, seed: 7, ct);
        await send;
        Assert.Equal(total, received);
        Assert.Equal(16 * 1024 * 1024, s.ReceiveWindowTarget);
    }

    [Fact]
    public async Task Transfer64MiBWithMeasuredRtt()
    {
        var ct = YamuxTest.Timeout(120);
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        await server.PingAsync(ct);
        const long total = 64L * 1024 * 1024;

        var s0 = client.OpenStreamAsync(ct);
        var c = await s0;
        var send = Task.Run(async () =>
        {
            await YamuxTest.WritePatternAsync(c.Output, total, seed: 3, chunk: 65536, ct);
            await c.Output.CompleteAsync();
        }, ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        Assert.Equal(total, await YamuxTest.ReadAndVerifyPatternAsync(s.Input, seed: 3, ct));
        await send;
        Assert.InRange(s.ReceiveWindowTarget, 256 * 1024, 16 * 1024 * 1024);
    }

    [Fact]
    public async Task EightConcurrentStreamsBothDirections()
    {
        var ct = YamuxTest.Timeout(120);
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        const long perStream = 4L * 1024 * 1024;

        var serverSide = Task.Run(async () =>
        {
            var tasks = new List<Task>();
            for (var i = 0; i < 8; i++)
            {
                var s = (await server.AcceptStreamAsync(ct))!;
                tasks.Add(Task.Run(async () =>
                {
                    var seed = (int)s.Id;
                    var write = Task.Run(async () =>
                    {
                        await YamuxTest.WritePatternAsync(s.Output, perStream, seed + 1000, 30_000, ct);
                        await s.Output.CompleteAsync();
                    }, ct);
                    Assert.Equal(perStream, await YamuxTest.ReadAndVerifyPatternAsync(s.Input, seed, ct));
                    await write;
                }, ct));
            }
            await Task.WhenAll(tasks);
        }, ct);

        var clientTasks = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var c = await client.OpenStreamAsync(ct);
            var seed = (int)c.Id;
            var write = Task.Run(async () =>
            {
                await YamuxTest.WritePatternAsync(c.Output, perStream, seed, 50_000, ct);
                await c.Output.CompleteAsync();
            }, ct);
            Assert.Equal(perStream, await YamuxTest.ReadAndVerifyPatternAsync(c.Input, seed + 1000, ct));
            await write;
        }, ct)).ToArray();

        await Task.WhenAll(clientTasks);
        await serverSide;
        Assert.Null(client.CloseReason);
    }

    [Fact]
    public async Task ThousandIdleStreamsStayCheap()
    {
        var ct = YamuxTest.Timeout(120);
        var (client, server) = YamuxTest.Pair(new YamuxOptions { MaxOutboundStreams = 2000 }, new YamuxOptions { AcceptBacklog = 1000 });
        await using var _c = client;
        await using var _s = server;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var workingSetBefore = Environment.WorkingSet;

        var opened = new List<YamuxStream>();
        for (var i = 0; i < 1000; i++)
        {
            opened.Add(await client.OpenStreamAsync(ct));
        }
        var accepted = new List<YamuxStream>();
        for (var i = 0; i < 1000; i++)
        {
            accepted.Add((await server.AcceptStreamAsync(ct))!);
        }
        // Each stream carries a few bytes each way (read in full), then sits idle.
        for (var i = 0; i < 1000; i++)
        {
            await opened[i].Output.WriteAsync("ping"u8.ToArray(), ct);
            await YamuxTest.ReadExactlyAsync(accepted[i].Input, 4, ct);
            await accepted[i].Output.WriteAsync("pong"u8.ToArray(), ct);
            await YamuxTest.ReadExactlyAsync(opened[i].Input, 4, ct);
        }
        await client.PingAsync(ct); // the ACKs have been processed
        Assert.Equal(1000, client.OpenStreamCount);
        Assert.Equal(1000, server.OpenStreamCount);

        var after = GC.GetTotalMemory(forceFullCollection: true);
        var growth = after - before;
        var workingSetGrowth = Environment.WorkingSet - workingSetBefore;
        output.WriteLine($"1000 idle streams after 4 bytes each way (both ends, 2000 stream objects): managed heap +{growth / 1024.0 / 1024.0:F2} MiB ({growth / 2000} bytes per stream end); process working set +{workingSetGrowth / 1024.0 / 1024.0:F2} MiB (noisy: other tests run in parallel)");
        Assert.True(growth < 50L * 1024 * 1024, $"1000 idle streams on both ends grew the heap by {growth} bytes");

        // The 1001st inbound stream is refused (MaxInboundStreams 1000) with RST.
        var extra = await client.OpenStreamAsync(ct);
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await extra.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.Remote, error.Kind);

        // And every stream still works.
        await opened[999].Output.WriteAsync("last"u8.ToArray(), ct);
        Assert.Equal("last", Encoding.ASCII.GetString(await YamuxTest.ReadExactlyAsync(accepted[999].Input, 4, ct)));
        GC.KeepAlive(opened);
        GC.KeepAlive(accepted);
    }

    [Fact]
    public async Task PingMeasuresRtt()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        var rtt = await client.PingAsync(ct);
        Assert.True(rtt > TimeSpan.Zero);
        Assert.NotNull(client.LastRtt);
        var rtt2 = await server.PingAsync(ct);
        Assert.True(rtt2 > TimeSpan.Zero);
    }

    [Fact]
    public async Task CloseFailsOpenStreamsAndPeerSeesGoAway()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        await YamuxTest.ReadExactlyAsync(s.Input, 1, ct);

        await client.CloseAsync();
        Assert.Equal(SessionCloseReason.LocalClose, client.CloseReason);
        Assert.True(client.Closed.IsCancellationRequested);
        Assert.Null(await client.AcceptStreamAsync(ct));
        await Assert.ThrowsAsync<YamuxSessionClosedException>(async () => await client.OpenStreamAsync(ct));

        // The server sees GoAway(0) then EOF; its stream never got a FIN, so it is a reset, not a clean end.
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await s.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.SessionClosed, error.Kind);
        Assert.Null(await server.AcceptStreamAsync(ct));
        Assert.Equal(SessionCloseReason.RemoteGoAway, server.CloseReason);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task AbortClosesWithoutGoAway()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        await YamuxTest.ReadExactlyAsync(s.Input, 1, ct);
        var cause = new InvalidOperationException("test abort");
        client.Abort(cause);
        Assert.Equal(SessionCloseReason.Aborted, client.CloseReason);
        Assert.Same(cause, client.CloseException);
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await c.Input.ReadAsync(ct));
        Assert.Same(cause, error.InnerException);
        await Assert.ThrowsAsync<StreamResetException>(async () => await s.Input.ReadAsync(ct));
        Assert.Null(await server.AcceptStreamAsync(ct));
        Assert.Equal(SessionCloseReason.RemoteClosed, server.CloseReason);
        await client.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task FinishedStreamStaysReadableAfterSessionEnds()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("complete"u8.ToArray(), ct);
        await c.Output.CompleteAsync();
        var s = (await server.AcceptStreamAsync(ct))!;
        await client.PingAsync(ct); // data and FIN are at the server
        await server.PingAsync(ct);
        await client.CloseAsync();
        Assert.Equal("complete", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(s.Input, ct)));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task OutboundStreamLimit()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair(new YamuxOptions { MaxOutboundStreams = 2 });
        await using var _c = client;
        await using var _s = server;
        await client.OpenStreamAsync(ct);
        await client.OpenStreamAsync(ct);
        var error = await Assert.ThrowsAsync<YamuxStreamLimitException>(async () => await client.OpenStreamAsync(ct));
        Assert.Equal("yamux: cannot open a stream, 2 outbound streams are open (MaxOutboundStreams 2)", error.Message);
    }

    [Fact]
    public async Task DisposedStreamIsReleasedAfterRemoteFin()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        var c = await client.OpenStreamAsync(ct);
        await c.Output.WriteAsync("x"u8.ToArray(), ct);
        var s = (await server.AcceptStreamAsync(ct))!;
        await c.DisposeAsync(); // FIN + stop reading: removed once the FIN is written
        Assert.Equal("x", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(s.Input, ct)));
        await s.DisposeAsync();
        await client.PingAsync(ct);
        await server.PingAsync(ct);
        Assert.Equal(0, client.OpenStreamCount);
        Assert.Equal(0, server.OpenStreamCount);
    }
}
