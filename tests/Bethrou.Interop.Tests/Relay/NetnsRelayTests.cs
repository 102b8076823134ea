using System.Globalization;
using System.Security.Cryptography;
using Bethrou.Libp2p.Pnet;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.Relay;

/// <summary>
/// The whole proxy path across simulated NATs (see <see cref="NetnsLab"/>): relay and origin on the public side, the
/// exit node behind NAT A listening through the relay, the client behind NAT B. curl in B fetches from the origin
/// through the client's SOCKS port. The `bethrou` processes are the real CLI. Without root/netns support the test
/// reports why and does nothing (the loopback equivalents in Bethrou.Libp2p.Tests.Relay still run).
/// </summary>
public sealed class NetnsRelayTests : IDisposable
{
    private const int RelayPort = 4001;
    private const int OriginPort = 8080;
    private const int SocksPort = 1080;
    private readonly ITestOutputHelper _output;
    private readonly string _dir;

    public NetnsRelayTests(ITestOutputHelper output)
    {
        _output = output;
        _dir = Path.Combine(Path.GetTempPath(), "bethrou-netns-" + Guid.NewGuid().ToString("N"));
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

    private static string BethrouDll => Path.Combine(AppContext.BaseDirectory, "bethrou.dll");

    private string[] Bethrou(params string[] args) => ["dotnet", BethrouDll, .. args];

    [Fact]
    public async Task CurlThroughAClientBehindNatReachesAnExitBehindNatViaTheRelay_100MiB_AndSurvivesARelayRestart()
    {
        if (await NetnsLab.UnavailableReasonAsync() is { } reason)
        {
            _output.WriteLine("SKIPPED (netns lab unavailable): " + reason);
            return;
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = cts.Token;
        var key = Path.Combine(_dir, "network.key");
        await File.WriteAllBytesAsync(key, PreSharedKey.Generate().ToFileBytes(), ct);
        var www = Directory.CreateDirectory(Path.Combine(_dir, "www")).FullName;
        var bigHash = await WriteRandomFileAsync(Path.Combine(www, "big.bin"), 100 * 1024 * 1024, ct);
        var smallHash = await WriteRandomFileAsync(Path.Combine(www, "small.bin"), 1024 * 1024, ct);

        // Symmetric NATs: hole punching cannot succeed, so the whole transfer must go through the relay.
        await using var lab = await NetnsLab.CreateAsync(_output, NatKind.Symmetric);
        LabProcess? relay = null, exit = null, client = null;
        try
        {
            var origin = lab.Start(lab.Pub, "origin", "python3", "-u", "-m", "http.server", OriginPort.ToString(CultureInfo.InvariantCulture), "--bind", "0.0.0.0", "--directory", www);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), ct);

            relay = StartRelay(lab);
            var relayId = (await relay.WaitForLineAsync(l => l.StartsWith("Peer ID: ", StringComparison.Ordinal), ct))["Peer ID: ".Length..];
            var relayAddr = $"/ip4/{NetnsLab.PubA}/tcp/{RelayPort}/p2p/{relayId}";

            exit = lab.Start(lab.A, "exit", Bethrou("node", "--key", key, "--identity", Path.Combine(_dir, "exit.key"),
                "--listen", "/ip4/0.0.0.0/tcp/4000", "--connect-relay", relayAddr));
            var circuit = await exit.WaitForLineAsync(l => l.Contains("/p2p-circuit/p2p/", StringComparison.Ordinal), ct);
            _output.WriteLine("exit's circuit address: " + circuit);
            Assert.StartsWith(relayAddr + "/p2p-circuit/p2p/", circuit, StringComparison.Ordinal);

            // The exit is not reachable directly from B (its listen address is private, behind NAT A).
            var direct = await NetnsLab.RunAsync("ip", ["netns", "exec", lab.B, "curl", "-s", "-m", "3", $"http://{NetnsLab.HostA}:4000/"]);
            Assert.NotEqual(0, direct.Code);

            client = lab.Start(lab.B, "client", Bethrou("client", "--key", key, "--node", circuit, "--listen", $"127.0.0.1:{SocksPort}"));
            await client.WaitForLineAsync(l => l.Contains("is up", StringComparison.Ordinal), ct, stderr: true);

            var first = await CurlAsync(lab, "big.bin", ct);
            _output.WriteLine($"100 MiB through client(NAT B) -> relay -> exit(NAT A) -> origin: {first.Describe()}");
            Assert.Equal(100 * 1024 * 1024, first.Bytes);
            Assert.Equal(bigHash, await HashFileAsync(first.File, ct));

            Assert.Equal("relayed", await ReportPathAsync(lab, "after the first transfer"));
            foreach (var l in exit.Stderr.Where(l => l.Contains("Dcutr[", StringComparison.Ordinal)))
            {
                _output.WriteLine("exit dcutr log: " + l);
            }

            // Kill the relay; the exit's reservation must come back by itself once it restarts.
            relay.Kill();
            await relay.WaitForExitAsync(TimeSpan.FromSeconds(10));
            await exit.WaitForLineAsync(l => l.Contains("lost", StringComparison.Ordinal) && l.Contains("Relay[4023]", StringComparison.Ordinal), ct, stderr: true);
            relay = StartRelay(lab);
            var again = await exit.WaitForLineAsync(l => l.Contains("/p2p-circuit/p2p/", StringComparison.Ordinal), ct, count: 2);
            Assert.Equal(circuit, again);
            await client.WaitForLineAsync(l => l.Contains("is up", StringComparison.Ordinal), ct, count: 2, stderr: true);

            var second = await CurlAsync(lab, "small.bin", ct);
            _output.WriteLine($"after the relay restart, 1 MiB: {second.Describe()}");
            Assert.Equal(smallHash, await HashFileAsync(second.File, ct));
        }
        catch
        {
            foreach (var p in new[] { relay, exit, client })
            {
                p?.DumpTo(_output);
            }
            throw;
        }
    }

