using System.Security.Cryptography;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Protocols.Relay;
using Bethrou.Libp2p.Tests.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Bethrou.Libp2p.Tests.Relay;

/// <summary>Relay service, relayed dialing and listening through a relay, with real hosts on loopback.</summary>
public sealed class RelayHostTests
{
    private const string Echo = "/bethrou/test/echo/1.0.0";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    internal static async Task<Libp2pHost> StartHostAsync(PreSharedKey? psk, bool listen = true, Ed25519PrivateKey? identity = null,
        string listenAddr = "/ip4/127.0.0.1/tcp/0", bool holePunching = true)
    {
        var options = new Libp2pHostOptions
        {
            Identity = identity ?? Ed25519PrivateKey.Generate(),
            Psk = psk,
            DialTimeout = TimeSpan.FromSeconds(10),
            UpgradeTimeout = TimeSpan.FromSeconds(10),
            EnableHolePunching = holePunching,
        };
        if (listen)
        {
            options.ListenAddresses.Add(Multiaddress.Parse(listenAddr));
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

    internal static Multiaddress AddrOf(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.LocalPeer);

    internal static Multiaddress CircuitTo(Libp2pHost relay, Libp2pHost target) =>
        AddrOf(relay).Encapsulate("/p2p-circuit/p2p/" + target.LocalPeer);

    /// <summary>Starts a reservation manager and waits for its first reservation.</summary>
    internal static async Task<(RelayReservationManager Manager, RelayReservationInfo Info)> ReserveAsync(Libp2pHost node, Multiaddress relay,
        CancellationToken ct, RelayClientOptions? options = null, TimeProvider? time = null)
    {
        var manager = new RelayReservationManager(node, [relay], options ?? new RelayClientOptions { MinBackoff = TimeSpan.FromMilliseconds(100) }, time: time);
        var reserved = new TaskCompletionSource<RelayReservationInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Reserved += i => reserved.TrySetResult(i);
        manager.Failed += (_, reason) => failed.TrySetResult(reason);
        manager.Start();
        var first = await Task.WhenAny(reserved.Task, failed.Task).WaitAsync(ct);
        if (first == failed.Task)
        {
            await manager.DisposeAsync();
            throw new IOException("reservation failed: " + failed.Task.Result);
        }
        return (manager, reserved.Task.Result);
    }

    internal static async Task<byte[]> EchoAsync(Libp2pHost host, Libp2pConnection conn, byte[] payload, CancellationToken ct)
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
        var echoed = await TcpTransportTests.ReadToEndAsync(s.Input, ct);
        await write;
        return echoed;
    }

    [Fact]
    public async Task NodeReservesAndClientReachesItThroughTheRelay()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);

        var (manager, info) = await ReserveAsync(node, AddrOf(relay), cts.Token);
        await using var _m = manager;
        Assert.Equal(relay.LocalPeer, info.Relay);
        Assert.Equal(AddrOf(relay).Encapsulate("/p2p-circuit"), info.CircuitAddress);
        Assert.Contains(info.CircuitAddress, node.ListenAddresses);
        Assert.Contains(info.CircuitAddress, node.AdvertisedAddresses());
        Assert.Null(info.Limit);                                   // our relay's default: no limits
        Assert.InRange(info.Expire, DateTimeOffset.UtcNow.AddMinutes(55), DateTimeOffset.UtcNow.AddMinutes(61));
        Assert.Equal([node.LocalPeer], service.ReservedPeers);

        var conn = await client.ConnectAsync(CircuitTo(relay, node), cts.Token);
        Assert.True(conn.IsLimited);
        Assert.True(conn.IsOutbound);
        Assert.Equal(node.LocalPeer, conn.RemotePeer);

        // identify runs over the relayed connection (no observed address on relayed connections)
        var identified = await conn.Identified.WaitAsync(cts.Token);
        Assert.Contains(RelayProtocol.StopProtocolId, identified.Protocols);
        Assert.Contains(info.CircuitAddress, identified.Addresses);

        // 2 MiB both ways, byte for byte, through the relay
        var payload = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        Assert.Equal(payload, await EchoAsync(client, conn, payload, cts.Token));
        Assert.Equal(1, service.CircuitCount);

