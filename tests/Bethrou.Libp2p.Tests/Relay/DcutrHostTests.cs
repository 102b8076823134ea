using System.Security.Cryptography;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Protocols.Dcutr;
using Bethrou.Libp2p.Protocols.Relay;

namespace Bethrou.Libp2p.Tests.Relay;

/// <summary>
/// DCUtR on loopback. TCP simultaneous open cannot be staged reliably on loopback (a SYN that arrives before the
/// other side's is answered with RST at once), so these tests check the exchange and that the relayed connection
/// keeps working whatever the punch gives; the punch itself is tested across simulated NATs in the interop netns tests.
/// </summary>
public sealed class DcutrHostTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PunchIsAttemptedAndTheConnectionKeepsWorkingEitherWay()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await RelayHostTests.StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await RelayHostTests.StartHostAsync(psk, listen: false);
        await using var client = await RelayHostTests.StartHostAsync(psk, listen: false);
        Assert.NotNull(node.HolePunching?.Dialer);
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.HolePunching!.DirectConnectionEstablished += (direct, _) => outcome.TrySetResult("direct " + direct.RemoteAddress);
        node.HolePunching.HolePunchFailed += (_, reason) => outcome.TrySetResult("failed: " + reason);

        var (manager, info) = await RelayHostTests.ReserveAsync(node, RelayHostTests.AddrOf(relay), cts.Token);
        await using var _m = manager;
        // The node reached the relay from its fixed punching port.
        var toRelay = Assert.Single(node.Connections, c => c.RemotePeer == relay.LocalPeer);
        Assert.Equal(node.HolePunching.Dialer!.Port, toRelay.LocalAddress.GetTcpEndpoint()!.Value.Port);

        var conn = await client.ConnectAsync(RelayHostTests.CircuitTo(relay, node), cts.Token);
        Assert.True(conn.IsLimited);
        var result = await outcome.Task.WaitAsync(cts.Token);
        output.WriteLine("loopback punch: " + result);

        // Whatever happened, the client reaches the node (new streams prefer a direct connection when there is one).
        var best = client.GetConnection(node.LocalPeer)!;
        Assert.Equal(result.StartsWith("direct", StringComparison.Ordinal), !best.IsLimited);
        var payload = RandomNumberGenerator.GetBytes(256 * 1024);
        Assert.Equal(payload, await RelayHostTests.EchoAsync(client, best, payload, cts.Token));
        if (!conn.IsClosed)
        {
            Assert.Equal(payload, await RelayHostTests.EchoAsync(client, conn, payload, cts.Token));
        }
    }

    [Fact]
    public async Task PeerWithoutDcutrStaysRelayed()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var relay = await RelayHostTests.StartHostAsync(psk);
        await using var service = new RelayService(relay);
        service.Start();
        await using var node = await RelayHostTests.StartHostAsync(psk, listen: false);
        await using var client = await RelayHostTests.StartHostAsync(psk, listen: false);
        client.RemoveStreamHandler(HolePunchCodec.ProtocolId);   // like a js peer without the dcutr service
        var failed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.HolePunching!.HolePunchFailed += (_, r) => failed.TrySetResult(r);
        var (manager, _) = await RelayHostTests.ReserveAsync(node, RelayHostTests.AddrOf(relay), cts.Token);
        await using var _m = manager;

        var conn = await client.ConnectAsync(RelayHostTests.CircuitTo(relay, node), cts.Token);
        await conn.Identified.WaitAsync(cts.Token);
        var back = Assert.Single(node.Connections, c => c.RemotePeer == client.LocalPeer);
        await back.Identified.WaitAsync(cts.Token);
        var payload = RandomNumberGenerator.GetBytes(64 * 1024);
        Assert.Equal(payload, await RelayHostTests.EchoAsync(client, conn, payload, cts.Token));
        Assert.False(failed.Task.IsCompleted);   // not attempted at all: no failure reported
        Assert.True(client.GetConnection(node.LocalPeer)!.IsLimited);
    }

    [Fact]
    public async Task DcutrStreamOnADirectConnectionIsRefused()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await RelayHostTests.StartHostAsync(psk);
        await using var b = await RelayHostTests.StartHostAsync(psk, listen: false);
        var conn = await b.ConnectAsync(RelayHostTests.AddrOf(a), cts.Token);
        // go accepts dcutr only on relayed connections; so do we (the stream is reset, during or after negotiation).
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using var s = await b.NewStreamAsync(conn, HolePunchCodec.ProtocolId, cts.Token);
            await HolePunchCodec.WriteAsync(s.Output, new HolePunchMessage(HolePunchType.Connect, [Multiaddress.Parse("/ip4/127.0.0.1/tcp/1")]), cts.Token);
            await HolePunchCodec.ReadAsync(s.Input, cts.Token);
        });
        Assert.False(conn.IsClosed);
    }
}