    [Fact]
    public async Task BehindConeNatsTheRelayedConnectionTurnsDirectByHolePunching()
    {
        if (await NetnsLab.UnavailableReasonAsync() is { } reason)
        {
            _output.WriteLine("SKIPPED (netns lab unavailable): " + reason);
            return;
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = cts.Token;
        var key = Path.Combine(_dir, "network.key");
        await File.WriteAllBytesAsync(key, PreSharedKey.Generate().ToFileBytes(), ct);
        var www = Directory.CreateDirectory(Path.Combine(_dir, "www")).FullName;
        var hash = await WriteRandomFileAsync(Path.Combine(www, "file.bin"), 16 * 1024 * 1024, ct);

        await using var lab = await NetnsLab.CreateAsync(_output, NatKind.ConeStealth);
        LabProcess? relay = null, exit = null, client = null;
        try
        {
            var origin = lab.Start(lab.Pub, "origin", "python3", "-u", "-m", "http.server", OriginPort.ToString(CultureInfo.InvariantCulture), "--bind", "0.0.0.0", "--directory", www);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), ct);
            relay = StartRelay(lab);
            var relayId = (await relay.WaitForLineAsync(l => l.StartsWith("Peer ID: ", StringComparison.Ordinal), ct))["Peer ID: ".Length..];
            var relayAddr = $"/ip4/{NetnsLab.PubA}/tcp/{RelayPort}/p2p/{relayId}";
            exit = lab.Start(lab.A, "exit", Bethrou("node", "--key", key, "--identity", Path.Combine(_dir, "exit.key"),
                "--listen", "/ip4/0.0.0.0/tcp/4000", "--connect-relay", relayAddr, "--log-level", "debug"));
            var circuit = await exit.WaitForLineAsync(l => l.Contains("/p2p-circuit/p2p/", StringComparison.Ordinal), ct);
            client = lab.Start(lab.B, "client", Bethrou("client", "--key", key, "--node", circuit, "--listen", $"127.0.0.1:{SocksPort}", "--log-level", "debug"));
            await client.WaitForLineAsync(l => l.Contains("is up", StringComparison.Ordinal), ct, stderr: true);

            // The exit (holding the inbound relayed connection) starts DCUtR; both sides dial from their punching port.
            var punched = await exit.WaitForLineAsync(l => l.Contains("Dcutr[4062]", StringComparison.Ordinal) || l.Contains("Dcutr[4064]", StringComparison.Ordinal), ct, stderr: true);
            _output.WriteLine("exit: " + punched);
            foreach (var l in exit.Stderr.Where(l => l.Contains("Dcutr[", StringComparison.Ordinal)))
            {
                _output.WriteLine("exit dcutr log: " + l);
            }
            Assert.Contains("Dcutr[4062]", punched, StringComparison.Ordinal);
            Assert.Equal("direct", await ReportPathAsync(lab, "after hole punching"));

            var fetched = await CurlAsync(lab, "file.bin", ct);
            _output.WriteLine($"16 MiB after hole punching: {fetched.Describe()}");
            Assert.Equal(hash, await HashFileAsync(fetched.File, ct));
        }
        catch
        {
            foreach (var p in new[] { relay, exit, client })
            {
                p?.DumpTo(_output);
            }
            throw;
        }
    }

    private LabProcess StartRelay(NetnsLab lab) =>
        lab.Start(lab.Pub, "relay", Bethrou("node", "--key", Path.Combine(_dir, "network.key"), "--identity", Path.Combine(_dir, "relay.key"),
            "--listen", $"/ip4/0.0.0.0/tcp/{RelayPort}", "--relay-mode"));

    private sealed record CurlResult(string File, long Bytes, double TimeToFirstByte, double Total)
    {
        public string Describe() => string.Create(CultureInfo.InvariantCulture,
            $"{Bytes} bytes, time to first byte {TimeToFirstByte * 1000:0} ms, total {Total:0.00} s, {Bytes / Total / 1e6:0.0} MB/s");
    }

    private async Task<CurlResult> CurlAsync(NetnsLab lab, string name, CancellationToken ct)
    {
        var file = Path.Combine(_dir, "out-" + Guid.NewGuid().ToString("N") + ".bin");
        var (code, stdout, stderr) = await NetnsLab.RunAsync("ip",
            ["netns", "exec", lab.B, "curl", "-sS", "--max-time", "120", "--socks5-hostname", $"127.0.0.1:{SocksPort}",
             "-o", file, "-w", "%{http_code} %{size_download} %{time_starttransfer} %{time_total}", $"http://{NetnsLab.PubA}:{OriginPort}/{name}"],
            TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"curl failed ({code}): {stderr}");
        var parts = stdout.Trim().Split(' ');
        Assert.Equal("200", parts[0]);
        return new CurlResult(file, long.Parse(parts[1], CultureInfo.InvariantCulture),
            double.Parse(parts[2], CultureInfo.InvariantCulture), double.Parse(parts[3], CultureInfo.InvariantCulture));
    }

    /// <summary>Says whether B's connection to the exit is relayed or direct (TCP sockets seen in B's namespace).</summary>
    private async Task<string> ReportPathAsync(NetnsLab lab, string when)
    {
        var sockets = await NetnsLab.InAsync(lab.B, "ss", "-Htn", "state", "established");
        var toRelay = sockets.Split('\n').Count(l => l.Contains($"{NetnsLab.PubA}:{RelayPort}", StringComparison.Ordinal));
        var toExit = sockets.Split('\n').Count(l => l.Contains(NetnsLab.NatA + ":", StringComparison.Ordinal) || l.Contains(NetnsLab.HostA + ":", StringComparison.Ordinal));
        var path = toExit > 0 ? "direct" : "relayed";
        _output.WriteLine($"{when}: client TCP connections to the relay: {toRelay}, directly to the exit's side: {toExit} ({path})");
        return path;
    }

    private static async Task<string> WriteRandomFileAsync(string path, int size, CancellationToken ct)
    {
        using var sha = SHA256.Create();
        await using var f = File.Create(path);
        var chunk = new byte[1024 * 1024];
        for (var written = 0; written < size; written += chunk.Length)
        {
            RandomNumberGenerator.Fill(chunk);
            var n = Math.Min(chunk.Length, size - written);
            await f.WriteAsync(chunk.AsMemory(0, n), ct);
            sha.TransformBlock(chunk, 0, n, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!);
    }

    private static async Task<string> HashFileAsync(string path, CancellationToken ct)
    {
        await using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(f, ct));
    }
}
