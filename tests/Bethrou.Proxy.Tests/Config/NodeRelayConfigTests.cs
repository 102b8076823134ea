using Bethrou.Libp2p.Crypto;
using Bethrou.Proxy.Config;

namespace Bethrou.Proxy.Tests.Config;

public sealed class NodeRelayConfigTests
{
    private static readonly string Relay = "/ip4/203.0.113.7/tcp/4000/p2p/" + Ed25519PrivateKey.Generate().PeerId;
    private static readonly Dictionary<string, string> NoEnv = [];

    private static NodeConfig Load(string yaml, Dictionary<string, string>? env = null, NodeOverrides? flags = null) =>
        NodeConfigLoader.Load("node.yaml", env ?? NoEnv, flags ?? NodeOverrides.None, a => a.StartsWith('/') ? null : "not a multiaddr", _ => yaml);

    [Fact]
    public void Defaults_relay_off_and_no_limits()
    {
        var c = Load("key: k\n");
        Assert.False(c.Relay.Enabled);
        Assert.Empty(c.Relay.Connect);
        var o = c.Relay.ToServiceOptions();
        Assert.Empty(o.Validate());
        Assert.Equal(0UL, o.DataLimit);
        Assert.Equal(TimeSpan.Zero, o.DurationLimit);
        Assert.Null(o.WireLimit);
        Assert.Equal(TimeSpan.FromHours(1), o.ReservationTtl);
        Assert.Contains("relay.enabled: false", c.Describe());
    }

    [Fact]
    public void File_env_and_flags_layer()
    {
        var c = Load($"""
            key: k
            relay:
              enabled: true
              connect: [{Relay}]
              max_reservations: 10
              max_reservations_per_ip: 0
              reservation_ttl: 30m
              max_circuits: 100
              max_circuits_per_peer: 8
              data_limit: 10GiB
              duration_limit: 12h
            """);
        Assert.True(c.Relay.Enabled);
        Assert.Equal([Relay], c.Relay.Connect);
        var o = c.Relay.ToServiceOptions();
        Assert.Equal(10, o.MaxReservations);
        Assert.Equal(0, o.MaxReservationsPerIp);
        Assert.Equal(TimeSpan.FromMinutes(30), o.ReservationTtl);
        Assert.Equal(100, o.MaxCircuits);
        Assert.Equal(8, o.MaxCircuitsPerPeer);
        Assert.Equal(10UL << 30, o.DataLimit);
        Assert.Equal(TimeSpan.FromHours(12), o.DurationLimit);
        Assert.Equal(new Bethrou.Libp2p.Protocols.Relay.RelayLimit(43200, 10UL << 30), o.WireLimit);
        Assert.Contains("relay.data_limit: 10737418240 bytes", c.Describe());

        var other = "/ip4/198.51.100.1/tcp/4000/p2p/" + Ed25519PrivateKey.Generate().PeerId;
        var env = new Dictionary<string, string> { ["BETHROU_RELAY_MODE"] = "false", ["BETHROU_CONNECT_RELAY"] = other };
        var e = Load("key: k\nrelay: {enabled: true}\n", env);
        Assert.False(e.Relay.Enabled);
        Assert.Equal([other], e.Relay.Connect);

        var f = Load("key: k\n", env, new NodeOverrides { RelayMode = true, ConnectRelay = [Relay, other] });
        Assert.True(f.Relay.Enabled);
        Assert.Equal([Relay, other], f.Relay.Connect);
    }

    [Fact]
    public void Bad_values_are_all_reported()
    {
        var ex = Assert.Throws<ConfigException>(() => Load("""
            key: k
            relay:
              connect: [/ip4/1.2.3.4/tcp/4000, nonsense]
              max_reservations: 0
              data_limit: lots
            """, flags: new NodeOverrides { ConnectRelay = ["/ip4/1.2.3.4/tcp/1/p2p/12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB/p2p-circuit"] }));
        var text = string.Join("\n", ex.Errors);
        Assert.Contains("'/ip4/1.2.3.4/tcp/4000': a relay address must end with /p2p/<relay peer id>", text);
        Assert.Contains("'nonsense'", text);
        Assert.Contains("must be at least 1", text);
        Assert.Contains("'lots' is not a byte count", text);
        Assert.Contains("--connect-relay: '/ip4/1.2.3.4/tcp/1/p2p/12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB/p2p-circuit': a relay address must not itself contain /p2p-circuit", text);
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("4096", 4096UL)]
    [InlineData("128KiB", 131072UL)]
    [InlineData("1 MiB", 1048576UL)]
    [InlineData("2g", 2147483648UL)]
    [InlineData("1TiB", 1099511627776UL)]
    public void Sizes_parse(string text, ulong expected)
    {
        Assert.True(NodeRelaySettings.TryParseSize(text, out var v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("-1")]
    [InlineData("1.5GiB")]
    [InlineData("99999999999TiB")]
    [InlineData("3 parsecs")]
    public void Bad_sizes_are_refused(string text) => Assert.False(NodeRelaySettings.TryParseSize(text, out _));
}
