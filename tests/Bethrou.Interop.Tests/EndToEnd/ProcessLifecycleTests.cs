using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// Process lifecycle with the real binaries: SIGTERM drains in-flight transfers (bounded), and an exit process that is
/// killed outright is taken out of rotation while every new request keeps working.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ProcessLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private const long TransferBytes = 64L << 20;

    [Fact]
    public async Task Sigterm_stops_accepting_lets_the_inflight_download_finish_and_exits_0()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var (node, addr) = await ws.StartNodeAsync("--allow-private");
        var (client, socks) = await ws.StartClientAsync([addr]);
        await E2eWorkspace.WaitForExitUpAsync(client, addr);

        // A download that stops halfway until the test opens the origin's gate.
        var file = ws.PathOf("down.bin");
        var curl = CurlRunner.RunAsync(s_timeout, "--socks5-hostname", $"{socks.Address}:{socks.Port}", "-o", file,
            "-w", "%{http_code} %{size_download}", origin.Url($"/gated/{TransferBytes}"));
        await origin.GateReached.WaitAsync(s_timeout);

        await client.TerminateAsync();
        await client.WaitForLineAsync(new Regex("^bethrou: shutting down"), s_timeout, stderr: true);
        // New connections are refused from now on …
        await Poll.UntilAsync(async () => !await AcceptsAsync(socks), "the SOCKS listener to close", CancellationToken.None, s_timeout);
        // … while the in-flight transfer is still being drained (the process waits for it).
        Assert.False(client.HasExited, "the client exited before its open tunnel finished\n" + client.Output);

        origin.OpenGate();
        var result = await curl;
        Assert.True(result.ExitCode == 0, result + "\n" + client.Output);
        Assert.Equal($"200 {TransferBytes}", result.Stdout);
        Assert.Equal(DeterministicBytes.Sha256Hex(TransferBytes), await DeterministicBytes.FileSha256HexAsync(file));
        Assert.Equal(0, await client.WaitForExitAsync(s_timeout));
        Assert.DoesNotContain("Drain timeout", client.Stderr, StringComparison.Ordinal);

        // The exit node stops cleanly on SIGTERM too.
        await node.TerminateAsync();
        Assert.Equal(0, await node.WaitForExitAsync(s_timeout));
        Assert.Contains("bethrou: shutting down", node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_drain_is_bounded_when_a_transfer_never_finishes()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var (_, addr) = await ws.StartNodeAsync("--allow-private");
        var (client, socks) = await ws.StartClientAsync([addr]);
        await E2eWorkspace.WaitForExitUpAsync(client, addr);

        var curl = CurlRunner.RunAsync(s_timeout, "--socks5-hostname", $"{socks.Address}:{socks.Port}", "-o", "/dev/null",
            origin.Url($"/gated/{TransferBytes}"));
        await origin.GateReached.WaitAsync(s_timeout);
        var sw = Stopwatch.StartNew();
        await client.TerminateAsync();
        // The gate never opens: the client gives up on the tunnel after its drain time and still exits cleanly.
        Assert.Equal(0, await client.WaitForExitAsync(s_timeout));
        output.WriteLine($"exited {sw.Elapsed.TotalSeconds:0.0} s after SIGTERM");
        var result = await curl;
        Assert.NotEqual(0, result.ExitCode); // the transfer was cut
        Assert.Contains("open connections get up to 10 s", client.Stderr, StringComparison.Ordinal);
        Assert.Contains("Drain timeout of 00:00:10 reached: aborting 1 connection(s)", client.Stderr, StringComparison.Ordinal);
        // A drain timer never fires early.
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(9.5), $"exited after only {sw.Elapsed}");
    }

    [Fact]
    public async Task Killed_exit_process_is_marked_down_and_every_new_request_goes_through_the_other()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var (nodeA, addrA) = await ws.StartNodeAsync("--allow-private");
        var (nodeB, addrB) = await ws.StartNodeAsync("--allow-private");
        var (client, socks) = await ws.StartClientAsync([addrA, addrB], "--strategy", "round-robin", "--health", "1s");
        await Task.WhenAll(E2eWorkspace.WaitForExitUpAsync(client, addrA), E2eWorkspace.WaitForExitUpAsync(client, addrB));
        var proxy = $"{socks.Address}:{socks.Port}";

        for (var i = 0; i < 10; i++)
        {
            await GetAsync(proxy, origin, i);
        }

        var idB = addrB[(addrB.LastIndexOf('/') + 1)..];
        var sw = Stopwatch.StartNew();
        nodeB.Kill(); // SIGKILL: no goodbye on the wire beyond the kernel closing its sockets
        for (var i = 10; i < 30; i++)
        {
            await GetAsync(proxy, origin, i);
        }
        await client.WaitForLineAsync(new Regex($"Exit {idB} is down"), s_timeout, stderr: true);
        output.WriteLine($"20/20 requests after the kill succeeded; 'down' logged within {sw.ElapsedMilliseconds} ms of the kill");
        Assert.False(nodeA.HasExited);
        Assert.False(client.HasExited);
    }

    [Fact]
    public async Task Demo_runs_exit_and_client_in_one_process_with_keys_in_the_state_directory()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var demo = ws.Start(["demo", "--listen", "127.0.0.1:0", "--allow-private"], name: "demo");
        var m = await demo.WaitForLineAsync(new Regex(@"^SOCKS5 proxy: (?<ep>127\.0\.0\.1:\d+)"), s_timeout);
        Assert.True(File.Exists(Path.Combine(ws.StateDir, "network.key")));
        Assert.True(File.Exists(Path.Combine(ws.StateDir, "node.key")));
        Assert.True(File.Exists(Path.Combine(ws.StateDir, "client.key")));
        const long size = 4L << 20;
        var r = await CurlRunner.RunAsync(s_timeout, "--socks5-hostname", m.Groups["ep"].Value, "-o", ws.PathOf("demo.bin"),
            "-w", "%{http_code} %{size_download}", $"http://localhost:{origin.Port}/bytes/{size}");
        Assert.True(r.ExitCode == 0, r + "\n" + demo.Output);
        Assert.Equal($"200 {size}", r.Stdout);
        Assert.Equal(DeterministicBytes.Sha256Hex(size), await DeterministicBytes.FileSha256HexAsync(ws.PathOf("demo.bin")));
        await demo.TerminateAsync();
        Assert.Equal(0, await demo.WaitForExitAsync(s_timeout));
    }

    [Fact]
    public async Task Exit_that_starts_after_the_client_and_restarts_is_picked_up_each_time()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        using var cts = new CancellationTokenSource(s_timeout * 2);
        var identity = ws.NewIdentityFile();
        var peer = Bethrou.Libp2p.Crypto.IdentityFile.Load(identity).PeerId;
        var port = FreePort();
        var addr = $"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}";
        // --timeout bounds how long a request waits for an exit to come up before it is answered 0x03.
        var (client, socks) = await ws.StartClientAsync([addr], "--health", "1s", "--timeout", "3s");
        var target = RawSocks.Address(IPAddress.Loopback, origin.Port);

        // Nothing there yet: no exit is available.
        Assert.Equal(0x03, await RawSocks.ReplyCodeAsync(socks, target, cts.Token));

        for (var round = 1; round <= 2; round++)
        {
            var node = ws.Start(["node", "--key", ws.KeyFile, "--listen", $"/ip4/127.0.0.1/tcp/{port}", "--identity", identity, "--allow-private"], name: $"node{round}");
            Assert.Equal(addr, await node.WaitForNodeAddressAsync(s_timeout));
            await WaitForCountAsync(client, new Regex($"Exit {peer} is up"), round, cts.Token);
            var (ok, body) = await RawSocks.HttpGetAsync(socks, target, "/bytes/1234", cts.Token);
            Assert.Equal(0, ok);
            Assert.Equal(1234, body!.Length);

            node.Kill();
            await WaitForCountAsync(client, new Regex($"Exit {peer} is down"), round, cts.Token);
            Assert.Equal(0x03, await RawSocks.ReplyCodeAsync(socks, target, cts.Token));
            await node.DisposeAsync();
        }
    }

    private static Task WaitForCountAsync(BethrouProcess p, Regex line, int count, CancellationToken ct) =>
        Poll.UntilAsync(() => p.Stderr.Split('\n').Count(l => line.IsMatch(l)) >= count, $"{count} x /{line}/ in\n{p.Output}", ct, s_timeout);

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static async Task GetAsync(string proxy, HttpOrigin origin, int i)
    {
        var size = 10_000 + i;
        var r = await CurlRunner.RunAsync(s_timeout, "--socks5-hostname", proxy, "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
            origin.Url($"/bytes/{size}"));
        Assert.True(r.ExitCode == 0, $"request {i}: {r}");
        Assert.Equal($"200 {size}", r.Stdout);
    }

    private static async Task<bool> AcceptsAsync(IPEndPoint ep)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await s.ConnectAsync(ep);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
