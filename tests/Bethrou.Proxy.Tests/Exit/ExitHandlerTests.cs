using System.Net;
using System.Net.Sockets;
using System.Text;
using Bethrou.Proxy.Exit;
using Bethrou.Proxy.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Bethrou.Proxy.Tests.Exit.ExitTestKit;

namespace Bethrou.Proxy.Tests.Exit;

public sealed class ExitHandlerTests
{
    private static ExitOptions Lab() => new() { AllowPrivate = true };

    [Fact]
    public async Task Ok_path_relays_data_both_ways_and_keeps_pipelined_bytes()
    {
        using var origin = new LoopbackOrigin();
        var handler = Handler(Lab());
        var (client, handled) = Open(handler, PeerA);

        // Request and first payload in one write, as a lazy client could send them.
        ProxyMessageCodec.WriteRequest(client.Output, new ProxyRequest(origin.Address));
        await client.Output.WriteAsync("ping"u8.ToArray());
        using var server = await origin.AcceptAsync();
        var response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.True(response.IsOk);

        var buf = new byte[4];
        var got = 0;
        while (got < 4)
        {
            got += await server.ReceiveAsync(buf.AsMemory(got), SocketFlags.None);
        }
        Assert.Equal("ping", Encoding.ASCII.GetString(buf));
        await server.SendAsync("pong"u8.ToArray(), SocketFlags.None);
        server.Shutdown(SocketShutdown.Send);

        Assert.Equal("pong", Encoding.ASCII.GetString(await ReadToEndAsync(client.Input)));
        await client.Output.CompleteAsync();
        Assert.Empty(await ReceiveToEndAsync(server));

        var result = await handled;
        Assert.Equal(ExitStreamOutcome.Tunneled, result.Outcome);
        Assert.Equal(ExitPumpOutcome.Completed, result.Pump!.Value.Outcome);
        Assert.Equal(4, result.Pump.Value.BytesToOrigin);
        Assert.Equal(4, result.Pump.Value.BytesFromOrigin);
        Assert.Equal(0, handler.ActiveStreams);
    }

    [Fact]
    public async Task Client_half_close_still_receives_the_full_response()
    {
        using var origin = new LoopbackOrigin();
        var handler = Handler(Lab());
        var (client, handled) = Open(handler, PeerA);
        var body = Pattern(100_000, 1);
        var reply = Pattern(1_000_000, 2);

        var originTask = Task.Run(async () =>
        {
            using var s = await origin.AcceptAsync();
            var received = await ReceiveToEndAsync(s); // replies only after the client's EOF
            var sent = 0;
            while (sent < reply.Length)
            {
                sent += await s.SendAsync(reply.AsMemory(sent), SocketFlags.None);
            }
            s.Shutdown(SocketShutdown.Send);
            return received;
        });

        Assert.True((await RequestAsync(client, new ProxyRequest(origin.Address))).IsOk);
        await client.Output.WriteAsync(body);
        await client.Output.CompleteAsync(); // half-close

        var got = await ReadToEndAsync(client.Input);
        Assert.Equal(body, await originTask);
        Assert.Equal(reply.Length, got.Length);
        Assert.Equal(reply, got);
        var result = await handled;
        Assert.Equal(ExitPumpOutcome.Completed, result.Pump!.Value.Outcome);
    }

    [Fact]
    public async Task Origin_half_close_lets_the_client_keep_sending()
    {
        using var origin = new LoopbackOrigin();
        var handler = Handler(Lab());
        var (client, handled) = Open(handler, PeerA);
        var upload = Pattern(1_000_000, 3);

        var originTask = Task.Run(async () =>
        {
            using var s = await origin.AcceptAsync();
            await s.SendAsync("hello"u8.ToArray(), SocketFlags.None);
            s.Shutdown(SocketShutdown.Send); // the origin is done talking, but still listens
            return await ReceiveToEndAsync(s);
        });

        Assert.True((await RequestAsync(client, new ProxyRequest(origin.Address))).IsOk);
        Assert.Equal("hello", Encoding.ASCII.GetString(await ReadToEndAsync(client.Input)));
        await client.Output.WriteAsync(upload);
        await client.Output.CompleteAsync();

        Assert.Equal(upload, await originTask);
        Assert.Equal(ExitPumpOutcome.Completed, (await handled).Pump!.Value.Outcome);
    }

