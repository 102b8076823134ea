using System.Security.Cryptography;
using System.Text;
using Bethrou.Interop.Tests.Harness;
using Bethrou.Libp2p.Crypto;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests;

/// <summary>
/// Proves the js test peer and its C# driver js↔js, before the C# stack exists: pnet+Noise+Yamux connections,
/// ping, identify, verified multi-stream echo, wrong-PSK failure and the Go Bethrou proxy protocol.
/// </summary>
public sealed class JsHarnessTests : IDisposable
{
    private static readonly TimeSpan s_eventTimeout = TimeSpan.FromSeconds(15);
    private readonly ITestOutputHelper _output;
    private readonly string _tempDir;

    public JsHarnessTests(ITestOutputHelper output)
    {
        _output = output;
        _tempDir = Path.Combine(Path.GetTempPath(), "bethrou-jsharness-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_tempDir);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_tempDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task SamePsk_PeersConnect_PingIdentifyAndEchoEightStreams()
    {
        var psk = JsInterop.WritePskFile(_tempDir, RandomNumberGenerator.GetBytes(32));
        var seed = RandomNumberGenerator.GetBytes(32);
        using var expectedKey = Ed25519PrivateKey.FromSeed(seed);

        // js's connection monitor aborts a connection whose ping waits >5 s behind bulk data (seen here under load
        // with 8 x 16 MiB); this test moves 64 MiB, so it turns the monitor off to stay deterministic on a busy machine
        var a = await JsPeer.StartAsync(new JsPeerOptions { Name = "a", PskFile = psk, DisableConnectionMonitor = true });
        await using var _a = a;
        var b = await JsPeer.StartAsync(new JsPeerOptions { Name = "b", PskFile = psk, Seed = Convert.ToHexStringLower(seed), DisableConnectionMonitor = true });
        await using var _b = b;

        // the seeded js identity is the one our C# code derives from the same seed
        Assert.Equal(expectedKey.PeerId.ToString(), b.PeerId);
        Assert.All(b.Addrs, addr => Assert.EndsWith("/p2p/" + b.PeerId, addr, StringComparison.Ordinal));

        var dial = await a.DialAsync(b.Addr);
        Assert.Equal(b.PeerId, dial.PeerId);
        Assert.False(dial.Limited);
        await b.WaitForConnectionAsync(a.PeerId, s_eventTimeout, direction: "inbound");

        var connections = await a.ConnectionsAsync(b.PeerId);
        var conn = Assert.Single(connections);
        Assert.Equal("open", conn.Status);
        Assert.Equal("/noise", conn.Encryption);
        Assert.Equal("/yamux/1.0.0", conn.Multiplexer);

        var ping = await a.PingAsync(b.PeerId, count: 3);
        Assert.Equal(3, ping.Rtts.Count);
        Assert.All(ping.Rtts, rtt => Assert.True(rtt > 0));
        var goStylePing = await a.PingAsync(b.PeerId, count: 3, sameStream: true);
        Assert.Equal(3, goStylePing.Rtts.Count);
        var servicePing = await a.PingAsync(b.PeerId, count: 1, useJsService: true);
        Assert.Single(servicePing.Rtts);
        _output.WriteLine($"ping rtts (ms): {string.Join(", ", ping.Rtts)}; one stream: {string.Join(", ", goStylePing.Rtts)}");

        var id = await a.IdentifyAsync(b.PeerId);
        Assert.Equal(b.PeerId, id.PeerId);
        Assert.StartsWith("js-libp2p/", id.AgentVersion, StringComparison.Ordinal);
        Assert.Equal("ipfs/0.1.0", id.ProtocolVersion);
        Assert.Contains("/ipfs/id/1.0.0", id.Protocols);
        Assert.Contains("/ipfs/ping/1.0.0", id.Protocols);
        Assert.Contains("/bethrou/test/echo/1.0.0", id.Protocols);
        Assert.True(id.PublicKeyMatchesPeerId);
        Assert.Equal(Convert.ToHexStringLower(expectedKey.PublicKey.Marshal()), id.PublicKeyHex);
        Assert.Contains(id.ListenAddrs, addr => b.Addr.StartsWith(addr + "/p2p/", StringComparison.Ordinal));

        const long perStream = 8L * 1024 * 1024;
        var echo = await a.EchoAsync(b.PeerId, perStream, streams: 8);
        Assert.True(echo.Ok, echo.Error);
        Assert.Equal(8, echo.Streams.Count);
        Assert.All(echo.Streams, s =>
        {
            Assert.True(s.Ok, s.Error);
            Assert.Equal(perStream, s.Received);
            Assert.Equal(s.Sha256Sent, s.Sha256Received);
        });
        _output.WriteLine($"echo 8 x 8 MiB over pnet: {echo.Ms} ms, {echo.MegabytesPerSecond} MB/s payload");

        // the responder reports each echoed stream as an event
        await b.WaitForEventCountAsync("echo", 8, s_eventTimeout);

        await a.HangUpAsync(b.PeerId);
        await b.WaitForEventAsync("connection:close", e => JsPeer.Str(e, "peer") == a.PeerId, s_eventTimeout);

        await b.DisposeAsync();
        Assert.True(b.HasExited);
    }

    [Fact]
    public async Task DifferentPsk_DialFails()
    {
        var pskA = JsInterop.WritePskFile(_tempDir, RandomNumberGenerator.GetBytes(32));
        var pskC = JsInterop.WritePskFile(_tempDir, RandomNumberGenerator.GetBytes(32));
        var a = await JsPeer.StartAsync(new JsPeerOptions { Name = "a", PskFile = pskA });
        await using var _a = a;
        var c = await JsPeer.StartAsync(new JsPeerOptions { Name = "c", PskFile = pskC });
        await using var _c = c;

        // js never says "wrong key": it fails on garbage (ECONNRESET, bad multistream) or at the dial timeout
        var dial = await a.TryDialAsync(c.Addr, timeout: TimeSpan.FromSeconds(3));
        _output.WriteLine($"dial with a different PSK failed: {dial.Error} after {dial.Elapsed.TotalMilliseconds:F0} ms");
        Assert.False(dial.Ok);
        Assert.False(string.IsNullOrWhiteSpace(dial.Error));
        Assert.Empty(await a.ConnectionsAsync(c.PeerId));
    }

    [Fact]
    public async Task GoBethrouExit_ProxiesGoClientToLocalTcpOrigin()
    {
        var greeting = "HTTP/1.0 200 OK\r\n\r\nhello from the origin\n"u8.ToArray();
        await using var origin = new LoopbackTcpOrigin(request => [.. greeting, .. request]);

        // no PSK here: the harness also runs without pnet
        var exit = await JsPeer.StartAsync(new JsPeerOptions { Name = "exit", GoBethrouExit = true });
        await using var _exit = exit;
        var client = await JsPeer.StartAsync(new JsPeerOptions { Name = "client" });
        await using var _client = client;
        Assert.Contains("/bethrou/proxy/1.0.0", exit.Protocols);
        Assert.Contains("/bethrou/ping/1.0.0", exit.Protocols);

        var request = Encoding.ASCII.GetBytes("GET / HTTP/1.0\r\n\r\n");
        foreach (var lazy in new[] { true, false })
        {
            var result = await client.ProxyAsync(exit.Addr, origin.Address, request, lazy: lazy);
            Assert.Equal("ok", result.Status);
            Assert.Equal("{\"status\":\"ok\"}", result.Reply);
            Assert.Equal([.. greeting, .. request], result.Response);
        }

        Assert.Equal(2, origin.Requests.Count);
        Assert.All(origin.Requests, r => Assert.Equal(request, r));
        var done = await exit.WaitForEventAsync("proxy", e => JsPeer.Str(e, "status") == "ok", s_eventTimeout);
        Assert.Equal(origin.Address, JsPeer.Str(done, "address"));

        // a refused destination gives Go's error text, which the SOCKS layer maps to reply 0x05
        var closedPort = LoopbackTcpOrigin.GetClosedPort();
        var refused = await client.ProxyAsync(exit.PeerId, $"127.0.0.1:{closedPort}", ReadOnlyMemory<byte>.Empty);
        Assert.Equal("error", refused.Status);
        Assert.Equal($"dial tcp 127.0.0.1:{closedPort}: connect: connection refused", refused.Message);
        Assert.Empty(refused.Response);
    }

    [Fact]
    public async Task RelayServer_CarriesLimitedConnectionWithPingAndEcho()
    {
        var psk = JsInterop.WritePskFile(_tempDir, RandomNumberGenerator.GetBytes(32));
        var relay = await JsPeer.StartAsync(new JsPeerOptions { Name = "relay", PskFile = psk, RelayServer = true });
        await using var _relay = relay;
        var target = await JsPeer.StartAsync(new JsPeerOptions
        {
            Name = "target",
            PskFile = psk,
            RelayClient = true,
            ExtraListenAddrs = [relay.Addr + "/p2p-circuit"],
        });
        await using var _target = target;
        var dialer = await JsPeer.StartAsync(new JsPeerOptions { Name = "dialer", PskFile = psk, RelayClient = true });
        await using var _dialer = dialer;

        var circuit = Assert.Single(target.Addrs, a => a.Contains("/p2p-circuit/", StringComparison.Ordinal));
        Assert.Equal($"{relay.Addr}/p2p-circuit/p2p/{target.PeerId}", circuit);

        var dial = await dialer.DialAsync(circuit);
        Assert.Equal(target.PeerId, dial.PeerId);
        Assert.True(dial.Limited);

        // ping and echo over the relayed (limited) connection itself, addressed by its circuit address
        var ping = await dialer.PingAsync(circuit, count: 2);
        Assert.True(ping.Limited);
        Assert.Equal(2, ping.Rtts.Count);
        var echo = await dialer.EchoAsync(circuit, 64 * 1024, streams: 2);
        Assert.True(echo.Ok, echo.Error);
    }
}