        // the node's side: an inbound limited connection from the client; streams work the other way too
        var back = Assert.Single(node.Connections, c => c.RemotePeer == client.LocalPeer);
        Assert.True(back.IsLimited);
        Assert.False(back.IsOutbound);
        Assert.Equal(payload.AsSpan(0, 100_000).ToArray(), await EchoAsync(node, back, payload.AsSpan(0, 100_000).ToArray(), cts.Token));
        Assert.True(await client.PingAsync(conn, cts.Token) > TimeSpan.Zero);

        // closing the relayed connection releases the circuit
        await conn.CloseAsync();
        while (service.CircuitCount != 0)
        {
            await Task.Delay(20, cts.Token);
        }
    }

    [Fact]
    public async Task TargetWithoutReservationIsRefusedWithNoReservation()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        await node.ConnectAsync(AddrOf(relay), cts.Token);   // connected, but no reservation

        var ex = await Assert.ThrowsAsync<RelayException>(async () => await client.ConnectAsync(CircuitTo(relay, node), cts.Token));
        Assert.Equal(RelayStatus.NoReservation, ex.Status);
        Assert.Contains("NO_RESERVATION", ex.Message, StringComparison.Ordinal);
        Assert.Contains(relay.LocalPeer.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, service.CircuitCount);
    }

    [Fact]
    public async Task DataLimitResetsTheRelayedConnection()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay, new RelayServiceOptions { DataLimit = 256 * 1024 });
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        var (manager, info) = await ReserveAsync(node, AddrOf(relay), cts.Token);
        await using var _m = manager;
        Assert.Equal(new RelayLimit(0, 256 * 1024), info.Limit);

        var conn = await client.ConnectAsync(CircuitTo(relay, node), cts.Token);
        var small = RandomNumberGenerator.GetBytes(16 * 1024);
        Assert.Equal(small, await EchoAsync(client, conn, small, cts.Token));

        var big = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        await Assert.ThrowsAnyAsync<Exception>(async () => await EchoAsync(client, conn, big, cts.Token));
        await Task.Delay(Timeout.Infinite, conn.Closed).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(cts.Token);
        Assert.True(conn.IsClosed);
        while (service.CircuitCount != 0)
        {
            await Task.Delay(20, cts.Token);
        }
    }

    [Fact]
    public async Task HopRequestsOverARelayedConnectionAreRefused()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var nodeService = new RelayService(node);   // the node is a relay too
        nodeService.Start();
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        var (manager, _) = await ReserveAsync(node, AddrOf(relay), cts.Token);
        await using var _m = manager;
        var conn = await client.ConnectAsync(CircuitTo(relay, node), cts.Token);

        foreach (var request in new[] { HopMessage.Reserve(), HopMessage.Connect(relay.LocalPeer) })
        {
            await using var hop = await client.NewStreamAsync(conn, RelayProtocol.HopProtocolId, cts.Token);
            await RelayCodec.WriteAsync(hop.Output, request, cts.Token);
            var answer = await RelayCodec.ReadHopAsync(hop.Input, cts.Token);
            Assert.Equal(HopMessageType.Status, answer.Type);
            Assert.Equal(RelayStatus.PermissionDenied, answer.Status);
        }
        Assert.Equal(0, nodeService.ReservationCount);
    }

    [Fact]
    public async Task StopFromARelayWeHoldNoReservationOnIsRefused()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var node = await StartHostAsync(psk);
        await using var manager = new RelayReservationManager(node, []);
        manager.Start();
        await using var stranger = await StartHostAsync(psk, listen: false, holePunching: false);
        var conn = await stranger.ConnectAsync(AddrOf(node), cts.Token);
        await using var stop = await stranger.NewStreamAsync(conn, RelayProtocol.StopProtocolId, cts.Token);
        await RelayCodec.WriteAsync(stop.Output, new StopMessage(StopMessageType.Connect) { Peer = new RelayPeer(stranger.LocalPeer) }, cts.Token);
        var answer = await RelayCodec.ReadStopAsync(stop.Input, cts.Token);
        Assert.Equal(StopMessageType.Status, answer.Type);
        Assert.Equal(RelayStatus.PermissionDenied, answer.Status);
    }

    [Fact]
    public async Task MalformedAndUnexpectedHopRequestsGetTheirStatus()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        var conn = await client.ConnectAsync(AddrOf(relay), cts.Token);

        await using (var hop = await client.NewStreamAsync(conn, RelayProtocol.HopProtocolId, cts.Token))
        {
            await hop.Output.WriteAsync(new byte[] { 0x02, 0x28, 0x64 }, cts.Token);   // no type
            Assert.Equal(RelayStatus.MalformedMessage, (await RelayCodec.ReadHopAsync(hop.Input, cts.Token)).Status);
        }
        await using (var hop = await client.NewStreamAsync(conn, RelayProtocol.HopProtocolId, cts.Token))
        {
            await RelayCodec.WriteAsync(hop.Output, HopMessage.FromStatus(RelayStatus.Ok), cts.Token);
            Assert.Equal(RelayStatus.UnexpectedMessage, (await RelayCodec.ReadHopAsync(hop.Input, cts.Token)).Status);
        }
        await using (var hop = await client.NewStreamAsync(conn, RelayProtocol.HopProtocolId, cts.Token))
        {
            await RelayCodec.WriteAsync(hop.Output, new HopMessage(HopMessageType.Connect), cts.Token);  // no peer
            Assert.Equal(RelayStatus.MalformedMessage, (await RelayCodec.ReadHopAsync(hop.Input, cts.Token)).Status);
        }
    }

    [Fact]
    public async Task ReservationLimitIsEnforced()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay, new RelayServiceOptions { MaxReservations = 1 });
        service.Start();
        await using var first = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var second = await StartHostAsync(psk, listen: false, holePunching: false);
        var (manager, _) = await ReserveAsync(first, AddrOf(relay), cts.Token);
        await using var _m = manager;

        var ex = await Assert.ThrowsAsync<IOException>(async () => await ReserveAsync(second, AddrOf(relay), cts.Token));
        Assert.Contains("RESOURCE_LIMIT_EXCEEDED", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReservationComesBackAfterTheRelayRestarts()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        var relayKey = Ed25519PrivateKey.Generate();
        var relay = await StartHostAsync(psk, identity: relayKey);
        var service = new RelayService(relay);
        service.Start();
        var relayAddr = AddrOf(relay);
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);

        var manager = new RelayReservationManager(node, [relayAddr], new RelayClientOptions { MinBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromMilliseconds(500) });
        await using var _m = manager;
        var reservations = System.Threading.Channels.Channel.CreateUnbounded<RelayReservationInfo>();
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Reserved += i => reservations.Writer.TryWrite(i);
        manager.Lost += (_, _) => lost.TrySetResult();
        manager.Start();
        var info = await reservations.Reader.ReadAsync(cts.Token);

        await service.DisposeAsync();
        await relay.DisposeAsync();
        await lost.Task.WaitAsync(cts.Token);
        Assert.DoesNotContain(info.CircuitAddress, node.ListenAddresses);

        await using var relay2 = await StartHostAsync(psk, identity: relayKey, listenAddr: relayAddr.WithoutPeerId().ToString());
        await using var service2 = new RelayService(relay2);
        service2.Start();
        var again = await reservations.Reader.ReadAsync(cts.Token);
        Assert.Equal(info.CircuitAddress, again.CircuitAddress);
        Assert.Contains(again.CircuitAddress, node.ListenAddresses);

        var conn = await client.ConnectAsync(CircuitTo(relay2, node), cts.Token);
        var payload = RandomNumberGenerator.GetBytes(100_000);
        Assert.Equal(payload, await EchoAsync(client, conn, payload, cts.Token));
    }

    [Fact]
    public async Task ReservationIsRefreshedBeforeItExpires()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var refreshed = new TaskCompletionSource<RelayReservationInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (manager, info) = await ReserveAsync(node, AddrOf(relay), cts.Token, time: clock);
        await using var _m = manager;
        manager.Refreshed += i => refreshed.TrySetResult(i);

        clock.Advance(TimeSpan.FromMinutes(44));
        Assert.False(refreshed.Task.IsCompleted);
        clock.Advance(TimeSpan.FromMinutes(2));    // 3/4 of the 1 h TTL has passed
        var again = await refreshed.Task.WaitAsync(cts.Token);
        Assert.Equal(info.CircuitAddress, again.CircuitAddress);
        Assert.True(again.Expire >= info.Expire);
        Assert.Single(manager.Active);
    }

    [Fact]
    public async Task InvalidVoucherIsRefused()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        var other = Ed25519PrivateKey.Generate();
        relay.SetStreamHandler(RelayProtocol.HopProtocolId, async (s, ct) =>
        {
            await RelayCodec.ReadHopAsync(s.Input, ct);
            // a voucher for some other peer, properly signed by the relay
            var voucher = new RelayVoucher(relay.LocalPeer, other.PeerId, 2_000_000_000).Seal(relay.Identity);
            await RelayCodec.WriteAsync(s.Output, new HopMessage(HopMessageType.Status)
            {
                Status = RelayStatus.Ok,
                Reservation = new RelayReservation(2_000_000_000, [], voucher),
            }, ct);
        });
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        var ex = await Assert.ThrowsAsync<IOException>(async () => await ReserveAsync(node, AddrOf(relay), cts.Token));
        Assert.Contains($"sent a voucher for relay {relay.LocalPeer} and peer {other.PeerId}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KnownPeerIsReachedThroughTheRelayWhenItsDirectAddressIsDead()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk, listen: false, holePunching: false);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        var (manager, info) = await ReserveAsync(node, AddrOf(relay), cts.Token);
        await using var _m = manager;

        var dead = Multiaddress.Parse($"/ip4/127.0.0.1/tcp/{GetClosedPort()}");
        client.PeerStore.GetOrAdd(node.LocalPeer).AddAddresses([dead, info.CircuitAddress]);
        var conn = await client.ConnectAsync(node.LocalPeer, cts.Token);
        Assert.True(conn.IsLimited);
        Assert.Equal(node.LocalPeer, conn.RemotePeer);
    }

    [Fact]
    public async Task DirectAddressWinsOverTheRelay()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await StartHostAsync(psk);
        await using var client = await StartHostAsync(psk, listen: false, holePunching: false);
        var (manager, info) = await ReserveAsync(node, AddrOf(relay), cts.Token);
        await using var _m = manager;

        client.PeerStore.GetOrAdd(node.LocalPeer).AddAddresses([info.CircuitAddress, node.ListenAddresses[0]]);
        var conn = await client.ConnectAsync(node.LocalPeer, cts.Token);
        Assert.False(conn.IsLimited);
        Assert.Equal(0, service.CircuitCount);
    }

    [Fact]
    public void RefreshDelayAndBackoff()
    {
        var m = TimeSpan.FromMinutes(2);
        Assert.Equal(TimeSpan.FromMinutes(45), RelayReservationManager.RefreshDelay(TimeSpan.FromHours(1), m));
        Assert.Equal(TimeSpan.FromMinutes(90), RelayReservationManager.RefreshDelay(TimeSpan.FromHours(2), m));
        Assert.Equal(TimeSpan.FromSeconds(30), RelayReservationManager.RefreshDelay(TimeSpan.FromSeconds(150), m));
        Assert.Equal(TimeSpan.FromSeconds(45), RelayReservationManager.RefreshDelay(TimeSpan.FromSeconds(60), m));
        Assert.Equal(TimeSpan.FromSeconds(1), RelayReservationManager.RefreshDelay(TimeSpan.Zero, m));
        Assert.Equal(TimeSpan.FromSeconds(1), RelayReservationManager.RefreshDelay(TimeSpan.FromMilliseconds(500), m));

        var dummy = new Libp2pHost(new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate() });
        var manager = new RelayReservationManager(dummy, []);
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60], Enumerable.Range(1, 8).Select(i => manager.Backoff(i).TotalSeconds));
    }

    [Fact]
    public void BadRelayAddressesAreRefusedAtConstruction()
    {
        var host = new Libp2pHost(new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate() });
        var ex = Assert.Throws<ArgumentException>(() => new RelayReservationManager(host,
            [Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001"), Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001/p2p/" + host.LocalPeer)]));
        Assert.Contains("must end with /p2p/<relay peer id>", ex.Message, StringComparison.Ordinal);
        Assert.Contains("is this node itself", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new RelayService(host, new RelayServiceOptions { MaxReservations = 0 }));
    }

    private static int GetClosedPort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
