using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Proxy.Config;

namespace Bethrou.Proxy.Tests.Config;

public sealed class ClientConfigLoaderTests
{
    private static readonly PeerId Node1 = Ed25519PrivateKey.Generate().PeerId;
    private static readonly PeerId Node2 = Ed25519PrivateKey.Generate().PeerId;
    private static readonly Dictionary<string, string> NoEnv = [];

    private static string Addr(PeerId id, int port = 4000) => $"/ip4/127.0.0.1/tcp/{port}/p2p/{id}";

    private static ClientConfig LoadYaml(string yaml, Dictionary<string, string>? env = null, ClientOverrides? flags = null,
        Func<string, string?>? validate = null) =>
        ClientConfigLoader.Load("client.yaml", env ?? NoEnv, flags ?? ClientOverrides.None, validate, _ => yaml);

    private static ConfigException Fails(string yaml, Dictionary<string, string>? env = null, ClientOverrides? flags = null,
        Func<string, string?>? validate = null) =>
        Assert.Throws<ConfigException>(() => LoadYaml(yaml, env, flags, validate));

    [Fact]
    public void Go_quick_start_config_loads()
    {
        var yaml = $"""
            key: "network.key"
            server:
              listen: "127.0.0.1:1080"  # Local SOCKS5 server
              auth: false
            routing:
              strategy: random
              health: 30s
              timeout: 10s
            nodes:
              - id: {Node1}
                addrs:
                  - {Addr(Node1)}
            discovery:
              enabled: false
            log:
              level: info
              format: text
            """;
        var c = LoadYaml(yaml);
        Assert.Equal("network.key", c.KeyPath);
        Assert.Equal(new ListenAddress("127.0.0.1", 1080), c.Server.Listen);
        Assert.False(c.Server.Auth);
        Assert.Equal("random", c.Routing.Strategy);
        Assert.Equal(TimeSpan.FromSeconds(30), c.Routing.Health);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Routing.Timeout);
        var node = Assert.Single(c.Nodes);
        Assert.Equal(Node1, node.Id);
        Assert.Equal([Addr(Node1)], node.Addrs);
        Assert.Null(node.Relay);
        Assert.False(c.Discovery.Enabled);
        Assert.Equal("info", c.Log.Level);
        Assert.Equal("text", c.Log.Format);
        Assert.Equal("client.yaml", c.SourcePath);
    }

    [Fact]
    public void Every_section_is_optional_with_real_defaults()
    {
        var c = LoadYaml($"key: network.key\nnodes:\n  - addrs: [{Addr(Node1)}]\n");
        Assert.Equal("127.0.0.1:1080", c.Server.Listen.ToString());
        Assert.False(c.Server.Auth);
        Assert.Equal(RoutingStrategies.Random, c.Routing.Strategy);
        Assert.Equal(TimeSpan.FromSeconds(30), c.Routing.Health);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Routing.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Discovery.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Server.HandshakeTimeout);
        Assert.Equal("info", c.Log.Level);
        Assert.Equal("text", c.Log.Format);
        Assert.Equal(Node1, Assert.Single(c.Nodes).Id); // id taken from /p2p/
    }

    [Fact]
    public void Empty_sections_and_go_empty_strings_mean_defaults()
    {
        var c = LoadYaml($"""
            key: network.key
            server:
            routing:
              strategy: ""
              health: ""
            discovery: ~
            log: {"{}"}
            nodes: [{"{"}id: {Node1}, addrs: {Addr(Node1)}{"}"}]
            """);
        Assert.Equal("random", c.Routing.Strategy);
        Assert.Equal(TimeSpan.FromSeconds(30), c.Routing.Health);
        Assert.Equal([Addr(Node1)], c.Nodes[0].Addrs);
    }

    [Fact]
    public void Flag_only_form_needs_no_file()
    {
        var c = ClientConfigLoader.Load(null, NoEnv, new ClientOverrides
        {
            KeyPath = "network.key",
            Nodes = [Addr(Node1), Addr(Node2, 4001)],
            Listen = "[::1]:1081",
        });
        Assert.Null(c.SourcePath);
        Assert.Equal([Node1, Node2], c.Nodes.Select(n => n.Id));
        Assert.Equal(new ListenAddress("::1", 1081), c.Server.Listen);
        Assert.Equal("[::1]:1081", c.Server.Listen.ToString());
    }

    [Fact]
    public void Handshake_timeout_comes_from_file_env_or_flag_and_must_be_positive()
    {
        var yaml = $"key: k\nserver:\n  handshake_timeout: 3s\nnodes:\n  - addrs: [{Addr(Node1)}]\n";
        Assert.Equal(TimeSpan.FromSeconds(3), LoadYaml(yaml).Server.HandshakeTimeout);
        var env = new Dictionary<string, string> { ["BETHROU_HANDSHAKE_TIMEOUT"] = "1500ms" };
        Assert.Equal(TimeSpan.FromMilliseconds(1500), LoadYaml(yaml, env).Server.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), LoadYaml(yaml, env, new ClientOverrides { HandshakeTimeout = "1m" }).Server.HandshakeTimeout);
        Assert.Contains("server.handshake_timeout: 3s", LoadYaml(yaml).Describe(), StringComparison.Ordinal);

        var e = Fails(yaml, flags: new ClientOverrides { HandshakeTimeout = "0s" });
        Assert.Contains("--handshake-timeout: duration must be positive (got '0s')", e.Errors);
        e = Fails(yaml.Replace("3s", "soon", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.StartsWith("server.handshake_timeout at line 3: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Fast_open_is_off_by_default_and_comes_from_file_env_or_flag()
    {
        var plain = $"key: k\nnodes:\n  - addrs: [{Addr(Node1)}]\n";
        Assert.False(LoadYaml(plain).Routing.FastOpen);
        Assert.Contains("routing.fast_open: false", LoadYaml(plain).Describe(), StringComparison.Ordinal);

        var yaml = $"key: k\nrouting:\n  fast_open: true\nnodes:\n  - addrs: [{Addr(Node1)}]\n";
        Assert.True(LoadYaml(yaml).Routing.FastOpen);
        var env = new Dictionary<string, string> { ["BETHROU_FAST_OPEN"] = "false" };
        Assert.False(LoadYaml(yaml, env).Routing.FastOpen);
        Assert.True(LoadYaml(yaml, env, new ClientOverrides { FastOpen = true }).Routing.FastOpen);
        Assert.True(LoadYaml(plain, new Dictionary<string, string> { ["BETHROU_FAST_OPEN"] = "true" }).Routing.FastOpen);

        var e = Fails(yaml.Replace("true", "sometimes", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.StartsWith("routing.fast_open at line 3: ", StringComparison.Ordinal) && m.Contains("is not a boolean", StringComparison.Ordinal));
        e = Fails(plain, new Dictionary<string, string> { ["BETHROU_FAST_OPEN"] = "yes please" });
        Assert.Contains(e.Errors, m => m.StartsWith("BETHROU_FAST_OPEN: ", StringComparison.Ordinal) && m.Contains("is not a boolean", StringComparison.Ordinal));
    }

    [Fact]
    public void Precedence_is_flag_over_env_over_file_over_default()
    {
        var yaml = $"""
            key: file.key
            server: {"{"}listen: "127.0.0.1:2000"{"}"}
            routing: {"{"}strategy: fastest, health: 1m, timeout: 5s{"}"}
            nodes: [{"{"}addrs: [{Addr(Node1)}]{"}"}]
            log: {"{"}level: debug{"}"}
            """;
        var env = new Dictionary<string, string>
        {
            ["BETHROU_KEY"] = "env.key",
            ["BETHROU_LISTEN"] = "127.0.0.1:3000",
            ["BETHROU_STRATEGY"] = "round-robin",
            ["BETHROU_NODES"] = $"{Addr(Node2)}, {Addr(Node1, 5000)}",
            ["BETHROU_LOG_LEVEL"] = "warning",
        };
        var flags = new ClientOverrides { KeyPath = "flag.key", Strategy = "least-loaded" };
        var c = LoadYaml(yaml, env, flags);
        Assert.Equal("flag.key", c.KeyPath);                     // flag > env > file
        Assert.Equal("least-loaded", c.Routing.Strategy);        // flag > env > file
        Assert.Equal(3000, c.Server.Listen.Port);                // env > file
        Assert.Equal([Node2, Node1], c.Nodes.Select(n => n.Id)); // env replaces the file's list
        Assert.Equal("warn", c.Log.Level);
        Assert.Equal(TimeSpan.FromMinutes(1), c.Routing.Health);  // file > default
        Assert.Equal(TimeSpan.FromSeconds(5), c.Routing.Timeout);

        var flagNodes = LoadYaml(yaml, env, new ClientOverrides { Nodes = [Addr(Node1, 6000)] });
        Assert.Equal([Addr(Node1, 6000)], Assert.Single(flagNodes.Nodes).Addrs);
    }

    [Fact]
    public void Config_path_comes_from_env_including_the_go_v2_name()
    {
        var yaml = $"key: k\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n";
        string? read = null;
        var c = ClientConfigLoader.Load(null, new Dictionary<string, string> { ["BETHROU_CLIENT_CONFIG"] = "/etc/bethrou/client.yaml" },
            ClientOverrides.None, null, p => { read = p; return yaml; });
        Assert.Equal("/etc/bethrou/client.yaml", read);
        Assert.Equal("/etc/bethrou/client.yaml", c.SourcePath);

        c = ClientConfigLoader.Load(null, new Dictionary<string, string> { ["BETHROU_CONFIG"] = "a.yaml", ["BETHROU_CLIENT_CONFIG"] = "b.yaml" },
            ClientOverrides.None, null, p => { read = p; return yaml; });
        Assert.Equal("a.yaml", read);

        c = ClientConfigLoader.Load(null, new Dictionary<string, string> { ["BETHROU_CLIENT_KEY"] = "go.key" },
            new ClientOverrides { Nodes = [Addr(Node1)] });
        Assert.Equal("go.key", c.KeyPath);
    }

    [Fact]
    public void Missing_explicit_config_file_is_an_error()
    {
        var path = Path.Combine(Path.GetTempPath(), "bethrou-missing-" + Guid.NewGuid().ToString("N") + ".yaml");
        var ex = Assert.Throws<ConfigException>(() =>
            ClientConfigLoader.Load(path, NoEnv, new ClientOverrides { KeyPath = "k", Nodes = [Addr(Node1)] }));
        Assert.Equal([$"config file '{path}' (from --config) does not exist"], ex.Errors);
    }

    [Fact]
    public void Reads_a_real_file()
    {
        var path = Path.Combine(Path.GetTempPath(), "bethrou-" + Guid.NewGuid().ToString("N") + ".yaml");
        File.WriteAllText(path, $"key: k\nnodes:\n  - addrs: [{Addr(Node1)}]\n");
        try
        {
            Assert.Equal("k", ClientConfigLoader.Load(path, NoEnv, ClientOverrides.None).KeyPath);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unknown_keys_are_reported_with_path_line_and_suggestion()
    {
        var ex = Fails($"""
            key: k
            server:
              listen: 127.0.0.1:1080
            routing:
              stratgy: fastest
            nodes:
              - id: {Node1}
                adrs: [{Addr(Node1)}]
            logging:
              level: debug
            """);
        Assert.Equal(
        [
            "unknown key 'routing.stratgy' at line 5 (did you mean 'strategy'?)",
            "unknown key 'nodes[0].adrs' at line 8 (did you mean 'addrs'?)",
            "unknown key 'logging' at line 9 (did you mean 'log'?)",
        ], ex.Errors.Take(3));
    }

    [Fact]
    public void Unknown_key_without_close_match_lists_the_known_keys()
    {
        var ex = Fails($"key: k\nnodes: [{{addrs: [{Addr(Node1)}]}}]\nserver:\n  bananas: 1\n");
        Assert.Equal(["unknown key 'server.bananas' at line 4 (known keys in 'server': allow_insecure_bind, auth, handshake_timeout, listen, pass, user)"], ex.Errors);
    }

    [Fact]
    public void Go_v2_control_plane_keys_are_explained()
    {
        var ex = Fails($"key: k\napi_url: https://cp.example\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n");
        Assert.Equal(["key 'api_url' at line 2 is not supported: it belongs to the Go V2 control-plane client; list exit nodes under 'nodes' instead"],
            ex.Errors);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var ex = Fails("""
            server:
              listen: "localhost"
              auth: true
            routing:
              strategy: fastes
              health: 30
              timeout: -5s
            discovery:
              enabled: yes
            log:
              level: verbose
              format: xml
            """);
        Assert.Equal(
        [
            "server.listen at line 2: 'localhost' has no port (use host:port, e.g. 127.0.0.1:1080)",
            "routing.strategy at line 5: unknown strategy 'fastes' (expected random, round-robin, fastest or least-loaded; did you mean 'fastest'?)",
            "routing.health at line 6: invalid duration '30': missing unit (use e.g. 30s, 1m30s, 500ms)",
            "routing.timeout at line 7: duration must be positive (got '-5s')",
            "log.level at line 11: unknown log level 'verbose' (expected trace, debug, info, warn, warning or error)",
            "log.format at line 12: unknown log format 'xml' (expected text or json)",
            "no network key file: set 'key' in the config file, --key or BETHROU_KEY",
            "server.auth at line 3: authentication is on but no user is set (server.user, --socks-user or BETHROU_SOCKS_USER)",
            "server.auth at line 3: authentication is on but no password is set (server.pass, --socks-pass or BETHROU_SOCKS_PASS)",
            "discovery.enabled at line 9: discovery is enabled but discovery.address is not set",
            "discovery.enabled at line 9: discovery is enabled but discovery.topic is not set",
        ], ex.Errors);
        Assert.StartsWith("invalid client configuration (client.yaml): 11 problems:", ex.Message);
    }

    [Fact]
    public void Env_and_flag_errors_name_their_source()
    {
        var ex = Assert.Throws<ConfigException>(() => ClientConfigLoader.Load(null,
            new Dictionary<string, string> { ["BETHROU_HEALTH"] = "soon", ["BETHROU_NODES"] = "/ip4/1.2.3.4/tcp/1" },
            new ClientOverrides { KeyPath = "k", Strategy = "best", Listen = "::1:1080" }));
        Assert.Equal(
        [
            "BETHROU_NODES '/ip4/1.2.3.4/tcp/1': no peer id (set 'id' or end an address with /p2p/<peer id>)",
            "BETHROU_HEALTH: invalid duration 'soon' (use e.g. 30s, 1m30s, 500ms)",
            "--listen: '::1:1080' has an IPv6 address without brackets (use e.g. [::1]:1080)",
            "--strategy: unknown strategy 'best' (expected random, round-robin, fastest or least-loaded)",
        ], ex.Errors);
        Assert.StartsWith("invalid client configuration: 4 problems:", ex.Message);
    }

    [Fact]
    public void Node_entries_are_checked()
    {
        var ex = Fails($"""
            key: k
            nodes:
              - id: not-a-peer-id
                addrs: [/ip4/1.2.3.4/tcp/4000]
              - id: {Node1}
                addrs:
                  - {Addr(Node2)}
              - relay: /ip4/5.6.7.8/tcp/4000/p2p/{Node2}
              - id: {Node2}
              - "just a string"
              - addrs: [""]
            """, validate: a => a.StartsWith('/') ? null : "not a multiaddr");
        Assert.Equal(
        [
            "nodes[0].id at line 3: peer id 'not-a-peer-id' is neither base58btc nor a base32 CID",
            $"nodes[1].addrs[0] at line 7: ends in /p2p/{Node2} but the node is {Node1} (nodes[1].id at line 5)",
            "nodes[2] at line 8: no peer id (set 'id' or end an address with /p2p/<peer id>)",
            "nodes[3] at line 9: a node needs 'addrs' or a 'relay'",
            "nodes[4] at line 10: must be a mapping with id, addrs and relay, not 'just a string'",
            "nodes[5].addrs at line 11: item 1 (line 11) must be a non-empty string",
            "nodes[5] at line 11: a node needs 'addrs' or a 'relay'",
        ], ex.Errors);
    }

    [Fact]
    public void Multiaddr_hook_is_applied_to_addrs_relays_and_node_flags()
    {
        var ex = Assert.Throws<ConfigException>(() => ClientConfigLoader.Load(null, NoEnv,
            new ClientOverrides { KeyPath = "k", Nodes = ["tcp://1.2.3.4:4000"] },
            a => a.StartsWith('/') ? null : "multiaddr must start with '/'"));
        Assert.Equal(["--node 'tcp://1.2.3.4:4000': multiaddr must start with '/'"], ex.Errors);

        var c = LoadYaml($"key: k\nnodes:\n  - id: {Node1}\n    relay: /ip4/9.9.9.9/tcp/4000/p2p/{Node2}\n", validate: _ => null);
        Assert.Equal($"/ip4/9.9.9.9/tcp/4000/p2p/{Node2}", c.Nodes[0].Relay);
        Assert.Empty(c.Nodes[0].Addrs);
    }

    [Fact]
    public void Circuit_address_takes_the_target_id()
    {
        var circuit = $"/ip4/9.9.9.9/tcp/4000/p2p/{Node2}/p2p-circuit/p2p/{Node1}";
        var c = ClientConfigLoader.Load(null, NoEnv, new ClientOverrides { KeyPath = "k", Nodes = [circuit] });
        Assert.Equal(Node1, c.Nodes[0].Id);
        Assert.Null(NodeEntryParser.P2pSuffix($"/ip4/9.9.9.9/tcp/4000/p2p/{Node2}/p2p-circuit"));
    }

    [Fact]
    public void Duplicate_nodes_and_keys_are_errors()
    {
        var ex = Fails("key: k\nkey: k2\n");
        Assert.Equal(["duplicate key 'key' at line 2"], ex.Errors);
        ex = Fails($"key: k\nnodes:\n  - addrs: [{Addr(Node1)}]\n  - addrs: [{Addr(Node1, 4001)}]\n");
        Assert.Equal([$"nodes at line 3: node {Node1} is listed more than once"], ex.Errors);
    }

    [Fact]
    public void No_nodes_is_an_error_unless_discovery_is_on()
    {
        var ex = Fails("key: k\n");
        Assert.Equal(["no exit nodes: list them under 'nodes' in the config file, pass --node <multiaddr>, set BETHROU_NODES, or enable discovery"],
            ex.Errors);
        var c = LoadYaml("key: k\ndiscovery:\n  enabled: true\n  address: redis://u:secret@redis:6379\n  topic: bethrou\n");
        Assert.True(c.Discovery.Enabled);
        Assert.Equal("bethrou", c.Discovery.Topic);
    }

    [Fact]
    public void Yaml_syntax_errors_carry_line_and_column()
    {
        var ex = Fails("key: k\nserver:\n  listen: [unclosed\n");
        var error = Assert.Single(ex.Errors);
        Assert.StartsWith("YAML syntax error at line ", error);
    }

    [Fact]
    public void Wrong_shapes_are_reported()
    {
        var ex = Fails($"key: [a, b]\nserver: 5\nrouting:\n  health: {{a: 1}}\nnodes: {Addr(Node1)}\n- x\n");
        Assert.NotEmpty(ex.Errors);
        ex = Fails($"key: [a, b]\nserver: 5\nnodes: {Addr(Node1)}\n");
        Assert.Equal(
        [
            "key at line 1: must be a single value, not a list",
            "server at line 2: must be a section (a mapping of keys), not '5'",
            "nodes at line 3: must be a list of nodes, not '" + Addr(Node1) + "'",
        ], ex.Errors);
    }

    [Fact]
    public void Non_loopback_listen_requires_auth_or_explicit_insecure_bind()
    {
        var baseYaml = $"key: k\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n";
        var ex = Fails(baseYaml + "server:\n  listen: 0.0.0.0:1080\n");
        Assert.Equal(["server.listen at line 4: listening on 0.0.0.0:1080 without authentication would be an open proxy; " +
            "set server.auth with user and pass, or server.allow_insecure_bind: true (--allow-insecure-bind)"], ex.Errors);

        Assert.True(LoadYaml(baseYaml + "server:\n  listen: 0.0.0.0:1080\n  allow_insecure_bind: true\n").Server.AllowInsecureBind);
        var authed = LoadYaml(baseYaml + "server:\n  listen: 0.0.0.0:1080\n  auth: true\n  user: alice\n  pass: s3cret\n");
        Assert.True(authed.Server.Auth);
        Assert.True(LoadYaml(baseYaml, flags: new ClientOverrides { Listen = "[::]:1080", AllowInsecureBind = true }).Server.AllowInsecureBind);
        Assert.Equal(1080, LoadYaml(baseYaml + "server:\n  listen: localhost:1080\n").Server.Listen.Port);
    }

    [Fact]
    public void Credentials_from_env_turn_auth_on()
    {
        var c = LoadYaml($"key: k\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n",
            new Dictionary<string, string> { ["BETHROU_SOCKS_USER"] = "alice", ["BETHROU_SOCKS_PASS"] = "s3cret" });
        Assert.True(c.Server.Auth);
        Assert.Equal("alice", c.Server.User);
        Assert.Equal("s3cret", c.Server.Pass);

        var off = LoadYaml($"key: k\nserver: {{auth: false, user: a, pass: b}}\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n");
        Assert.False(off.Server.Auth);
    }

    [Fact]
    public void Describe_redacts_passwords()
    {
        var c = LoadYaml($"""
            key: network.key
            server: {"{"}auth: true, user: alice, pass: hunter2{"}"}
            nodes: [{"{"}addrs: [{Addr(Node1)}]{"}"}]
            discovery: {"{"}address: "redis://bob:topsecret@redis:6379/0", topic: t, user: bob, pass: alsosecret{"}"}
            """);
        var text = c.Describe();
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("topsecret", text);
        Assert.DoesNotContain("alsosecret", text);
        Assert.Contains("server.pass: *****", text);
        Assert.Contains("server.user: alice", text);
        Assert.Contains("discovery.address: redis://bob:*****@redis:6379/0", text);
        Assert.Contains("discovery.pass: *****", text);
        Assert.Contains("routing.health: 30s", text);
        Assert.Equal(text, c.ToString());
        Assert.DoesNotContain("hunter2", $"{c}");
    }

    [Fact]
    public void Bool_and_case_spellings()
    {
        var c = LoadYaml($"key: k\nserver: {{allow_insecure_bind: yes, listen: '0.0.0.0:1'}}\nrouting: {{strategy: Round-Robin}}\nlog: {{level: WARNING, format: JSON}}\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n");
        Assert.True(c.Server.AllowInsecureBind);
        Assert.Equal("round-robin", c.Routing.Strategy);
        Assert.Equal("warn", c.Log.Level);
        Assert.Equal("json", c.Log.Format);
        var ex = Fails($"key: k\nserver: {{auth: maybe}}\nnodes: [{{addrs: [{Addr(Node1)}]}}]\n");
        Assert.Equal(["server.auth at line 2: 'maybe' is not a boolean (use true or false)"], ex.Errors);
    }
}
