using System.Diagnostics;
using System.Security.Cryptography;
using Bethrou.Interop.Tests.Harness;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Protocols.Relay;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.Relay;

/// <summary>Circuit relay v2 against js-libp2p: our node on a js relay, js peers on our relay, both directions.</summary>
public sealed class RelayJsInteropTests : IDisposable
{
    private const string Echo = "/bethrou/test/echo/1.0.0";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);
    private readonly ITestOutputHelper _output;
    private readonly string _dir;

    public RelayJsInteropTests(ITestOutputHelper output)
    {
        _output = output;
        _dir = Path.Combine(Path.GetTempPath(), "bethrou-relay-interop-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private (PreSharedKey Key, string File) NewPsk()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        return (PreSharedKey.FromBytes(bytes), JsInterop.WritePskFile(_dir, bytes));
    }

    private static async Task<Libp2pHost> StartHostAsync(PreSharedKey psk, bool listen)
    {
        var options = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk, DialTimeout = TimeSpan.FromSeconds(10) };
        if (listen)
        {
            options.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        }
        var host = new Libp2pHost(options);
        host.SetStreamHandler(Echo, async (s, ct) =>
        {
            await s.Input.CopyToAsync(s.Output, ct);
            await s.Output.CompleteAsync();
        });
        await host.StartAsync();
        return host;
    }

    private static async Task<RelayReservationManager> ReserveAsync(Libp2pHost node, Multiaddress relay, CancellationToken ct)
    {
        var manager = new RelayReservationManager(node, [relay], new RelayClientOptions { MinBackoff = TimeSpan.FromMilliseconds(200) });
        var reserved = new TaskCompletionSource<RelayReservationInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Reserved += i => reserved.TrySetResult(i);
        manager.Failed += (_, r) => failed.TrySetResult(r);
        manager.Start();
        if (await Task.WhenAny(reserved.Task, failed.Task).WaitAsync(ct) == failed.Task)
        {
            await manager.DisposeAsync();
            throw new IOException("reservation failed: " + failed.Task.Result);
        }
        return manager;
    }

    private static async Task<byte[]> EchoAsync(Libp2pHost host, Libp2pConnection conn, byte[] payload, CancellationToken ct)
    {
        await using var s = await host.NewStreamAsync(conn, Echo, ct);
        var write = Task.Run(async () =>
        {
            for (var o = 0; o < payload.Length; o += 64 * 1024)
            {
                await s.Output.WriteAsync(payload.AsMemory(o, Math.Min(64 * 1024, payload.Length - o)), ct);
            }
            await s.Output.CompleteAsync();
        }, ct);
        using var received = new MemoryStream(payload.Length);
        while (true)
        {
            var r = await s.Input.ReadAsync(ct);
            foreach (var seg in r.Buffer)
            {
                received.Write(seg.Span);
            }
            s.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                break;
            }
        }
        await write;
        return received.ToArray();
    }

    [Fact]
    public async Task OurNodeReservesOnAJsRelayAndOurClientReachesItThroughIt()
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var (psk, pskFile) = NewPsk();
        var jsRelay = await JsPeer.StartAsync(new JsPeerOptions { Name = "js-relay", PskFile = pskFile, RelayServer = true, DisableConnectionMonitor = true });
        await using var _r = jsRelay;
        await using var node = await StartHostAsync(psk, listen: false);
        await using var client = await StartHostAsync(psk, listen: false);
        var relayAddr = Multiaddress.Parse(jsRelay.Addr);

        await using var manager = await ReserveAsync(node, relayAddr, cts.Token);
        var info = Assert.Single(manager.Active);
        _output.WriteLine($"js relay reservation: expires {info.Expire:O}, limit {info.Limit}, addrs {string.Join(" ", info.RelayAddresses)}");
        Assert.Equal(jsRelay.PeerId, info.Relay.ToString());
        Assert.NotNull(info.Limit);                                  // js always sends its (raised) limits
        Assert.Equal(1UL << 30, info.Limit!.Data);

        var circuit = info.CircuitAddress.WithPeerId(node.LocalPeer);
        var conn = await client.ConnectAsync(circuit, cts.Token);
        Assert.True(conn.IsLimited);
        Assert.Equal(node.LocalPeer, conn.RemotePeer);
        await conn.Identified.WaitAsync(cts.Token);

        var payload = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        var sw = Stopwatch.StartNew();
        Assert.Equal(payload, await EchoAsync(client, conn, payload, cts.Token));
        _output.WriteLine($"C# -> js relay -> C# echo 16 MiB: {16 * 1.048576 * 2 / sw.Elapsed.TotalSeconds:0.0} MB/s relayed (both directions)");

        // the js relay sees two unlimited direct connections (ours) and relays between them
        var relayConns = await jsRelay.ConnectionsAsync(cancellationToken: cts.Token);
        Assert.Contains(relayConns, c => c.Peer == node.LocalPeer.ToString() && !c.Limited);
        Assert.Contains(relayConns, c => c.Peer == client.LocalPeer.ToString() && !c.Limited);
    }

    [Fact]
    public async Task JsPeerReachesOurNodeThroughOurRelay()
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var (psk, pskFile) = NewPsk();
        await using var relay = await StartHostAsync(psk, listen: true);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false);
        await using var manager = await ReserveAsync(node, relay.ListenAddresses[0].WithPeerId(relay.LocalPeer), cts.Token);
        var circuit = manager.Active[0].CircuitAddress.WithPeerId(node.LocalPeer).ToString();

        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "js-client", PskFile = pskFile, RelayClient = true, DisableConnectionMonitor = true });
        await using var _js = js;
        var dial = await js.DialAsync(circuit, cancellationToken: cts.Token);
        Assert.Equal(node.LocalPeer.ToString(), dial.PeerId);
        _output.WriteLine($"js dialled {circuit}: limited={dial.Limited}, remote {dial.RemoteAddr}");
        Assert.False(dial.Limited);                                  // our relay sends no limit: js runs every protocol on it

        var ping = await js.PingAsync(circuit, count: 3, cancellationToken: cts.Token);
        Assert.Equal(3, ping.Rtts.Count);
        var echo = await js.EchoAsync(circuit, 16L * 1024 * 1024, streams: 2, timeout: s_timeout, cancellationToken: cts.Token);
        Assert.True(echo.Ok, echo.Error);
        Assert.All(echo.Streams, s => Assert.Equal(s.Sha256Sent, s.Sha256Received));
        _output.WriteLine($"js -> our relay -> our node echo 2 x 16 MiB: {echo.MegabytesPerSecond} MB/s");

        var ours = Assert.Single(node.Connections, c => c.RemotePeer.ToString() == js.PeerId);
        Assert.True(ours.IsLimited);
        Assert.False(ours.IsOutbound);
        var identified = await ours.Identified.WaitAsync(cts.Token);
        Assert.StartsWith("js-libp2p/", identified.AgentVersion, StringComparison.Ordinal);
        Assert.Equal(1, service.CircuitCount);
    }

    [Fact]
    public async Task JsPeerListensThroughOurRelayAndOurClientDialsIt()
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var (psk, pskFile) = NewPsk();
        await using var relay = await StartHostAsync(psk, listen: true);
        await using var service = new RelayService(relay);
        service.Start();
        var relayAddr = relay.ListenAddresses[0].WithPeerId(relay.LocalPeer);

        var js = await JsPeer.StartAsync(new JsPeerOptions
        {
            Name = "js-behind-relay",
            PskFile = pskFile,
            ExtraListenAddrs = [relayAddr + "/p2p-circuit"],
            DisableConnectionMonitor = true,
        });
        await using var _js = js;
        _output.WriteLine("js addrs: " + string.Join(" ", js.Addrs));
        Assert.Contains(js.Addrs, a => a.StartsWith(relayAddr + "/p2p-circuit", StringComparison.Ordinal));
        Assert.Equal([js.PeerId], service.ReservedPeers.Select(p => p.ToString()));

        await using var client = await StartHostAsync(psk, listen: false);
        var conn = await client.ConnectAsync(relayAddr.Encapsulate("/p2p-circuit/p2p/" + js.PeerId), cts.Token);
        Assert.True(conn.IsLimited);
        var info = await conn.Identified.WaitAsync(cts.Token);
        Assert.StartsWith("js-libp2p/", info.AgentVersion, StringComparison.Ordinal);
        Assert.True(await client.PingAsync(conn, cts.Token) > TimeSpan.Zero);

        var payload = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        var sw = Stopwatch.StartNew();
        Assert.Equal(payload, await EchoAsync(client, conn, payload, cts.Token));
        _output.WriteLine($"C# -> our relay -> js echo 16 MiB: {16 * 1.048576 * 2 / sw.Elapsed.TotalSeconds:0.0} MB/s (both directions)");
        Assert.Equal(1, service.CircuitCount);
    }
}
