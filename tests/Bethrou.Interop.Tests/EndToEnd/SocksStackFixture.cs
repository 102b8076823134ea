using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Crypto;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// Real <c>bethrou</c> processes shared by the SOCKS reply tests:
/// <list type="bullet">
/// <item><b>strict</b>: an exit with the default egress policy, and a client using only it;</item>
/// <item><b>open</b>: an exit with <c>--allow-private --deny-port D --dial-timeout 1s</c>, and a client (debug log) using only it;</item>
/// <item><b>tiny</b>: an exit with <c>--allow-private --max-streams 1 --max-streams-per-peer 1</c>, and a client;</item>
/// <item><b>dead</b>: a client (<c>--timeout 1s</c>) whose only exit does not exist (nothing listens on its port);</item>
/// <item><b>auth</b>: a client to the open exit with <c>--socks-user alice --socks-pass "s3cret pass"</c>.</item>
/// </list>
/// </summary>
public sealed class SocksStackFixture : IAsyncLifetime
{
    private readonly E2eWorkspace _ws = new();

    public IPEndPoint StrictSocks { get; private set; } = null!;

    public IPEndPoint OpenSocks { get; private set; } = null!;

    public IPEndPoint TinySocks { get; private set; } = null!;

    public IPEndPoint DeadSocks { get; private set; } = null!;

    /// <summary>A client to the open exit that requires username "alice", password "s3cret pass".</summary>
    public IPEndPoint AuthSocks { get; private set; } = null!;

    /// <summary>The port the open exit refuses (--deny-port), with a live listener on it.</summary>
    public TcpListener DeniedPortListener { get; } = new(IPAddress.Loopback, 0);

    public int DeniedPort => ((IPEndPoint)DeniedPortListener.LocalEndpoint).Port;

    public HttpOrigin Origin { get; } = new();

    public BethrouProcess OpenClient { get; private set; } = null!;

    /// <summary>Every process's output, for failure messages.</summary>
    public string Output => string.Join("\n", _processes.Select(p => p.Output));

    private readonly List<BethrouProcess> _processes = [];

    public async Task InitializeAsync()
    {
        try
        {
            await StartAllAsync();
        }
        catch
        {
            await DisposeAsync(); // no process is left behind when start-up fails
            throw;
        }
    }

    private async Task StartAllAsync()
    {
        DeniedPortListener.Start();
        var strict = _ws.StartNodeAsync();
        var open = _ws.StartNodeAsync("--allow-private", "--deny-port", DeniedPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dial-timeout", "1s");
        var tiny = _ws.StartNodeAsync("--allow-private", "--max-streams", "1", "--max-streams-per-peer", "1");
        await Task.WhenAll(strict, open, tiny);

        using var ghost = Ed25519PrivateKey.Generate();
        var deadAddr = $"/ip4/127.0.0.1/tcp/{Harness.LoopbackTcpOrigin.GetClosedPort()}/p2p/{ghost.PeerId}";
        var clients = new[]
        {
            _ws.StartClientAsync([strict.Result.Addr]),
            _ws.StartClientAsync([open.Result.Addr], "--log-level", "debug"),
            _ws.StartClientAsync([tiny.Result.Addr]),
            // With no healthy exit the client waits up to --timeout for one before answering: keep that short here.
            _ws.StartClientAsync([deadAddr], "--timeout", "1s"),
            _ws.StartClientAsync([open.Result.Addr], "--socks-user", "alice", "--socks-pass", "s3cret pass"),
        };
        await Task.WhenAll(clients);
        (_, StrictSocks) = clients[0].Result;
        (OpenClient, OpenSocks) = clients[1].Result;
        (_, TinySocks) = clients[2].Result;
        (_, DeadSocks) = clients[3].Result;
        (_, AuthSocks) = clients[4].Result;
        _processes.AddRange([strict.Result.Process, open.Result.Process, tiny.Result.Process, .. clients.Select(c => c.Result.Process)]);
        await Task.WhenAll(
            E2eWorkspace.WaitForExitUpAsync(clients[0].Result.Process, strict.Result.Addr),
            E2eWorkspace.WaitForExitUpAsync(clients[1].Result.Process, open.Result.Addr),
            E2eWorkspace.WaitForExitUpAsync(clients[2].Result.Process, tiny.Result.Addr),
            E2eWorkspace.WaitForExitUpAsync(clients[4].Result.Process, open.Result.Addr));
    }

    public async Task DisposeAsync()
    {
        await _ws.DisposeAsync();
        await Origin.DisposeAsync();
        DeniedPortListener.Stop();
    }
}
