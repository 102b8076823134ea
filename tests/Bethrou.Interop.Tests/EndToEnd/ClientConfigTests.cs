using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Crypto;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// <c>bethrou client</c> configuration through the real binary: every error is reported at once with exit code 2, and
/// the layers take precedence flag &gt; environment &gt; file, as seen from the port the client really listens on.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ClientConfigTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>A syntactically valid exit address where nothing runs (the client starts anyway).</summary>
    private static string GhostNode()
    {
        using var key = Ed25519PrivateKey.Generate();
        return $"/ip4/127.0.0.1/tcp/{Harness.LoopbackTcpOrigin.GetClosedPort()}/p2p/{key.PeerId}";
    }

    [Fact]
    public async Task Bad_config_file_lists_every_problem_at_once_and_exits_2()
    {
        await using var ws = new E2eWorkspace(output);
        File.WriteAllText(ws.PathOf("bad.yaml"), """
            key: network.key
            server:
              listen: "0.0.0.0:99999"
              auth: yes-please
              usr: bob
            routing:
              strategy: fastests
              health: 10
              timeout: -5s
            nodes:
              - id: notapeer
                addrs: ["/ip4/1.2.3.4/tcp/4000"]
              - addrs: ["garbage"]
            discovery:
              enabled: true
            log:
              level: loud
              formatt: json
            api_url: http://x
            """);
        var (code, stdout, stderr) = await BethrouProcess.RunAsync(ws.Dir, ["client", "--config", "bad.yaml"], ws.Environment(), s_timeout);
        output.WriteLine(stderr);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        string[] expected =
        [
            "invalid client configuration (bad.yaml): 13 problems:",
            "server.listen at line 3: '0.0.0.0:99999' has an invalid port (must be 0-65535)",
            "server.auth at line 4: 'yes-please' is not a boolean (use true or false)",
            "unknown key 'server.usr' at line 5 (did you mean 'user'?)",
            "routing.strategy at line 7: unknown strategy 'fastests' (expected random, round-robin, fastest or least-loaded; did you mean 'fastest'?)",
            "routing.health at line 8: invalid duration '10': missing unit",
            "routing.timeout at line 9: duration must be positive (got '-5s')",
            "nodes[0].id at line 11: peer id 'notapeer' is neither base58btc nor a base32 CID",
            "nodes[1].addrs[0] at line 13: multiaddr 'garbage' must begin with '/'",
            "log.level at line 17: unknown log level 'loud'",
            "unknown key 'log.formatt' at line 18 (did you mean 'format'?)",
            "key 'api_url' at line 19 is not supported: it belongs to the Go V2 control-plane client",
            "discovery.enabled at line 15: discovery is enabled but discovery.address is not set",
            "discovery.enabled at line 15: discovery is enabled but discovery.topic is not set",
        ];
        foreach (var e in expected)
        {
            Assert.Contains(e, stderr, StringComparison.Ordinal);
        }
        Assert.Equal(13, stderr.Split('\n').Count(l => l.StartsWith("  - ", StringComparison.Ordinal)));
    }

    public static TheoryData<string, string?, string[], Dictionary<string, string>, string[]> ErrorCases() => new()
    {
        {
            "missing config file", null, ["--config", "nope.yaml"], new(),
            ["config file 'nope.yaml' (from --config) does not exist"]
        },
        {
            "config file named by the environment is missing", null, [], new() { ["BETHROU_CONFIG"] = "gone.yaml" },
            ["config file 'gone.yaml' (from BETHROU_CONFIG) does not exist"]
        },
        {
            "YAML syntax error", "server:\n  listen: [unclosed\n", ["--config", "c.yaml"], new(),
            ["YAML syntax error at line"]
        },
        {
            "nothing configured: no key and no exits, both reported", null, [], new(),
            ["invalid client configuration: 2 problems", "no network key file: set 'key' in the config file, --key or BETHROU_KEY",
             "no exit nodes: list them under 'nodes' in the config file, pass --node <multiaddr>, set BETHROU_NODES, or enable discovery"]
        },
        {
            "bad flags: strategy, duration, multiaddr", null,
            ["--key", "network.key", "--node", "/ip4/1.2.3.4/tcp/x", "--strategy", "fastest-ish", "--health", "soon"], new(),
            ["--strategy: unknown strategy 'fastest-ish'", "--health: invalid duration 'soon'", "/ip4/1.2.3.4/tcp/x"]
        },
        {
            "bad environment values name the variable", null, ["--key", "network.key"],
            new() { ["BETHROU_STRATEGY"] = "roundrobin", ["BETHROU_TIMEOUT"] = "0s", ["BETHROU_NODES"] = "/ip4/127.0.0.1/tcp/1" },
            ["BETHROU_STRATEGY: unknown strategy 'roundrobin'", "did you mean 'round-robin'?", "BETHROU_TIMEOUT: duration must be positive",
             "BETHROU_NODES"]
        },
        {
            "open proxy refused", null, ["--key", "network.key", "--node", "$GHOST", "--listen", "0.0.0.0:0"], new(),
            ["--listen: listening on 0.0.0.0:0 without authentication would be an open proxy"]
        },
        {
            "auth without a password", "server:\n  auth: true\n  user: bob\n", ["--config", "c.yaml", "--key", "network.key", "--node", "$GHOST"], new(),
            ["authentication is on but no password is set (server.pass, --socks-pass or BETHROU_SOCKS_PASS)"]
        },
        {
            "the same exit twice", "nodes:\n  - addrs: [$GHOST]\n  - addrs: [$GHOST]\n", ["--config", "c.yaml", "--key", "network.key"], new(),
            ["is listed more than once"]
        },
        {
            "network key file missing", null, ["--key", "missing.key", "--node", "$GHOST"], new(),
            ["missing.key"]
        },
    };

    [Theory]
    [MemberData(nameof(ErrorCases))]
    public async Task Each_config_error_is_reported_with_exit_code_2(string what, string? yaml, string[] args, Dictionary<string, string> env, string[] expected)
    {
        await using var ws = new E2eWorkspace(output);
        var ghost = GhostNode();
        if (yaml is not null)
        {
            File.WriteAllText(ws.PathOf("c.yaml"), yaml.Replace("$GHOST", ghost, StringComparison.Ordinal));
        }
        var (code, stdout, stderr) = await BethrouProcess.RunAsync(ws.Dir,
            ["client", .. args.Select(a => a.Replace("$GHOST", ghost, StringComparison.Ordinal))], ws.Environment(env), s_timeout);
        output.WriteLine($"{what}:\n{stderr}");
        Assert.True(code == 2, $"{what}: exit code {code}\n{stdout}\n{stderr}");
        Assert.DoesNotContain("SOCKS5 proxy listening", stdout, StringComparison.Ordinal);
        foreach (var e in expected)
        {
            Assert.Contains(e, stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Precedence_is_flag_over_environment_over_file_as_seen_on_the_listening_port()
    {
        await using var ws = new E2eWorkspace(output);
        var ghost = GhostNode();
        var ports = FreePorts(3);
        var (filePort, envPort, flagPort) = (ports[0], ports[1], ports[2]);
        File.WriteAllText(ws.PathOf("client.yaml"), $"""
            key: {ws.KeyFile}
            server:
              listen: 127.0.0.1:{filePort}
            routing:
              strategy: round-robin
            nodes:
              - addrs: [{ghost}]
            """);
        var env = new Dictionary<string, string> { ["BETHROU_LISTEN"] = $"127.0.0.1:{envPort}", ["BETHROU_STRATEGY"] = "fastest" };

        // All three layers: the flag wins.
        await ExpectListeningAsync(ws, ["client", "--config", "client.yaml", "--listen", $"127.0.0.1:{flagPort}", "--strategy", "least-loaded"], env,
            flagPort, "least-loaded");
        // File and environment: the environment wins.
        await ExpectListeningAsync(ws, ["client", "--config", "client.yaml"], env, envPort, "fastest");
        // The file alone.
        await ExpectListeningAsync(ws, ["client", "--config", "client.yaml"], new(), filePort, "round-robin");
        // The file can also be named by the environment.
        await ExpectListeningAsync(ws, ["client"], new() { ["BETHROU_CONFIG"] = "client.yaml" }, filePort, "round-robin");
    }

    [Fact]
    public async Task Handshake_timeout_flag_closes_a_stalled_socks_client_sooner_than_the_default()
    {
        await using var ws = new E2eWorkspace(output);
        var p = ws.Start(["client", "--key", ws.KeyFile, "--node", GhostNode(), "--listen", "127.0.0.1:0", "--handshake-timeout", "700ms"],
            new Dictionary<string, string>(), name: "client");
        await using var _ = p;
        var ep = await p.WaitForSocksEndPointAsync(s_timeout);
        using var cts = new CancellationTokenSource(s_timeout);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var stalled = await RawSocks.OpenAsync(ep, cts.Token);
        await stalled.SendAsync(new byte[] { 5 }, cts.Token); // a greeting cut after its version byte
        var (data, _) = await RawSocks.ReadToEndAsync(stalled, cts.Token);
        sw.Stop();
        Assert.Empty(data);
        output.WriteLine($"stalled handshake closed after {sw.Elapsed.TotalMilliseconds:0} ms");
        // A timer never fires early; the 10 s default would still be waiting long after this (generous for a busy CI).
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(650), TimeSpan.FromSeconds(9));
        await p.TerminateAsync();
        Assert.Equal(0, await p.WaitForExitAsync(s_timeout));
    }

    private async Task ExpectListeningAsync(E2eWorkspace ws, string[] args, Dictionary<string, string> env, int port, string strategy)
    {
        var p = ws.Start(args, env, name: "client");
        await using var _ = p;
        var ep = await p.WaitForSocksEndPointAsync(s_timeout);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), ep);
        await p.WaitForLineAsync(new System.Text.RegularExpressions.Regex($@"\(1 exit node\(s\), strategy {strategy}\)$"), s_timeout);
        // Something really listens there and speaks SOCKS5.
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(ep);
        await s.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await RawSocks.ReadExactlyAsync(s, 2, CancellationToken.None));
        await p.TerminateAsync();
        Assert.Equal(0, await p.WaitForExitAsync(s_timeout));
    }

    /// <summary>Distinct free loopback ports (all bound at once, then released).</summary>
    private static int[] FreePorts(int count)
    {
        var sockets = Enumerable.Range(0, count).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
        try
        {
            foreach (var s in sockets)
            {
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }
            return [.. sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port)];
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }
}
