using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Proxy.Config;

namespace Bethrou.Proxy.Tests.Config;

public sealed class NodeConfigLoaderTests
{
    private static readonly PeerId Client1 = Ed25519PrivateKey.Generate().PeerId;
    private static readonly PeerId Client2 = Ed25519PrivateKey.Generate().PeerId;
    private static readonly Dictionary<string, string> NoEnv = [];

    private static NodeConfig Load(string yaml, Dictionary<string, string>? env = null, NodeOverrides? flags = null) =>
        NodeConfigLoader.Load("node.yaml", env ?? NoEnv, flags ?? NodeOverrides.None, a => a.StartsWith('/') ? null : "not a multiaddr", _ => yaml);

    [Fact]
    public void Defaults_with_only_a_key()
    {
        var c = NodeConfigLoader.Load(null, NoEnv, new NodeOverrides { KeyPath = "network.key" });
        Assert.Equal("network.key", c.KeyPath);
        Assert.Equal(Path.Combine(StatePaths.StateDirectory(), "node.key"), c.IdentityPath);
        Assert.Equal(["/ip4/0.0.0.0/tcp/4000"], c.Listen);
        Assert.Empty(c.Announce);
        Assert.False(c.AllowPrivate);
        Assert.Empty(c.DeniedPorts);
        Assert.Null(c.AllowedPeers);
        Assert.Equal(8192, c.MaxConcurrentStreams);
        Assert.Equal(2048, c.MaxConcurrentStreamsPerPeer);
        Assert.Equal(TimeSpan.FromSeconds(10), c.DialTimeout);
        var options = c.ToExitOptions();
        Assert.Empty(options.Validate());
        Assert.Null(options.AllowedPeers);
    }

    [Fact]
    public void Full_file_loads_and_maps_to_exit_options()
    {
        var c = Load($"""
            key: /etc/bethrou/network.key
            identity: /var/lib/bethrou/node.key
            listen:
              - /ip4/0.0.0.0/tcp/4000
              - /ip6/::/tcp/4000
            announce: /dns4/exit.example.com/tcp/4000
            exit:
              allow_private: true
              denied_ports: [25, 465]
              allowed_peers: [{Client1}, {Client2}]
              max_streams: 500
              max_streams_per_peer: 50
              dial_timeout: 5s
            log: {"{"}level: debug, format: json{"}"}
            """);
        Assert.Equal(["/ip4/0.0.0.0/tcp/4000", "/ip6/::/tcp/4000"], c.Listen);
        Assert.Equal(["/dns4/exit.example.com/tcp/4000"], c.Announce);
        var o = c.ToExitOptions();
        Assert.True(o.AllowPrivate);
        Assert.Equal([25, 465], o.DeniedPorts);
        Assert.Equal([Client1, Client2], o.AllowedPeers!);
        Assert.Equal(500, o.MaxConcurrentStreams);
        Assert.Equal(50, o.MaxConcurrentStreamsPerPeer);
        Assert.Equal(TimeSpan.FromSeconds(5), o.DialTimeout);
        Assert.Equal("debug", c.Log.Level);
        Assert.Contains("exit.allow_private: true", c.Describe());
    }

    [Fact]
    public void Flags_beat_env_beat_file()
    {
        var env = new Dictionary<string, string>
        {
            ["BETHROU_ALLOW_PRIVATE"] = "true",
            ["BETHROU_DENIED_PORTS"] = "25,587",
            ["BETHROU_LISTEN"] = "/ip4/127.0.0.1/tcp/5000",
            ["BETHROU_ALLOWED_PEERS"] = Client1.ToString(),
            ["BETHROU_MAX_STREAMS"] = "64",
        };
        var c = Load("key: k\nexit:\n  allow_private: false\n  max_streams: 10\n  max_streams_per_peer: 5\n", env,
            new NodeOverrides { AllowPrivate = false, Listen = ["/ip4/127.0.0.1/tcp/6000"], MaxStreamsPerPeer = 8 });
        Assert.False(c.AllowPrivate);                        // flag
        Assert.Equal(["/ip4/127.0.0.1/tcp/6000"], c.Listen); // flag
        Assert.Equal([25, 587], c.DeniedPorts);              // env
        Assert.Equal([Client1], c.AllowedPeers!);            // env
        Assert.Equal(64, c.MaxConcurrentStreams);            // env over file
        Assert.Equal(8, c.MaxConcurrentStreamsPerPeer);      // flag over file
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var ex = Assert.Throws<ConfigException>(() => Load("""
            identity: node.key
            listen: [tcp://0.0.0.0:4000]
            exit:
              allow_privat: true
              denied_ports: [25, 0, smtp]
              allowed_peers: [nobody]
              max_streams: 0
              dial_timeout: 10
            """, new Dictionary<string, string> { ["BETHROU_MAX_STREAMS_PER_PEER"] = "many" }));
        Assert.Equal(
        [
            "listen at line 2: 'tcp://0.0.0.0:4000': not a multiaddr",
            "unknown key 'exit.allow_privat' at line 4 (did you mean 'allow_private'?)",
            "exit.denied_ports at line 5: '0' is not a port number (1-65535)",
            "exit.denied_ports at line 5: 'smtp' is not a port number (1-65535)",
            "exit.allowed_peers at line 6: peer id 'nobody' is neither base58btc nor a base32 CID",
            "exit.max_streams at line 7: must be at least 1",
            "exit.dial_timeout at line 8: invalid duration '10': missing unit (use e.g. 30s, 1m30s, 500ms)",
            "BETHROU_MAX_STREAMS_PER_PEER: 'many' is not a whole number",
            "no network key file: set 'key' in the config file, --key or BETHROU_KEY",
        ], ex.Errors);
        Assert.StartsWith("invalid node configuration (node.yaml): 9 problems:", ex.Message);
    }

    [Fact]
    public void Per_peer_limit_cannot_exceed_global()
    {
        var ex = Assert.Throws<ConfigException>(() => Load("key: k\nexit: {max_streams: 10}\n", flags: new NodeOverrides { MaxStreamsPerPeer = 20 }));
        Assert.Equal(["--max-streams-per-peer: 20 streams per peer exceeds the global limit of 10 (exit.max_streams at line 2)"], ex.Errors);
    }
}
