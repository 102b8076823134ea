using System.Buffers;
using System.Text;
using Bethrou.Libp2p.Muxing.Yamux;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Libp2p.Tests.Muxing;

/// <summary>Protocol edge cases against a hand-played peer writing raw frames.</summary>
public class YamuxRawPeerTests
{
    private static bool IsGoAway(YamuxHeader h) => h.Type == YamuxFrameType.GoAway;

    [Fact]
    public async Task OpeningSendsSynAtOnceAndFinInItsOwnFrame()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;

        var stream = await session.OpenStreamAsync(ct);
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0), syn!.Value.Header);

        await stream.Output.WriteAsync("hello"u8.ToArray(), ct);
        await stream.Output.CompleteAsync();
        var data = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 5), data!.Value.Header);
        Assert.Equal("hello", Encoding.ASCII.GetString(data.Value.Payload));
        var fin = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0), fin!.Value.Header);
    }

    [Fact]
    public async Task SynWithFirstWriteHoldsTheSynUntilTheFirstFlushThenSendsBothTogether()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;

        var stream = await session.OpenStreamAsync(synWithFirstWrite: true, ct);
        // A ping sent after the open is the first frame on the wire: the SYN was held.
        var ping = session.PingAsync(ct).AsTask();
        var first = await peer.ReadFrameAsync(ct);
        Assert.Equal(YamuxFrameType.Ping, first!.Value.Header.Type);
        Assert.Equal(YamuxFlags.Syn, first.Value.Header.Flags);
        await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, first.Value.Header.Length);
        await ping;

        await stream.Output.WriteAsync("hello"u8.ToArray(), ct);
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0), syn!.Value.Header);
        var data = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 5), data!.Value.Header);
        Assert.Equal("hello", Encoding.ASCII.GetString(data.Value.Payload));
    }

    [Fact]
    public async Task SynWithFirstWriteSendsTheSynWhenTheStreamIsReadFirst()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;

        var stream = await session.OpenStreamAsync(synWithFirstWrite: true, ct);
        var read = stream.Input.ReadAsync(ct).AsTask();
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0), syn!.Value.Header);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Ack, 1, 2, "hi"u8.ToArray());
        var result = await read;
        Assert.Equal("hi", Encoding.ASCII.GetString(result.Buffer.ToArray()));
    }

    [Fact]
    public async Task SynWithFirstWriteSendsSynThenFinForAStreamClosedUnwritten()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;

        var stream = await session.OpenStreamAsync(synWithFirstWrite: true, ct);
        await stream.Output.CompleteAsync();
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0), syn!.Value.Header);
        var fin = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0), fin!.Value.Header);
    }

    [Fact]
    public async Task AcceptingSendsAckWhenTheAppAccepts()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await using var _ = session;

        // hashicorp style: SYN on a Data frame, data before the ACK.
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn, 1, 3, "abc"u8.ToArray());
        Assert.Empty(await peer.SyncAsync(100, ct)); // nothing is sent before the app accepts

        var stream = (await session.AcceptStreamAsync(ct))!;
        var ack = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 0), ack!.Value.Header);
        Assert.Equal("abc", Encoding.ASCII.GetString(await YamuxTest.ReadExactlyAsync(stream.Input, 3, ct)));

        // FIN on an empty Data frame (hashicorp) ends the input cleanly.
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Fin, 1, 0);
        Assert.Empty(await YamuxTest.ReadAllAsync(stream.Input, ct));
    }

    [Fact]
    public async Task PingSynIsAnsweredWithAckEchoingTheValue()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        await peer.WriteRawAsync("0002000100000000deadbeef");
        var frame = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 0xDEADBEEF), frame!.Value.Header);
    }

    [Fact]
    public async Task UnsolicitedPingAckIsIgnored()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 777);
        // Still alive: it answers a ping and accepts a stream.
        Assert.Empty(await peer.SyncAsync(5, ct));
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        var stream = await session.AcceptStreamAsync(ct);
        Assert.Equal(2u, stream!.Id);
        Assert.Null(session.CloseReason);
    }

    [Fact]
    public async Task SessionPingIsMatchedByItsAck()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var ping = session.PingAsync(ct).AsTask();
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(YamuxFrameType.Ping, syn!.Value.Header.Type);
        Assert.Equal(YamuxFlags.Syn, syn.Value.Header.Flags);
        await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, syn.Value.Header.Length + 1); // wrong id: ignored
        Assert.False(ping.IsCompleted);
        await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, syn.Value.Header.Length);
        Assert.True(await ping >= TimeSpan.Zero);
    }

    [Fact]
    public async Task WindowOverrunIsAProtocolError()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        var stream = (await session.AcceptStreamAsync(ct))!;
        await peer.ReadFrameAsync(ct); // ACK

        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 2, 262145, new byte[262145]);
        var goAway = await peer.ReadUntilAsync(IsGoAway, ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 1), goAway.Header);
        Assert.Null(await peer.ReadFrameAsync(ct)); // then the transport is closed

        await YamuxTest.WhenClosed(session, ct);
        Assert.Equal(SessionCloseReason.ProtocolError, session.CloseReason);
        var error = Assert.IsType<YamuxProtocolException>(session.CloseException);
        Assert.Equal("yamux: stream 2 exceeded its receive window (262145 > 262144)", error.Message);
        var streamError = await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync(ct));
        Assert.Same(error, streamError.InnerException);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task WindowOverrunAcrossFramesIsAProtocolError()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        // js-style single large frame that exactly fills the window is fine...
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn, 1, 262144, new byte[262144]);
        Assert.Empty(await peer.SyncAsync(1, ct));
        // ...one more byte before any window update is not.
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 1, [42]);
        await peer.ReadUntilAsync(IsGoAway, ct);
        Assert.Equal("yamux: stream 1 exceeded its receive window (1 > 0)", session.CloseException!.Message);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task LargeJsStyleFrameWithinGrantedWindowIsAccepted()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = (await session.AcceptStreamAsync(ct))!;
        var payload = new byte[262144];
        YamuxTest.FillPattern(payload, 0, 9);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 1, (uint)payload.Length, payload);
        Assert.Equal(payload, await YamuxTest.ReadExactlyAsync(stream.Input, payload.Length, ct));
        // Consuming it grants the window back (one update of at least half the window).
        var update = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.Length > 0, ct);
        Assert.True(update.Header.Length >= 131072);
        Assert.Equal(1u, update.Header.StreamId);
    }

    [Fact]
    public async Task SenderNeverExceedsThePeersWindow()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        var writer = Task.Run(async () =>
        {
            await YamuxTest.WritePatternAsync(stream.Output, 300_000, 1, 32_768, ct);
            await stream.Output.CompleteAsync();
        }, ct);

        long received = 0;
        var frames = new List<(YamuxHeader Header, byte[] Payload)>();
        while (received < 262144)
        {
            var f = (await peer.ReadFrameAsync(ct))!.Value;
            frames.Add(f);
            if (f.Header.Type == YamuxFrameType.Data)
            {
                Assert.True(f.Header.Length <= 64 * 1024);
                received += f.Header.Length;
            }
        }
        Assert.Equal(262144, received);
        // Everything the session wrote before answering this ping: no Data beyond the window.
        Assert.DoesNotContain(await peer.SyncAsync(9, ct), f => f.Header.Type == YamuxFrameType.Data);

        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 1000);
        var more = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Data, ct);
        Assert.Equal(1000u, more.Header.Length);
        Assert.DoesNotContain(await peer.SyncAsync(10, ct), f => f.Header.Type == YamuxFrameType.Data);

        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, 100_000);
        var rest = new List<(YamuxHeader Header, byte[] Payload)>();
        var fin = await peer.ReadUntilAsync(h => (h.Flags & YamuxFlags.Fin) != 0, ct, rest);
        Assert.Equal(YamuxFrameType.WindowUpdate, fin.Header.Type);
        Assert.Equal(300_000 - 263144, rest.Where(f => f.Header.Type == YamuxFrameType.Data).Sum(f => f.Payload.Length));
        await writer;
    }

    [Theory]
    [InlineData(true, 3u, "yamux: peer opened stream 3 with an odd id reserved for this side (both endpoints are clients)")]
    [InlineData(false, 4u, "yamux: peer opened stream 4 with an even id reserved for this side (both endpoints are servers)")]
    public async Task WrongParitySynIsAProtocolError(bool sessionIsClient, uint id, string message)
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, id, 0);
        var goAway = await peer.ReadUntilAsync(IsGoAway, ct);
        Assert.Equal(1u, goAway.Header.Length);
        Assert.Equal(SessionCloseReason.ProtocolError, session.CloseReason);
        Assert.Equal(message, session.CloseException!.Message);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task DuplicateSynIsAProtocolError()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        var goAway = await peer.ReadUntilAsync(IsGoAway, ct);
        Assert.Equal(1u, goAway.Header.Length);
        Assert.Equal("yamux: peer sent SYN for stream 2, which is already open", session.CloseException!.Message);
        await session.DisposeAsync();
    }

    [Theory]
    [InlineData("010100010000000200000000", "yamux: unsupported protocol version 1 (expected 0)")]
    [InlineData("000700010000000200000000", "yamux: invalid frame type 7")]
    [InlineData("000200010000000200000000", "yamux: Ping frame on stream 2 (only allowed on stream 0)")]
    [InlineData("000000000000000000000000", "yamux: Data frame on stream 0 (only Ping and GoAway are allowed there)")]
    [InlineData("000000010000000201000001", "yamux: Data frame of 16777217 bytes on stream 2 exceeds the largest receive window 16777216")]
    public async Task BadHeaderClosesWithGoAwayOne(string hex, string message)
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await peer.WriteRawAsync(hex);
        var goAway = await peer.ReadUntilAsync(IsGoAway, ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 1), goAway.Header);
        Assert.Equal(SessionCloseReason.ProtocolError, session.CloseReason);
        Assert.Equal(message, session.CloseException!.Message);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task AcceptBacklogOverflowGetsRst()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false, YamuxTest.NoKeepAlive(o => o.AcceptBacklog = 2));
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn, 5, 4, "lost"u8.ToArray());
        var rst = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 5, 0), rst!.Value.Header);
        Assert.Equal(2, session.OpenStreamCount);

        // Accepting frees a slot.
        Assert.Equal(1u, (await session.AcceptStreamAsync(ct))!.Id);
        await peer.ReadFrameAsync(ct); // ACK 1
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 7, 0);
        Assert.Equal(3u, (await session.AcceptStreamAsync(ct))!.Id);
        Assert.Equal(7u, (await session.AcceptStreamAsync(ct))!.Id);
    }

    [Fact]
    public async Task FramesForUnknownStreamsAreIgnored()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 8, 5, "junk!"u8.ToArray());
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 8, 0);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 10, 0);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, 100);
        Assert.Empty(await peer.SyncAsync(3, ct));
        Assert.Null(session.CloseReason);
    }

    [Fact]
    public async Task RemoteRstFailsTheStream()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        await peer.ReadFrameAsync(ct); // SYN
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Ack | YamuxFlags.Rst, 1, 0);
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.Remote, error.Kind);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Output.WriteAsync("x"u8.ToArray(), ct));
        Assert.Equal(0, session.OpenStreamCount);
    }

    [Fact]
    public async Task LocalResetSendsRst()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        await peer.ReadFrameAsync(ct); // SYN
        stream.Reset();
        var rst = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0), rst!.Value.Header);
        Assert.Equal(0, session.OpenStreamCount);
    }

    [Fact]
    public async Task EofFailsOpenStreamsAsReset()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn | YamuxFlags.Fin, 3, 4, "done"u8.ToArray());
        var open = (await session.AcceptStreamAsync(ct))!;
        var finished = (await session.AcceptStreamAsync(ct))!;
        await peer.Pipe.Output.CompleteAsync(); // plain EOF, no GoAway

        await YamuxTest.WhenClosed(session, ct);
        Assert.Equal(SessionCloseReason.RemoteClosed, session.CloseReason);
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await open.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.SessionClosed, error.Kind);
        Assert.Equal("yamux: stream 1 ended without FIN because the session closed (RemoteClosed)", error.Message);
        // The stream that got its FIN ends cleanly with all its data.
        Assert.Equal("done", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(finished.Input, ct)));
        await session.DisposeAsync();
    }

    [Fact]
    public async Task EofInsideAFrameIsReported()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn, 1, 10, "half"u8.ToArray());
        await peer.Pipe.Output.CompleteAsync();
        await YamuxTest.WhenClosed(session, ct);
        Assert.Equal(SessionCloseReason.RemoteClosed, session.CloseReason);
        Assert.Equal("yamux: the connection ended inside a frame (6 bytes missing)", session.CloseException!.Message);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task GoAwayNormalStopsNewStreamsButExistingOnesFinish()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        var stream = (await session.AcceptStreamAsync(ct))!;
        await peer.WriteRawAsync("000300000000000000000000"); // GoAway(0)
        Assert.Empty(await peer.SyncAsync(4, ct).ContinueWith(t => t.Result.Where(f => f.Header.Type == YamuxFrameType.Data).ToList(), ct));

        var refused = await Assert.ThrowsAsync<YamuxSessionClosedException>(async () => await session.OpenStreamAsync(ct));
        Assert.Equal("yamux: cannot open a stream, the peer sent GoAway", refused.Message);
        Assert.Null(session.CloseReason);

        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Fin, 2, 3, "bye"u8.ToArray());
        Assert.Equal("bye", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(stream.Input, ct)));
        await stream.Output.WriteAsync("ok"u8.ToArray(), ct);
        var data = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Data, ct);
        Assert.Equal("ok", Encoding.ASCII.GetString(data.Payload));

        await peer.Pipe.Output.CompleteAsync();
        await YamuxTest.WhenClosed(session, ct);
        Assert.Equal(SessionCloseReason.RemoteGoAway, session.CloseReason);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task GoAwayErrorClosesTheSession()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await peer.WriteRawAsync("000300000000000000000002");
        await YamuxTest.WhenClosed(session, ct);
        Assert.Equal(SessionCloseReason.RemoteError, session.CloseReason);
        Assert.Equal("yamux: peer sent GoAway(2, internal error)", session.CloseException!.Message);
        // No GoAway is sent back; the transport output just ends.
        Assert.Empty(await peer.ReadToEndAsync(ct));
        await session.DisposeAsync();
    }

    [Fact]
    public async Task CloseSendsGoAwayZeroThenEndsOutput()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await session.CloseAsync();
        var frames = await peer.ReadToEndAsync(ct);
        Assert.Equal([new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 0)], frames.Select(f => f.Header));
        Assert.Equal(SessionCloseReason.LocalClose, session.CloseReason);
        Assert.Null(session.CloseException);
    }

    [Fact]
    public async Task InitialWindowAboveSpecIsGrantedWithSynAndAck()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true, YamuxTest.NoKeepAlive(o => o.InitialStreamWindow = 1024 * 1024));
        await using var _ = session;
        await session.OpenStreamAsync(ct);
        var syn = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 1024 * 1024 - 262144), syn!.Value.Header);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        await session.AcceptStreamAsync(ct);
        var ack = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 2, 1024 * 1024 - 262144), ack!.Value.Header);
    }

    [Fact]
    public async Task KeepAliveTimeoutClosesTheSession()
    {
        var ct = YamuxTest.Timeout();
        var time = new FakeTimeProvider();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true, new YamuxOptions(), time);

        // The initial RTT ping goes out at once; answer it.
        var first = await peer.ReadFrameAsync(ct);
        Assert.Equal(YamuxFrameType.Ping, first!.Value.Header.Type);
        Assert.Equal(YamuxFlags.Syn, first.Value.Header.Flags);
        await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, first.Value.Header.Length);
        await peer.SyncAsync(1000, ct); // the ACK above has been processed
        Assert.NotNull(session.LastRtt);

        time.Advance(TimeSpan.FromSeconds(10)); // answered: no timeout
        Assert.Null(session.CloseReason);

        time.Advance(TimeSpan.FromSeconds(20)); // t = 30 s: keepalive ping
        var keepAlive = await peer.ReadFrameAsync(ct);
        Assert.Equal(YamuxFrameType.Ping, keepAlive!.Value.Header.Type);
        Assert.Equal(YamuxFlags.Syn, keepAlive.Value.Header.Flags);
        Assert.NotEqual(first.Value.Header.Length, keepAlive.Value.Header.Length);

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Null(session.CloseReason);
        time.Advance(TimeSpan.FromSeconds(1)); // 10 s without an answer
        Assert.Equal(SessionCloseReason.KeepAliveTimeout, session.CloseReason);
        Assert.Equal("yamux: keepalive ping 1 got no answer within 10 s", session.CloseException!.Message);
        Assert.True(session.Closed.IsCancellationRequested);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task InitialPingUnansweredAlsoTimesOut()
    {
        var ct = YamuxTest.Timeout();
        var time = new FakeTimeProvider();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false, new YamuxOptions(), time);
        await peer.ReadFrameAsync(ct);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(SessionCloseReason.KeepAliveTimeout, session.CloseReason);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task PingFloodFromAPeerThatDoesNotReadIsBounded()
    {
        var ct = YamuxTest.Timeout();
        // The session's output blocks after ~1 KiB because the raw peer does not read yet.
        var small = new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512);
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true, sessionToPeer: small);
        await using var _ = session;
        for (uint i = 0; i < 3000; i++)
        {
            await peer.WriteAsync(YamuxFrameType.Ping, YamuxFlags.Syn, 0, i);
        }
        // A stream open behind the flood: once it is accepted, the read loop has been through every ping.
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        await session.AcceptStreamAsync(ct);
        // Now read: the pongs that were kept were queued before the stream's ACK, and control frames go out first.
        var skipped = new List<(YamuxHeader Header, byte[] Payload)>();
        await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.StreamId == 2 && h.Flags == YamuxFlags.Ack, ct, skipped);
        var pongs = skipped.Count(f => f.Header.Type == YamuxFrameType.Ping);
        Assert.Null(session.CloseReason);
        Assert.InRange(pongs, 1024, 2999); // at most ~1024 queued plus what was flushed before the transport blocked
        Assert.DoesNotContain(await peer.SyncAsync(123_456, ct), f => f.Header.Type == YamuxFrameType.Ping);
    }

    [Fact]
    public async Task DataForAReadClosedStreamIsDroppedWithoutGrantingWindow()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = (await session.AcceptStreamAsync(ct))!;
        await stream.Input.CompleteAsync();
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 200_000, new byte[200_000]);
        var frames = await peer.SyncAsync(1, ct);
        Assert.DoesNotContain(frames, f => f.Header.Type == YamuxFrameType.WindowUpdate && f.Header.Length > 0);
        // The window still counts: 62,145 more bytes overrun it.
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 62_145, new byte[62_145]);
        await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway, ct);
        Assert.Equal("yamux: stream 1 exceeded its receive window (62145 > 62144)", session.CloseException!.Message);
    }

    [Fact]
    public async Task GoStyleRstWithErrorCodeResetsTheStream()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        await peer.ReadFrameAsync(ct);
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0x1234);
        var error = await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync(ct));
        Assert.Equal(StreamResetKind.Remote, error.Kind);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Output.WriteAsync(new byte[10], ct));
        Assert.Empty(await peer.SyncAsync(2, ct));
    }

    [Fact]
    public async Task CompletingOutputWithAnErrorResets()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: true);
        await using var _ = session;
        var stream = await session.OpenStreamAsync(ct);
        await peer.ReadFrameAsync(ct);
        await stream.Output.CompleteAsync(new InvalidOperationException("app failed"));
        var rst = await peer.ReadFrameAsync(ct);
        Assert.Equal(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0), rst!.Value.Header);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync(ct));
    }

    [Fact]
    public async Task DataAfterRemoteFinIsIgnored()
    {
        var ct = YamuxTest.Timeout();
        var (session, peer) = YamuxTest.WithRawPeer(sessionIsClient: false);
        await using var _ = session;
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.Syn, 1, 2, "ok"u8.ToArray());
        await peer.WriteAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0);
        await peer.WriteAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 4, "late"u8.ToArray());
        var stream = (await session.AcceptStreamAsync(ct))!;
        Assert.Equal("ok", Encoding.ASCII.GetString(await YamuxTest.ReadAllAsync(stream.Input, ct)));
        Assert.Null(session.CloseReason);
    }
}