    [Fact]
    public async Task Silent_direction_is_never_killed_as_idle()
    {
        using var origin = new LoopbackOrigin();
        var time = new FakeTimeProvider();
        var handler = Handler(Lab(), time: time);
        var (client, handled) = Open(handler, PeerA);

        Assert.True((await RequestAsync(client, new ProxyRequest(origin.Address))).IsOk);
        using var server = await origin.AcceptAsync();
        time.Advance(TimeSpan.FromHours(3)); // well past Go V2's 2-minute idle deadline

        await server.SendAsync("still here"u8.ToArray(), SocketFlags.None);
        server.Shutdown(SocketShutdown.Send);
        Assert.Equal("still here", Encoding.ASCII.GetString(await ReadToEndAsync(client.Input)));
        await client.Output.CompleteAsync();
        Assert.Empty(await ReceiveToEndAsync(server));
        Assert.Equal(ExitPumpOutcome.Completed, (await handled).Pump!.Value.Outcome);
    }

    [Fact]
    public async Task Origin_reset_aborts_the_stream()
    {
        using var origin = new LoopbackOrigin();
        var handler = Handler(Lab());
        var aborted = 0;
        var (c2, s2) = Bethrou.Libp2p.Transport.DuplexPipe.CreatePair();
        var handled = handler.HandleAsync(s2, PeerA, () => Interlocked.Increment(ref aborted), CancellationToken.None).AsTask();

        Assert.True((await RequestAsync(c2, new ProxyRequest(origin.Address))).IsOk);
        using (var server = await origin.AcceptAsync())
        {
            server.LingerState = new LingerOption(true, 0); // close with RST
        }
        await Assert.ThrowsAnyAsync<Exception>(async () => await ReadToEndAsync(c2.Input));
        var result = await handled;
        Assert.Equal(ExitPumpOutcome.OriginFailed, result.Pump!.Value.Outcome);
        Assert.Equal(1, aborted);
    }

    [Fact]
    public async Task Stream_failure_resets_the_origin()
    {
        using var origin = new LoopbackOrigin();
        var handler = Handler(Lab());
        var (client, handled) = Open(handler, PeerA);
        Assert.True((await RequestAsync(client, new ProxyRequest(origin.Address))).IsOk);
        using var server = await origin.AcceptAsync();

        await client.Output.CompleteAsync(new IOException("stream reset by peer"));
        var result = await handled;
        Assert.Equal(ExitPumpOutcome.StreamFailed, result.Pump!.Value.Outcome);
        await Assert.ThrowsAsync<SocketException>(async () => await ReceiveToEndAsync(server));
    }

    [Fact]
    public async Task Refused_port_maps_to_connection_refused()
    {
        var port = LoopbackOrigin.FreePort();
        var (client, handled) = Open(Handler(Lab()), PeerA);
        var response = await RequestAsync(client, new ProxyRequest($"127.0.0.1:{port}"));
        Assert.False(response.IsOk);
        Assert.Equal("connection_refused", response.Code);
        Assert.Equal($"dial tcp 127.0.0.1:{port}: connect: connection refused", response.Message);
        Assert.Equal(0x05, response.ErrorCode.ToSocksReply());
        Assert.True((await ReadToEndAsync(client.Input)).Length == 0);
        Assert.Equal(ExitStreamOutcome.DialFailed, (await handled).Outcome);
    }

    [Fact]
    public async Task Policy_refuses_loopback_without_dialing()
    {
        using var origin = new LoopbackOrigin();
        var (client, handled) = Open(Handler(new ExitOptions()), PeerA);
        var response = await RequestAsync(client, new ProxyRequest(origin.Address));
        Assert.Equal("not_allowed", response.Code);
        Assert.Equal("destination 127.0.0.1 is a loopback address; not allowed by this exit node's egress policy", response.Message);
        Assert.Equal(0x02, response.ErrorCode.ToSocksReply());
        Assert.Equal(ExitStreamOutcome.DialFailed, (await handled).Outcome);
        Assert.False(origin.HasPendingConnection);
    }

    [Fact]
    public async Task Localhost_name_is_refused_on_its_resolved_address()
    {
        using var origin = new LoopbackOrigin();
        var (client, _) = Open(Handler(new ExitOptions()), PeerA);
        var response = await RequestAsync(client, new ProxyRequest($"localhost:{origin.Port}"));
        Assert.Equal("not_allowed", response.Code);
        Assert.StartsWith("destination \"localhost\" resolved to ", response.Message);
        Assert.Contains("loopback address; not allowed", response.Message);
        Assert.False(origin.HasPendingConnection);
    }

