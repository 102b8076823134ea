using System.Security.Cryptography;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Multistream;
using Bethrou.Libp2p.Pnet;
using Bethrou.Libp2p.Security;
using Bethrou.Libp2p.Tests.Transport;
using Bethrou.Libp2p.Upgrade;

namespace Bethrou.Libp2p.Tests.Host;

public sealed class HostTests
{
    private const string Echo = "/bethrou/test/echo/1.0.0";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    internal static async Task<Libp2pHost> StartAsync(PreSharedKey? psk, bool listen = true, string listenAddr = "/ip4/127.0.0.1/tcp/0")
    {
        var options = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk, DialTimeout = TimeSpan.FromSeconds(5), UpgradeTimeout = TimeSpan.FromSeconds(5) };
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

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/0")]
    [InlineData("/ip6/::1/tcp/0")]
    public async Task SamePskConnectsIdentifiesPingsAndEchoes(string listen)
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await StartAsync(psk, listenAddr: listen);
        await using var b = await StartAsync(psk, listen: false);
        var conn = await b.ConnectAsync(a.ListenAddresses[0].WithPeerId(a.LocalPeer), cts.Token);
        Assert.Equal(a.LocalPeer, conn.RemotePeer);

        var info = await conn.Identified.WaitAsync(cts.Token);
        Assert.StartsWith("bethrou/", info.AgentVersion, StringComparison.Ordinal);
        Assert.Contains(Echo, info.Protocols);
        Assert.Contains("/ipfs/ping/1.0.0", info.Protocols);
        Assert.Equal(a.Identity.PublicKey, info.PublicKey);
        Assert.Contains(a.ListenAddresses[0], info.Addresses);

        var rtt = await b.PingAsync(conn, cts.Token);
        Assert.True(rtt > TimeSpan.Zero);

        var payload = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);
        await using var s = await b.NewStreamAsync(conn, Echo, cts.Token);
        var write = Task.Run(async () =>
        {
            await s.Output.WriteAsync(payload, cts.Token);
            await s.Output.CompleteAsync();
        });
        var echoed = await TcpTransportTests.ReadToEndAsync(s.Input, cts.Token);
        await write;
        Assert.Equal(payload, echoed);

        // A second dial to the same peer reuses the connection.
        Assert.Same(conn, await b.ConnectAsync(a.LocalPeer, cts.Token));
    }

    [Fact]
    public async Task EightStreamsAtOnce()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await StartAsync(psk);
        await using var b = await StartAsync(psk, listen: false);
        var conn = await b.ConnectAsync(a.ListenAddresses[0].WithPeerId(a.LocalPeer), cts.Token);
        var tasks = Enumerable.Range(0, 8).Select(async i =>
        {
            var payload = RandomNumberGenerator.GetBytes(1024 * 1024 + i);
            await using var s = await b.NewStreamAsync(conn, Echo, cts.Token);
            var write = Task.Run(async () =>
            {
                await s.Output.WriteAsync(payload, cts.Token);
                await s.Output.CompleteAsync();
            });
            var echoed = await TcpTransportTests.ReadToEndAsync(s.Input, cts.Token);
            await write;
            Assert.Equal(payload, echoed);
        });
        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task DifferentPskFailsCleanlyAndListenerKeepsServing()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await StartAsync(psk);
        await using var wrong = await StartAsync(PreSharedKey.Generate(), listen: false);
        await using var none = await StartAsync(null, listen: false);
        var addr = a.ListenAddresses[0].WithPeerId(a.LocalPeer);

        var ex = await Assert.ThrowsAsync<UpgradeException>(async () => await wrong.ConnectAsync(addr, cts.Token));
        Assert.Contains("handshake failed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PSK", ex.Message, StringComparison.Ordinal);

        var ex2 = await Assert.ThrowsAnyAsync<IOException>(async () => await none.ConnectAsync(addr, cts.Token));
        Assert.Contains("handshake failed", ex2.Message, StringComparison.Ordinal);

        await using var good = await StartAsync(psk, listen: false);
        var conn = await good.ConnectAsync(addr, cts.Token);
        Assert.True(await good.PingAsync(conn, cts.Token) > TimeSpan.Zero);
    }

    [Fact]
    public async Task DialingTheWrongPeerIdFails()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await StartAsync(psk);
        await using var b = await StartAsync(psk, listen: false);
        using var other = Ed25519PrivateKey.Generate();
        var ex = await Assert.ThrowsAsync<PeerIdMismatchException>(async () =>
            await b.ConnectAsync(a.ListenAddresses[0].WithPeerId(other.PeerId), cts.Token));
        Assert.Contains(other.PeerId.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownProtocolIsRefusedAndConnectionStaysUp()
    {
        using var cts = new CancellationTokenSource(Limit);
        var psk = PreSharedKey.Generate();
        await using var a = await StartAsync(psk);
        await using var b = await StartAsync(psk, listen: false);
        var conn = await b.ConnectAsync(a.ListenAddresses[0].WithPeerId(a.LocalPeer), cts.Token);
        await Assert.ThrowsAsync<NegotiationFailedException>(async () => await b.NewStreamAsync(conn, "/no/such/1.0.0", cts.Token));
        Assert.True(await b.PingAsync(conn, cts.Token) > TimeSpan.Zero);
    }

    [Fact]
    public async Task DialTimeoutIsBounded()
    {
        // A listener that accepts TCP but never speaks: the dial must fail at the upgrade within the dial timeout.
        var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            var psk = PreSharedKey.Generate();
            var options = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk, DialTimeout = TimeSpan.FromMilliseconds(500) };
            await using var b = new Libp2pHost(options);
            var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
            using var peer = Ed25519PrivateKey.Generate();
            var ex = await Assert.ThrowsAnyAsync<Exception>(async () =>
                await b.ConnectAsync(Multiaddress.Parse($"/ip4/127.0.0.1/tcp/{port}/p2p/{peer.PeerId}")));
            Assert.True(ex is TimeoutException or UpgradeException, ex.ToString());
        }
        finally
        {
            silent.Stop();
        }
    }
}
