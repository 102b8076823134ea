using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// SOCKS5 through the real stack (client process → exit process): half-close, every reply code, the egress policy's
/// blocked ranges, malformed greetings and requests, and a stalled handshake.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SocksRepliesTests(SocksStackFixture stack, ITestOutputHelper output) : IClassFixture<SocksStackFixture>
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(90);

    private static readonly byte[] s_noAuth = [5, 1, 0];

    /// <summary>VER=5 REP RSV=0 ATYP=1 0.0.0.0:0: every refusal's shape.</summary>
    private static byte[] Reply(byte code) => [5, code, 0, 1, 0, 0, 0, 0, 0, 0];

    [Fact]
    public async Task Half_closed_request_still_gets_the_whole_response()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // The origin answers only after it has seen the end of the request (EOF), with 4 MiB derived from it.
        await using var origin = new LoopbackTcpOrigin(request =>
        {
            var response = new byte[4 << 20];
            DeterministicBytes.Fill(response, 0, seed: BitConverter.ToUInt64(SHA256.HashData(request)));
            return response;
        });
        var request = new byte[1 << 20];
        DeterministicBytes.Fill(request, 0, seed: 3);
        var expected = new byte[4 << 20];
        DeterministicBytes.Fill(expected, 0, seed: BitConverter.ToUInt64(SHA256.HashData(request)));

        var (reply, s) = await RawSocks.RequestAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, origin.Port), cts.Token);
        using (s)
        {
            Assert.Equal(0, reply);
            await s.SendAsync(request, cts.Token);
            s.Shutdown(SocketShutdown.Send);
            var (data, reset) = await RawSocks.ReadToEndAsync(s, cts.Token);
            Assert.False(reset, "the tunnel was reset instead of closed");
            Assert.Equal(expected.Length, data.Length);
            Assert.True(expected.AsSpan().SequenceEqual(data), "response bytes differ");
        }
        Assert.Equal(request, Assert.Single(origin.Requests));
    }

    [Fact]
    public async Task Egress_policy_refusals_are_0x02_loopback_ip_localhost_name_and_denied_port()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        Assert.Equal(0x02, await RawSocks.ReplyCodeAsync(stack.StrictSocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token));
        // The name is resolved on the exit; the resolved address (127.0.0.1) is what the policy judges.
        Assert.Equal(0x02, await RawSocks.ReplyCodeAsync(stack.StrictSocks, RawSocks.Address("localhost", stack.Origin.Port), cts.Token));
        // --deny-port on an exit that otherwise allows loopback: a live listener on that port is still refused.
        Assert.Equal(0x02, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, stack.DeniedPort), cts.Token));
        Assert.Equal(0x02, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address("localhost", stack.DeniedPort), cts.Token));
        Assert.False(stack.DeniedPortListener.Pending(), "the denied port was dialled");
        // The same destination on an allowed port works through the open exit.
        var (ok, body) = await RawSocks.HttpGetAsync(stack.OpenSocks, RawSocks.Address("localhost", stack.Origin.Port), "/bytes/10", cts.Token);
        Assert.Equal(0, ok);
        Assert.Equal(10, body!.Length);
    }

    public static TheoryData<string> BlockedAddresses() =>
    [
        "10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "0.0.0.1",
        "198.18.0.1", "240.0.0.1", "224.0.0.1", "255.255.255.255", "127.0.0.1", "127.1.2.3",
        "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
    ];

    [Theory]
    [MemberData(nameof(BlockedAddresses))]
    public async Task Egress_policy_refuses_every_blocked_range_with_0x02(string address)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var reply = await RawSocks.ReplyCodeAsync(stack.StrictSocks, RawSocks.Address(IPAddress.Parse(address), 80), cts.Token);
        Assert.Equal(0x02, reply);
    }

    [Fact]
    public async Task Unknown_host_is_0x04_closed_port_is_0x05()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        Assert.Equal(0x04, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address("no-such-host.invalid", 80), cts.Token));
        // A 255-byte name is a valid SOCKS request; the exit's resolver rejects it.
        Assert.Equal(0x04, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address(new string('a', 255), 80), cts.Token));
        var closed = LoopbackTcpOrigin.GetClosedPort();
        Assert.Equal(0x05, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, closed), cts.Token));
        Assert.Equal(0x05, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address("localhost", closed), cts.Token));
    }

    [Fact]
    public async Task Destination_that_never_answers_the_SYN_is_0x06_after_the_exit_dial_timeout()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // A listener with a full accept queue: Linux drops further SYNs, so a connect hangs until the dialler gives up
        // (the open exit runs with --dial-timeout 1s). Deterministic on loopback.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);

        var sw = Stopwatch.StartNew();
        Assert.Equal(0x06, await RawSocks.ReplyCodeAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, port), cts.Token));
        output.WriteLine($"0x06 after {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Bind_and_udp_associate_are_0x07_unknown_address_type_is_0x08()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var target = RawSocks.Address(IPAddress.Loopback, stack.Origin.Port);
        Assert.Equal(0x07, await RawSocks.ReplyCodeAsync(stack.OpenSocks, target, cts.Token, RawSocks.Bind));
        Assert.Equal(0x07, await RawSocks.ReplyCodeAsync(stack.OpenSocks, target, cts.Token, RawSocks.UdpAssociate));
        Assert.Equal(0x07, await RawSocks.ReplyCodeAsync(stack.OpenSocks, target, cts.Token, command: 0x09));
        Assert.Equal(0x08, await RawSocks.ReplyCodeAsync(stack.OpenSocks, [0x05, 1, 2, 3, 4, 0, 80], cts.Token));
    }

    [Fact]
    public async Task Exit_at_its_stream_limit_with_no_other_exit_is_0x01()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // The tiny exit allows one stream: hold one tunnel open, and the next request has nowhere to go.
        var (first, held) = await RawSocks.RequestAsync(stack.TinySocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token);
        using (held)
        {
            Assert.Equal(0, first);
            Assert.Equal(0x01, await RawSocks.ReplyCodeAsync(stack.TinySocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token));
        }
        // Once the held tunnel is gone the exit serves again (the limit refusal did not mark it unhealthy).
        await Poll.UntilAsync(async () =>
        {
            var (r, s) = await RawSocks.RequestAsync(stack.TinySocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token);
            s.Dispose();
            return r == 0;
        }, "the tiny exit to accept a stream again", cts.Token);
    }

    [Fact]
    public async Task No_healthy_exit_is_0x03()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // The client's only exit does not exist. The product waits up to --timeout (1 s here) for an exit to come up,
        // then answers 0x03 (network unreachable) when no exit is available at all, and 0x01 when exits were tried
        // and failed (previous test).
        Assert.Equal(0x03, await RawSocks.ReplyCodeAsync(stack.DeadSocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token));
        Assert.Equal(0x03, await RawSocks.ReplyCodeAsync(stack.DeadSocks, RawSocks.Address("example.com", 443), cts.Token));
    }

    public static TheoryData<string, byte[], bool, byte[]> MalformedCases() => new()
    {
        // greeting
        { "greeting with version 4", [4, 1, 0], false, [] },
        { "greeting with zero methods", [5, 0], false, [5, 0xFF] },
        { "greeting without 'no authentication'", [5, 2, 1, 2], false, [5, 0xFF] },
        { "truncated greeting, then EOF", [5, 3, 0], true, [] },
        { "an HTTP request instead of SOCKS", Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, [] },
        { "SOCKS4 CONNECT", [4, 1, 0, 80, 127, 0, 0, 1, 0], false, [] },
        { "garbage", [0xFF, 0xFE, 0x00, 0x13, 0x37], false, [] },
        // request (after a good greeting, which gets 05 00)
        { "request with version 4", [.. s_noAuth, 4, 1, 0, 1, 127, 0, 0, 1, 0, 80], false, [5, 0] },
        { "request with reserved byte 1", [.. s_noAuth, 5, 1, 1, 1, 127, 0, 0, 1, 0, 80], false, [5, 0, .. Reply(0x01)] },
        { "request with address type 5", [.. s_noAuth, 5, 1, 0, 5, 127, 0, 0, 1, 0, 80], false, [5, 0, .. Reply(0x08)] },
        { "request with address type 0", [.. s_noAuth, 5, 1, 0, 0], false, [5, 0, .. Reply(0x08)] },
        { "request with an empty domain", [.. s_noAuth, 5, 1, 0, 3, 0, 0, 80], false, [5, 0, .. Reply(0x01)] },
        { "request with a NUL in the domain", [.. s_noAuth, 5, 1, 0, 3, 3, (byte)'a', 0, (byte)'b', 0, 80], false, [5, 0, .. Reply(0x01)] },
        { "request with a domain that is not UTF-8", [.. s_noAuth, 5, 1, 0, 3, 2, 0xC3, 0x28, 0, 80], false, [5, 0, .. Reply(0x01)] },
        { "request cut inside the IPv4 address, then EOF", [.. s_noAuth, 5, 1, 0, 1, 127, 0], true, [5, 0] },
        { "request cut inside the domain, then EOF", [.. s_noAuth, 5, 1, 0, 3, 200, (byte)'a', (byte)'b'], true, [5, 0] },
        { "request cut before the port, then EOF", [.. s_noAuth, 5, 1, 0, 4, .. new byte[16]], true, [5, 0] },
    };

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public async Task Malformed_input_gets_the_right_reply_then_a_close_while_a_parallel_tunnel_keeps_working(
        string what, byte[] send, bool halfClose, byte[] expected)
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // A good tunnel opened before the bad client, used after it.
        var (reply, good) = await RawSocks.RequestAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), cts.Token);
        using (good)
        {
            Assert.Equal(0, reply);

            using var bad = await RawSocks.OpenAsync(stack.OpenSocks, cts.Token);
            await bad.SendAsync(send, cts.Token);
            if (halfClose)
            {
                bad.Shutdown(SocketShutdown.Send);
            }
            var (data, _) = await RawSocks.ReadToEndAsync(bad, cts.Token);
            Assert.True(expected.AsSpan().SequenceEqual(data), $"{what}: got {Convert.ToHexString(data)}, expected {Convert.ToHexString(expected)}");

            await good.SendAsync(Encoding.ASCII.GetBytes("GET /bytes/100000 HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"), cts.Token);
            var (response, reset) = await RawSocks.ReadToEndAsync(good, cts.Token);
            Assert.False(reset);
            var body = new byte[100000];
            DeterministicBytes.Fill(body, 0);
            Assert.True(response.AsSpan().EndsWith(body), $"{what}: the parallel tunnel's response is wrong ({response.Length} bytes)");
        }
        // And a new client is served.
        var (fresh, freshBody) = await RawSocks.HttpGetAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), "/bytes/5", cts.Token);
        Assert.Equal(0, fresh);
        Assert.Equal(5, freshBody!.Length);
    }

    [Fact]
    public async Task Username_and_password_are_required_when_configured()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        var proxy = $"{stack.AuthSocks.Address}:{stack.AuthSocks.Port}";
        var url = stack.Origin.Url("/bytes/3000");
        var ok = await CurlRunner.RunAsync(s_deadline, "--socks5-hostname", proxy, "--proxy-user", "alice:s3cret pass", "-o", "/dev/null",
            "-w", "%{http_code} %{size_download}", url);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal("200 3000", ok.Stdout);
        var wrong = await CurlRunner.RunAsync(s_deadline, "--socks5-hostname", proxy, "--proxy-user", "alice:wrong", "-o", "/dev/null", url);
        Assert.NotEqual(0, wrong.ExitCode);
        var none = await CurlRunner.RunAsync(s_deadline, "--socks5-hostname", proxy, "-o", "/dev/null", url);
        Assert.NotEqual(0, none.ExitCode);

        // On the wire: no-auth only is answered with 0xFF; a wrong password with status 1, then a close.
        using (var s = await RawSocks.OpenAsync(stack.AuthSocks, cts.Token))
        {
            await s.SendAsync(new byte[] { 5, 1, 0 }, cts.Token);
            Assert.Equal(new byte[] { 5, 0xFF }, (await RawSocks.ReadToEndAsync(s, cts.Token)).Data);
        }
        using (var s = await RawSocks.OpenAsync(stack.AuthSocks, cts.Token))
        {
            await s.SendAsync((byte[])[5, 1, 2, 1, 5, .. "alice"u8, 5, .. "wrong"u8], cts.Token);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, (await RawSocks.ReadToEndAsync(s, cts.Token)).Data);
        }
    }

    [Fact]
    public async Task Stalled_handshake_is_closed_after_the_handshake_timeout()
    {
        using var cts = new CancellationTokenSource(s_deadline);
        // The client process uses the default 10 s handshake timeout (no --handshake-timeout; ClientConfigTests sets one).
        var sw = Stopwatch.StartNew();
        using var stalled = await RawSocks.OpenAsync(stack.OpenSocks, cts.Token);
        using var silent = await RawSocks.OpenAsync(stack.OpenSocks, cts.Token);
        await stalled.SendAsync(new byte[] { 5, 1 }, cts.Token); // greeting without its method list

        // Meanwhile the server serves others.
        var (ok, body) = await RawSocks.HttpGetAsync(stack.OpenSocks, RawSocks.Address(IPAddress.Loopback, stack.Origin.Port), "/bytes/77", cts.Token);
        Assert.Equal(0, ok);
        Assert.Equal(77, body!.Length);

        var (data, _) = await RawSocks.ReadToEndAsync(stalled, cts.Token);
        Assert.Empty(data);
        var (data2, _) = await RawSocks.ReadToEndAsync(silent, cts.Token);
        Assert.Empty(data2);
        output.WriteLine($"stalled handshakes closed after {sw.Elapsed.TotalSeconds:0.0} s");
        // A timer never fires early: the server did wait for its timeout.
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(9.5), $"closed after only {sw.Elapsed}");
        await stack.OpenClient.WaitForLineAsync(new System.Text.RegularExpressions.Regex("[Hh]andshake.*(timed out|timeout)"), TimeSpan.FromSeconds(30), stderr: true);
    }
}