    [Fact]
    public async Task Rebinding_name_is_judged_on_what_it_resolves_to()
    {
        using var origin = new LoopbackOrigin();
        var resolver = new StaticResolver(new() { ["rebind.example"] = [IPAddress.Parse("169.254.169.254"), IPAddress.Parse("10.0.0.1")] });
        var (client, _) = Open(Handler(new ExitOptions(), resolver), PeerA);
        var response = await RequestAsync(client, new ProxyRequest("rebind.example:80"));
        Assert.Equal("not_allowed", response.Code);
        Assert.Equal("destination \"rebind.example\" resolved to 169.254.169.254, a link-local address; not allowed by this exit node's egress policy",
            response.Message);
    }

    [Fact]
    public async Task Denied_port_is_refused_before_resolving()
    {
        using var origin = new LoopbackOrigin();
        var resolver = new StaticResolver(new() { ["origin.test"] = [IPAddress.Loopback] });
        var options = new ExitOptions { AllowPrivate = true, DeniedPorts = [origin.Port] };
        var (client, _) = Open(Handler(options, resolver), PeerA);
        var response = await RequestAsync(client, new ProxyRequest($"origin.test:{origin.Port}"));
        Assert.Equal("not_allowed", response.Code);
        Assert.Equal($"destination port {origin.Port} is not allowed by this exit node", response.Message);
        Assert.Equal(0, resolver.Calls);
        Assert.False(origin.HasPendingConnection);
    }

    [Fact]
    public async Task Unresolvable_name_is_host_unreachable()
    {
        var (client, _) = Open(Handler(new ExitOptions()), PeerA);
        var response = await RequestAsync(client, new ProxyRequest("bethrou-test.invalid:443"));
        Assert.Equal("host_unreachable", response.Code);
        Assert.Contains("lookup bethrou-test.invalid", response.Message);
        Assert.Equal(0x04, response.ErrorCode.ToSocksReply());
    }

    [Fact]
    public async Task Nxdomain_message_says_no_such_host_for_go_clients()
    {
        var (client, _) = Open(Handler(new ExitOptions(), new StaticResolver([])), PeerA);
        var response = await RequestAsync(client, new ProxyRequest("nowhere.example:443"));
        Assert.Equal("host_unreachable", response.Code);
        Assert.Equal("dial tcp: lookup nowhere.example: no such host", response.Message);
        // A Go client sees only the text and still gets 0x04.
        Assert.Equal(0x04, ProxyErrorCodes.ClassifyMessage(response.Message).ToSocksReply());
    }

    [Fact]
    public async Task Happy_eyeballs_falls_back_to_the_next_address()
    {
        using var origin = new LoopbackOrigin();
        // 127.0.0.2 routes to lo on Linux but nothing listens there on this port: an immediate RST.
        var resolver = new StaticResolver(new() { ["dual.test"] = [IPAddress.Parse("127.0.0.2"), IPAddress.Loopback] });
        var (client, handled) = Open(Handler(Lab(), resolver), PeerA);
        var response = await RequestAsync(client, new ProxyRequest($"dual.test:{origin.Port}"));
        Assert.True(response.IsOk, response.Message);
        using var server = await origin.AcceptAsync();
        await client.Output.CompleteAsync();
        server.Shutdown(SocketShutdown.Send);
        await ReadToEndAsync(client.Input);
        Assert.Equal(ExitPumpOutcome.Completed, (await handled).Pump!.Value.Outcome);
    }

    [Fact]
    public async Task Bad_requests_get_an_error_line()
    {
        var (client, handled) = Open(Handler(Lab()), PeerA);
        await client.Output.WriteAsync("not json\n"u8.ToArray());
        var response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.Equal("general", response.Code);
        Assert.StartsWith("proxy request is not valid JSON: ", response.Message);
        Assert.Equal(ExitStreamOutcome.BadRequest, (await handled).Outcome);

        (client, handled) = Open(Handler(Lab()), PeerA);
        response = await RequestAsync(client, new ProxyRequest("example.com"));
        Assert.Equal("destination address 'example.com' is missing a port", response.Message);
        Assert.Equal(ExitStreamOutcome.BadRequest, (await handled).Outcome);

        (client, handled) = Open(Handler(Lab()), PeerA);
        await client.Output.WriteAsync(new byte[ProxyMessageCodec.MaxLineLength + 1]);
        response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.Equal("proxy request line is longer than 4096 bytes", response.Message);
    }

