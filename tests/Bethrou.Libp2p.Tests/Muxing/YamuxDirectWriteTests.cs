using Bethrou.Libp2p.Muxing.Yamux;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <summary>Direct writes: a stream's Output.WriteAsync of at least a block is framed straight out of the caller's
/// memory and completes once every byte is framed.</summary>
public class YamuxDirectWriteTests
{
    private const int Window = 256 * 1024; // the spec's initial window, what a raw peer grants

    [Fact]
    public async Task LargeWritesArriveIntactAndTheMemoryIsTheCallersAgainWhenTheWriteCompletes()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        var c = await client.OpenStreamAsync(ct);
        var expected = new byte[3 * 1024 * 1024 + 5];
        var chunk = new byte[200 * 1024];
        var reader = Task.Run(async () => await YamuxTest.ReadAllAsync((await server.AcceptStreamAsync(ct))!.Input, ct), ct);

        for (var offset = 0; offset < expected.Length; offset += chunk.Length)
        {
            var n = Math.Min(chunk.Length, expected.Length - offset);
            YamuxTest.FillPattern(chunk.AsSpan(0, n), offset, 7);
            chunk.AsSpan(0, n).CopyTo(expected.AsSpan(offset));
            await c.Output.WriteAsync(chunk.AsMemory(0, n), ct);
            chunk.AsSpan().Fill(0xEE); // the stream must not read it any more
        }
        await c.Output.CompleteAsync();

        Assert.Equal(expected, await reader);
    }

    [Fact]
    public async Task AWriteBeyondTheWindowCompletesOnlyOnceThePeerGrantsTheRest()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        var data = new byte[Window + 40_000];
        YamuxTest.FillPattern(data, 0, 3);

        var write = stream.Output.WriteAsync(data, ct).AsTask();
        var first = await ReadDataAsync(peer, Window, ct);
        Assert.DoesNotContain(await peer.SyncAsync(1, ct), f => f.Header.Type == YamuxFrameType.Data);
        Assert.False(write.IsCompleted);

        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, stream.Id, 100_000);
        var rest = await ReadDataAsync(peer, 40_000, ct);
        var result = await write.WaitAsync(ct);
        Assert.False(result.IsCompleted);
        Assert.False(result.IsCanceled);
        Assert.Equal(data, first.Concat(rest).ToArray());
    }

    [Fact]
    public async Task BytesWrittenBeforeADirectWriteGoFirst()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        var data = new byte[Window + 50_000];
        YamuxTest.FillPattern(data, 0, 5);

        // Copied into the stream's buffer and flushed, but held back by the window: 10,000 bytes wait there.
        System.Buffers.BuffersExtensions.Write(stream.Output, data.AsSpan(0, Window + 10_000));
        var flush = stream.Output.FlushAsync(ct).AsTask();
        var first = await ReadDataAsync(peer, Window, ct);
        await flush.WaitAsync(ct);
        // Then unflushed bytes: the next large write is copied behind them rather than framed ahead.
        var unflushed = stream.Output.GetSpan(100);
        data.AsSpan(Window + 10_000, 100).CopyTo(unflushed);
        stream.Output.Advance(100);
        var write = stream.Output.WriteAsync(data.AsMemory(Window + 10_100), ct).AsTask();

        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, stream.Id, 1_000_000);
        var rest = await ReadDataAsync(peer, 50_000, ct);
        await write.WaitAsync(ct);
        Assert.Equal(data, first.Concat(rest).ToArray());
    }

    [Fact]
    public async Task ACanceledDirectWriteLosesNothingItsRestGoesOutWhenThePeerGrantsIt()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        var data = new byte[Window + 30_000];
        YamuxTest.FillPattern(data, 0, 9);
        using var cancel = new CancellationTokenSource();

        var write = stream.Output.WriteAsync(data, cancel.Token).AsTask();
        var first = await ReadDataAsync(peer, Window, ct);
        Assert.False(write.IsCompleted);
        cancel.Cancel();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(ct));
        Assert.Equal("yamux: the write was canceled; its bytes stay queued on the stream", error.Message);
        data.AsSpan().Clear(); // the caller's memory is free: the rest was copied

        await stream.Output.WriteAsync(new byte[] { 1, 2, 3 }, ct);
        await stream.Output.CompleteAsync();
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, stream.Id, 1_000_000);
        var rest = new List<(YamuxHeader Header, byte[] Payload)>();
        await peer.ReadUntilAsync(h => (h.Flags & YamuxFlags.Fin) != 0, ct, rest);

        var expected = new byte[Window + 30_000];
        YamuxTest.FillPattern(expected, 0, 9);
        var received = first.Concat(rest.Where(f => f.Header.Type == YamuxFrameType.Data).SelectMany(f => f.Payload)).ToArray();
        Assert.Equal(expected.Concat(new byte[] { 1, 2, 3 }).ToArray(), received);
    }

    [Fact]
    public async Task AResetFailsAPendingDirectWrite()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        var write = stream.Output.WriteAsync(new byte[Window + 1], ct).AsTask();
        await ReadDataAsync(peer, Window, ct);
        Assert.False(write.IsCompleted);

        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, stream.Id, 0);
        var error = await Assert.ThrowsAsync<StreamResetException>(() => write.WaitAsync(ct));
        Assert.Equal(StreamResetKind.Remote, error.Kind);
    }

    [Fact]
    public async Task TheSessionEndingFailsAPendingDirectWrite()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        var stream = await session.OpenStreamAsync(ct);
        var write = stream.Output.WriteAsync(new byte[Window + 1], ct).AsTask();
        await ReadDataAsync(peer, Window, ct);
        Assert.False(write.IsCompleted);

        await session.DisposeAsync();
        var error = await Assert.ThrowsAsync<StreamResetException>(() => write.WaitAsync(ct));
        Assert.Equal(StreamResetKind.SessionClosed, error.Kind);
    }

    [Fact]
    public async Task CopyIntoAnotherStreamIsFramedStraightFromTheSourcesBuffer()
    {
        var ct = YamuxTest.Timeout();
        var (client, server) = YamuxTest.Pair();
        await using var _c = client;
        await using var _s = server;
        var data = new byte[2 * 1024 * 1024 + 17];
        YamuxTest.FillPattern(data, 0, 11);

        // client --a--> server copies a's input into b --b--> client
        var a = await client.OpenStreamAsync(ct);
        var relay = Task.Run(async () =>
        {
            var from = (await server.AcceptStreamAsync(ct))!;
            var to = await server.OpenStreamAsync(ct);
            await from.Input.CopyToAsync(to.Output, ct);
            await to.Output.CompleteAsync();
        }, ct);
        var back = Task.Run(async () => await YamuxTest.ReadAllAsync((await client.AcceptStreamAsync(ct))!.Input, ct), ct);
        await a.Output.WriteAsync(data, ct);
        await a.Output.CompleteAsync();

        Assert.Equal(data, await back);
        await relay;
    }

    private static async Task<byte[]> ReadDataAsync(RawYamuxPeer peer, int count, CancellationToken ct)
    {
        var bytes = new List<byte>(count);
        while (bytes.Count < count)
        {
            var frame = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Data, ct);
            bytes.AddRange(frame.Payload);
        }
        Assert.Equal(count, bytes.Count);
        return [.. bytes];
    }
}
