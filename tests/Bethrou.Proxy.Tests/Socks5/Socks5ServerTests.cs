using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Proxy.Socks5;
using Bethrou.Proxy.Tests.Tunnel;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Proxy.Tests.Socks5;

public class Socks5ServerTests
{
    private static readonly byte[] NoAuthGreeting = [0x05, 0x01, 0x00];

    [Theory]
    [InlineData(Socks5ReplyCode.GeneralFailure)]
    [InlineData(Socks5ReplyCode.ConnectionNotAllowed)]
    [InlineData(Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(Socks5ReplyCode.HostUnreachable)]
    [InlineData(Socks5ReplyCode.ConnectionRefused)]
    [InlineData(Socks5ReplyCode.TtlExpired)]
    [InlineData(Socks5ReplyCode.CommandNotSupported)]
    [InlineData(Socks5ReplyCode.AddressTypeNotSupported)]
    public async Task Connector_failure_code_is_the_reply(Socks5ReplyCode code)
    {
        var connector = new FailingConnector(code);
        await using var server = ServerFactory.Start(connector);
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        var destination = Socks5Destination.FromDomain("example.com", 443);
        var reply = await client.ConnectThroughAsync(destination);
        Assert.Equal(code, reply.Code);
        Assert.Equal(Socks5Destination.FromAddress(IPAddress.Any, 0), reply.Bound);
        Assert.Empty(await client.ReadToEndAsync()); // then a clean close
        Assert.Equal([destination], connector.Requests);
    }

    [Fact]
    public async Task Connector_that_throws_gives_general_failure()
    {
        await using var server = ServerFactory.Start(new ThrowingConnector());
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        var reply = await client.ConnectThroughAsync(Socks5Destination.FromDomain("example.com", 443));
        Assert.Equal(Socks5ReplyCode.GeneralFailure, reply.Code);
        Assert.Empty(await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Connect_timeout_gives_host_unreachable()
    {
        var time = new FakeTimeProvider();
        await using var server = ServerFactory.Start(new HangingConnector(), o => o.ConnectTimeout = TimeSpan.FromSeconds(30), time);
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        var start = time.GetUtcNow();
        var replyTask = client.ConnectThroughAsync(Socks5Destination.FromDomain("slow.example", 80));
        while (!replyTask.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(replyTask, Task.Delay(10));
        }
        Assert.Equal(Socks5ReplyCode.HostUnreachable, (await replyTask).Code);
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData((byte)0x02)] // BIND
    [InlineData((byte)0x03)] // UDP ASSOCIATE: never served locally
    [InlineData((byte)0x00)]
    [InlineData((byte)0x09)]
    public async Task Other_commands_get_command_not_supported(byte command)
    {
        var connector = new FailingConnector(Socks5ReplyCode.GeneralFailure);
        await using var server = ServerFactory.Start(connector);
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync(NoAuthGreeting);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await client.ReadExactAsync(2));
        await client.SendAsync([0x05, command, 0x00, 0x01, 127, 0, 0, 1, 0x04, 0x38]);
        Assert.Equal(new byte[] { 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
        Assert.Empty(connector.Requests);
    }

    [Fact]
    public async Task Unknown_address_type_gets_0x08()
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure));
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync(NoAuthGreeting);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await client.ReadExactAsync(2));
        await client.SendAsync([0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80]);
        Assert.Equal(new byte[] { 0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(new byte[] { 0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80 })] // RSV != 0
    [InlineData(new byte[] { 0x05, 0x01, 0x00, 0x03, 0x00, 0, 80 })]      // empty domain
    [InlineData(new byte[] { 0x05, 0x01, 0x00, 0x03, 0x01, 0x00, 0, 80 })] // NUL in domain
    public async Task Other_malformed_requests_get_general_failure(byte[] request)
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.HostUnreachable));
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync(NoAuthGreeting);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await client.ReadExactAsync(2));
        await client.SendAsync(request);
        Assert.Equal(new byte[] { 0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Request_with_bad_version_is_closed_without_reply()
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.HostUnreachable));
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync(NoAuthGreeting);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await client.ReadExactAsync(2));
        await client.SendAsync([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0]);
        Assert.Empty(await client.ReadToEndAsync());
    }

    public static TheoryData<byte[], byte[]> MalformedGreetings => new()
    {
        { new byte[] { 0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0 }, Array.Empty<byte>() }, // SOCKS4: close, no reply
        { new byte[] { 0x05, 0x00 }, new byte[] { 0x05, 0xFF } },                       // zero methods
        { "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Array.Empty<byte>() },        // garbage (HTTP)
        { new byte[] { 0x05, 0x03, 0x00 }, Array.Empty<byte>() },                         // truncated, then EOF
        { Array.Empty<byte>(), Array.Empty<byte>() },                                     // connect and close
    };

    [Theory]
    [MemberData(nameof(MalformedGreetings))]
    public async Task Malformed_greeting_is_closed_while_another_client_is_served(byte[] greeting, byte[] expectedReply)
    {
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector());

        // A well-behaved client starts its handshake first and finishes after the bad one is gone.
        using var good = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await good.SendAsync(NoAuthGreeting);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await good.ReadExactAsync(2));

        using var bad = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        if (greeting.Length > 0)
        {
            await bad.SendAsync(greeting);
        }
        bad.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(expectedReply, await bad.ReadToEndAsync());

        var request = new System.Buffers.ArrayBufferWriter<byte>();
        Socks5Codec.WriteRequest(request, Socks5Command.Connect, Socks5Destination.FromEndPoint(origin.EndPoint));
        await good.SendAsync(request.WrittenSpan.ToArray());
        Assert.Equal(Socks5ReplyCode.Succeeded, (await good.ReadReplyAsync()).Code);
        await good.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await good.ReadExactAsync(4));
    }

    [Fact]
    public async Task Auth_required_but_not_offered_gets_0xFF()
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure), o =>
        {
            o.Username = "u";
            o.Password = "p";
        });
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync([0x05, 0x02, 0x00, 0x01]);
        Assert.Equal(new byte[] { 0x05, 0xFF }, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Without_auth_a_client_offering_only_userpass_gets_0xFF()
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure));
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync([0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0xFF }, await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData("u", "wrong")]
    [InlineData("wrong", "p4ss")]
    [InlineData("u", "p4ss-but-longer")]
    [InlineData("uu", "p4ss")]
    public async Task Wrong_credentials_get_status_1_and_close(string username, string password)
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure), o =>
        {
            o.Username = "u";
            o.Password = "p4ss";
        });
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync([0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await client.ReadExactAsync(2));
        var auth = new System.Buffers.ArrayBufferWriter<byte>();
        Socks5Codec.WriteAuthRequest(auth, Encoding.UTF8.GetBytes(username), Encoding.UTF8.GetBytes(password));
        await client.SendAsync(auth.WrittenSpan.ToArray());
        Assert.Equal(new byte[] { 0x01, 0x01 }, await client.ReadToEndAsync());
        Assert.Equal(1, server.FailedAuthentications);
    }

    [Fact]
    public async Task Malformed_auth_request_gets_status_1_and_close()
    {
        await using var server = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure), o =>
        {
            o.Username = "u";
            o.Password = "p";
        });
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await client.SendAsync([0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await client.ReadExactAsync(2));
        await client.SendAsync([0x05, 0x01, 0x75, 0x01, 0x70]); // VER 5 instead of 1
        Assert.Equal(new byte[] { 0x01, 0x01 }, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Correct_credentials_reach_the_connector_and_the_password_is_never_logged()
    {
        var logger = new CollectingLogger<Socks5Server>();
        var connector = new FailingConnector(Socks5ReplyCode.HostUnreachable);
        await using var server = ServerFactory.Start(connector, o =>
        {
            o.Username = "alice";
            o.Password = "Sup3r-Secret-Pa55";
        }, logger: logger);
        using (var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint))
        {
            var reply = await client.ConnectThroughAsync(Socks5Destination.FromDomain("example.org", 80), "alice", "Sup3r-Secret-Pa55");
            Assert.Equal(Socks5ReplyCode.HostUnreachable, reply.Code);
        }
        using (var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint))
        {
            await client.SendAsync([0x05, 0x01, 0x02]);
            await client.ReadExactAsync(2);
            var auth = new System.Buffers.ArrayBufferWriter<byte>();
            Socks5Codec.WriteAuthRequest(auth, "alice"u8, "Sup3r-Secret-Pa56"u8);
            await client.SendAsync(auth.WrittenSpan.ToArray());
            Assert.Equal(new byte[] { 0x01, 0x01 }, await client.ReadToEndAsync());
        }
        await server.StopAsync(TimeSpan.Zero);
        Assert.Single(connector.Requests);
        lock (logger.Lines)
        {
            Assert.Contains(logger.Lines, l => l.Contains("authentication failed", StringComparison.Ordinal));
            Assert.Contains(logger.Lines, l => l.Contains("example.org:80", StringComparison.Ordinal) && l.StartsWith("Debug", StringComparison.Ordinal));
            Assert.DoesNotContain(logger.Lines, l => l.Contains("Pa55", StringComparison.Ordinal) || l.Contains("Pa56", StringComparison.Ordinal));
            // Destinations appear only at Debug.
            Assert.DoesNotContain(logger.Lines, l => !l.StartsWith("Debug", StringComparison.Ordinal) && l.Contains("example.org", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Stalled_handshake_is_closed_after_the_timeout()
    {
        var time = new FakeTimeProvider();
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o => o.HandshakeTimeout = TimeSpan.FromSeconds(10), time);
        using var stalled = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await stalled.SendAsync([0x05]); // half a greeting, then nothing
        var start = time.GetUtcNow();
        var closed = stalled.ReadToEndAsync();
        while (!closed.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(closed, Task.Delay(10));
        }
        Assert.Empty(await closed);
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromSeconds(10));

        // A tunnel that is open is not subject to the handshake timeout.
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        time.Advance(TimeSpan.FromMinutes(10));
        await client.SendAsync("still here"u8.ToArray());
        Assert.Equal("still here"u8.ToArray(), await client.ReadExactAsync(10));
    }

    [Fact]
    public async Task Ipv6_listen_on_loopback()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return;
        }
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o => o.Listen = new IPEndPoint(IPAddress.IPv6Loopback, 0));
        Assert.Equal(IPAddress.IPv6Loopback, server.LocalEndPoint.Address);
        Assert.NotEqual(0, server.LocalEndPoint.Port);
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        var reply = await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint));
        Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);
        await client.SendAsync("v6"u8.ToArray());
        Assert.Equal("v6"u8.ToArray(), await client.ReadExactAsync(2));
    }

    [Fact]
    public async Task Reply_carries_the_bound_address_and_early_data_is_forwarded()
    {
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        // Request and first payload in one write (clients may send optimistically).
        var reply = await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint), earlyData: "early"u8.ToArray());
        Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);
        Assert.Equal(Socks5AddressType.IPv4, reply.Bound.AddressType);
        Assert.Equal(IPAddress.Loopback, reply.Bound.Address);
        Assert.NotEqual(0, reply.Bound.Port);
        Assert.Equal("early"u8.ToArray(), await client.ReadExactAsync(5));
    }

    [Fact]
    public async Task Half_close_client_still_receives_the_whole_response()
    {
        var response = RandomNumberGenerator.GetBytes(4 * 1024 * 1024 + 17);
        // The origin answers only after it has read the request to EOF.
        await using var origin = new TestOrigin(async socket =>
        {
            var request = await TestUtil.ReadToEndAsync(socket);
            Assert.Equal("the whole request", Encoding.ASCII.GetString(request));
            await socket.SendAsync(response);
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        await client.SendAsync("the whole request"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(response, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Transfer_of_256_MiB_each_way_is_exact()
    {
        const long size = 256L * 1024 * 1024;
        // Origin: hashes what it receives until EOF while sending `size` generated bytes; then appends the hash.
        await using var origin = new TestOrigin(async socket =>
        {
            var receive = TestData.ReceiveAndHashAsync(socket);
            await TestData.SendAsync(socket, size);
            var (length, hash) = await receive;
            Assert.Equal(size, length);
            await socket.SendAsync(hash);
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);

        var download = TestData.ReceiveAndHashAsync(client.Socket, size);
        await TestData.SendAsync(client.Socket, size);
        client.Socket.Shutdown(SocketShutdown.Send);
        var (downloaded, downloadHash) = await download;
        var expected = TestData.Sha256(size);
        Assert.Equal(size, downloaded);
        Assert.Equal(expected, downloadHash);
        Assert.Equal(expected, await client.ReadExactAsync(32)); // what the origin received
        Assert.Empty(await client.ReadToEndAsync());
        Assert.Empty(origin.Errors);
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_closed()
    {
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o => o.MaxConnections = 1);
        using var first = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await first.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        Assert.Equal(1, server.ActiveConnections);
        Assert.Equal(1, server.ActiveTunnels);

        // Closed at once, before anything is read (a client that already sent its greeting may see a reset instead).
        using var second = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Empty(await second.ReadToEndAsync());
        Assert.Equal(1, server.RejectedConnections);

        // The first one is unaffected; once it is gone, a new client is served.
        await first.SendAsync("a"u8.ToArray());
        Assert.Equal("a"u8.ToArray(), await first.ReadExactAsync(1));
        first.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await first.ReadToEndAsync());
        await TestUtil.WaitUntilAsync(() => server.ActiveConnections == 0, "the first connection to be released");
        using var third = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await third.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        Assert.Equal(3, server.TotalConnections);
    }

    [Fact]
    public async Task Stop_lets_open_tunnels_finish_within_the_drain_timeout()
    {
        var release = new TaskCompletionSource();
        await using var origin = new TestOrigin(async socket =>
        {
            await release.Task;
            await socket.SendAsync("bye"u8.ToArray());
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        using var handshaking = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        await TestUtil.WaitUntilAsync(() => server.ActiveConnections == 2, "both connections to be accepted");

        var stop = server.StopAsync(TimeSpan.FromMinutes(5));
        // A connection still in its handshake is closed; the listener is gone.
        Assert.Empty(await handshaking.ReadToEndAsync());
        await Assert.ThrowsAsync<SocketException>(() => RawSocksClient.ConnectAsync(server.LocalEndPoint));
        Assert.False(stop.IsCompleted);

        // The open tunnel finishes normally.
        release.SetResult();
        Assert.Equal("bye"u8.ToArray(), await client.ReadExactAsync(3));
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReadToEndAsync());
        await stop;
        Assert.Equal(0, server.ActiveConnections);
    }

    [Fact]
    public async Task Stop_aborts_tunnels_after_the_drain_timeout()
    {
        var time = new FakeTimeProvider();
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), timeProvider: time);
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);

        var stop = server.StopAsync(TimeSpan.FromSeconds(30));
        var reading = client.ReadToEndAsync();
        while (!stop.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await Task.WhenAny(stop, Task.Delay(10));
        }
        await stop;
        var ex = await Assert.ThrowsAsync<SocketException>(() => reading);
        Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        Assert.Equal(0, server.ActiveConnections);
        Assert.Equal(0, server.ActiveTunnels);
    }

    [Fact]
    public async Task Listen_failure_is_a_typed_exception()
    {
        await using var first = ServerFactory.Start(new FailingConnector(Socks5ReplyCode.GeneralFailure));
        var options = new Socks5ServerOptions { Listen = first.LocalEndPoint };
        await using var second = new Socks5Server(options, new FailingConnector(Socks5ReplyCode.GeneralFailure),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Socks5Server>.Instance);
        var ex = Assert.Throws<Socks5ListenException>(second.Start);
        Assert.Equal(first.LocalEndPoint, ex.EndPoint);
        Assert.StartsWith($"Cannot listen for SOCKS5 on {first.LocalEndPoint}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Greeting_auth_and_request_pipelined_in_one_write()
    {
        await using var origin = TestOrigin.Echo();
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o =>
        {
            o.Username = "u";
            o.Password = "p";
        });
        using var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        var all = new System.Buffers.ArrayBufferWriter<byte>();
        Socks5Codec.WriteGreeting(all, [Socks5AuthMethod.UsernamePassword]);
        Socks5Codec.WriteAuthRequest(all, "u"u8, "p"u8);
        Socks5Codec.WriteRequest(all, Socks5Command.Connect, Socks5Destination.FromEndPoint(origin.EndPoint));
        all.Write("data"u8);
        await client.SendAsync(all.WrittenSpan.ToArray());
        Assert.Equal(new byte[] { 0x05, 0x02, 0x01, 0x00 }, await client.ReadExactAsync(4));
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ReadReplyAsync()).Code);
        Assert.Equal("data"u8.ToArray(), await client.ReadExactAsync(4));
    }

    [Fact]
    public async Task Client_reset_resets_the_destination_and_frees_the_slot()
    {
        var originSaw = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = new TestOrigin(async socket =>
        {
            connected.SetResult();
            try
            {
                await TestUtil.ReadToEndAsync(socket);
                originSaw.SetResult(null);
            }
            catch (SocketException ex)
            {
                originSaw.SetResult(ex);
            }
        });
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        var client = await RawSocksClient.ConnectAsync(server.LocalEndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await client.ConnectThroughAsync(Socks5Destination.FromEndPoint(origin.EndPoint))).Code);
        await connected.Task;
        client.Socket.LingerState = new LingerOption(true, 0);
        client.Dispose(); // RST
        var seen = Assert.IsType<SocketException>(await originSaw.Task);
        Assert.Equal(SocketError.ConnectionReset, seen.SocketErrorCode);
        await TestUtil.WaitUntilAsync(() => server.ActiveConnections == 0 && server.ActiveTunnels == 0, "the connection to be released");
    }
}