    [Fact]
    public async Task Request_must_arrive_within_the_request_timeout()
    {
        var time = new FakeTimeProvider();
        var (client, handled) = Open(Handler(Lab(), time: time), PeerA);
        await client.Output.WriteAsync("{\"addr"u8.ToArray());
        time.Advance(TimeSpan.FromSeconds(9.999));
        Assert.False(handled.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.Equal("timed out waiting for the proxy request", response.Message);
        Assert.Equal(ExitStreamOutcome.BadRequest, (await handled).Outcome);
    }

    [Fact]
    public async Task Connect_timeout_ms_shortens_the_dial_timeout()
    {
        var time = new FakeTimeProvider();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TcpConnector blackhole = async (ep, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };
        var (client, handled) = Open(Handler(new ExitOptions(), time: time, connector: blackhole), PeerA);
        await ProxyStreamProtocol.WriteRequestAsync(client.Output, new ProxyRequest("192.0.2.1:443", 500), CancellationToken.None);
        await started.Task;
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(handled.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.Equal("timeout", response.Code);
        Assert.Equal("dial tcp 192.0.2.1:443: i/o timeout", response.Message);
        Assert.Equal(0x06, response.ErrorCode.ToSocksReply());
    }

    [Fact]
    public async Task Peer_allowlist_refuses_others()
    {
        var options = new ExitOptions { AllowPrivate = true, AllowedPeers = [PeerA] };
        var handler = Handler(options);
        var (client, handled) = Open(handler, PeerB);
        var response = await ProxyStreamProtocol.ReadResponseAsync(client.Input, CancellationToken.None);
        Assert.Equal("not_allowed", response.Code);
        Assert.Equal($"peer {PeerB} is not authorized to use this exit node", response.Message);
        Assert.Equal(ExitStreamOutcome.PeerNotAllowed, (await handled).Outcome);

        (client, handled) = Open(handler, PeerA);
        response = await RequestAsync(client, new ProxyRequest($"127.0.0.1:{LoopbackOrigin.FreePort()}"));
        Assert.Equal("connection_refused", response.Code);
    }

    [Fact]
    public async Task Concurrency_limits_global_and_per_peer()
    {
        var handler = Handler(new ExitOptions { AllowPrivate = true, MaxConcurrentStreams = 2, MaxConcurrentStreamsPerPeer = 1 });

        // Slots are taken as soon as a stream is handled, while it waits for its request.
        var (a1, a1Done) = Open(handler, PeerA);
        Assert.Equal(1, handler.ActiveStreams);

        var (a2, a2Done) = Open(handler, PeerA);
        var r = await ProxyStreamProtocol.ReadResponseAsync(a2.Input, CancellationToken.None);
        Assert.Equal("limit", r.Code);
        Assert.Equal($"peer {PeerA} is at its limit of 1 concurrent streams on this exit node", r.Message);
        Assert.Equal(ExitStreamOutcome.LimitReached, (await a2Done).Outcome);

        var (b1, b1Done) = Open(handler, PeerB);
        Assert.Equal(2, handler.ActiveStreams);
        var (c1, c1Done) = Open(handler, PeerC);
        r = await ProxyStreamProtocol.ReadResponseAsync(c1.Input, CancellationToken.None);
        Assert.Equal("limit", r.Code);
        Assert.Equal("exit node is at its limit of 2 concurrent streams", r.Message);
        Assert.Equal(0x01, r.ErrorCode.ToSocksReply());

        await a1.Output.CompleteAsync();
        await b1.Output.CompleteAsync();
        Assert.Equal(ExitStreamOutcome.BadRequest, (await a1Done).Outcome);
        Assert.Equal(ExitStreamOutcome.BadRequest, (await b1Done).Outcome);
        Assert.Equal(0, handler.ActiveStreams);
        Assert.Equal(0, handler.ActiveStreamsOf(PeerA));

        var (a3, a3Done) = Open(handler, PeerA);
        Assert.Equal(1, handler.ActiveStreams);
        await a3.Output.CompleteAsync();
        await a3Done;
    }

    [Fact]
    public async Task Shutdown_cancels_a_running_tunnel()
    {
        using var origin = new LoopbackOrigin();
        using var cts = new CancellationTokenSource();
        var handler = Handler(Lab());
        var (client, handled) = Open(handler, PeerA, cts.Token);
        Assert.True((await RequestAsync(client, new ProxyRequest(origin.Address))).IsOk);
        using var server = await origin.AcceptAsync();
        await cts.CancelAsync();
        var result = await handled;
        Assert.Equal(ExitStreamOutcome.Canceled, result.Outcome);
        await Assert.ThrowsAsync<SocketException>(async () => await ReceiveToEndAsync(server));
        Assert.Equal(0, handler.ActiveStreams);
    }
}
