using System.Diagnostics;
using System.Security.Cryptography;
using Bethrou.Interop.Tests.Harness;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Host;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Pnet;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests;

/// <summary>Our C# stack against real js-libp2p peers, in both directions (issue: libp2p core acceptance).</summary>
public sealed class Libp2pInteropTests : IDisposable
{
    private const string Echo = "/bethrou/test/echo/1.0.0";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly ITestOutputHelper _output;
    private readonly string _dir;

    public Libp2pInteropTests(ITestOutputHelper output)
    {
        _output = output;
        _dir = Path.Combine(Path.GetTempPath(), "bethrou-interop-" + Guid.NewGuid().ToString("N"));
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

    private static async Task<Libp2pHost> StartHostAsync(PreSharedKey? psk)
    {
        var options = new Libp2pHostOptions { Identity = Ed25519PrivateKey.Generate(), Psk = psk, DialTimeout = TimeSpan.FromSeconds(8) };
        options.ListenAddresses.Add(Multiaddress.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new Libp2pHost(options);
        host.SetStreamHandler(Echo, async (s, ct) =>
        {
            await s.Input.CopyToAsync(s.Output, ct);
            await s.Output.CompleteAsync();
        });
        await host.StartAsync();
        return host;
    }

    private (PreSharedKey Key, string File) NewPsk()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        return (PreSharedKey.FromBytes(bytes), JsInterop.WritePskFile(_dir, bytes));
    }

    [Fact]
    public async Task CSharpDialsJs_IdentifyPingAndEcho64MiBAnd8Streams()
    {
        using var cts = new CancellationTokenSource(s_timeout * 2);
        var (psk, pskFile) = NewPsk();
        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "js", PskFile = pskFile, DisableConnectionMonitor = true });
        await using var _js = js;
        await using var host = await StartHostAsync(psk);

        var conn = await host.ConnectAsync(Multiaddress.Parse(js.Addr), cts.Token);
        Assert.Equal(js.PeerId, conn.RemotePeer.ToString());

        // identify, our side: js's agent, protocols and key
        var info = await conn.Identified.WaitAsync(cts.Token);
        Assert.StartsWith("js-libp2p/", info.AgentVersion, StringComparison.Ordinal);
        Assert.Contains(Echo, info.Protocols);
        Assert.Contains("/ipfs/ping/1.0.0", info.Protocols);
        Assert.True(conn.RemotePeer.Matches(info.PublicKey!));
        Assert.Contains(info.Addresses, a => js.Addr.StartsWith(a.ToString() + "/p2p/", StringComparison.Ordinal));

        // identify, js's side: our agent, protocols, listen addresses and key
        var theirs = await js.IdentifyAsync(host.LocalPeer.ToString(), cancellationToken: cts.Token);
        Assert.StartsWith("bethrou/", theirs.AgentVersion, StringComparison.Ordinal);
        Assert.Contains(Echo, theirs.Protocols);
        Assert.Contains("/ipfs/id/1.0.0", theirs.Protocols);
        Assert.True(theirs.PublicKeyMatchesPeerId);
        Assert.Equal(Convert.ToHexStringLower(host.Identity.PublicKey.Marshal()), theirs.PublicKeyHex);
        Assert.Contains(host.ListenAddresses[0].ToString(), theirs.ListenAddrs);

        // ping both ways
        var rtts = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            rtts.Add((await host.PingAsync(conn, cts.Token)).TotalMilliseconds);
        }
        var jsPing = await js.PingAsync(host.LocalPeer.ToString(), count: 3, cancellationToken: cts.Token);
        Assert.Equal(3, jsPing.Rtts.Count);
        _output.WriteLine($"ping C#->js {string.Join(", ", rtts.Select(r => r.ToString("0.00")))} ms; js->C# {string.Join(", ", jsPing.Rtts)} ms");

        // 64 MiB echo on js's echo handler, verified byte for byte
        var sw = Stopwatch.StartNew();
        await EchoAsync(host, conn, 64 * 1024 * 1024, cts.Token);
        _output.WriteLine($"C#->js echo 64 MiB: {64 * 1.048576 / sw.Elapsed.TotalSeconds:0} MB/s");

        // 8 streams at once
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => EchoAsync(host, conn, 1024 * 1024 + i, cts.Token)));
    }

    [Fact]
    public async Task JsDialsCSharp_IdentifyPingAndEcho64MiBAnd8Streams()
    {
        using var cts = new CancellationTokenSource(s_timeout * 2);
        var (psk, pskFile) = NewPsk();
        await using var host = await StartHostAsync(psk);
        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "js", PskFile = pskFile, DisableConnectionMonitor = true });
        await using var _js = js;
        var addr = host.ListenAddresses[0].WithPeerId(host.LocalPeer).ToString();

        var dial = await js.DialAsync(addr, cancellationToken: cts.Token);
        Assert.Equal(host.LocalPeer.ToString(), dial.PeerId);

        var theirs = await js.IdentifyAsync(host.LocalPeer.ToString(), cancellationToken: cts.Token);
        Assert.StartsWith("bethrou/", theirs.AgentVersion, StringComparison.Ordinal);
        Assert.True(theirs.PublicKeyMatchesPeerId);
        Assert.Contains("/ipfs/ping/1.0.0", theirs.Protocols);

        var conn = Assert.Single(host.Connections, c => c.RemotePeer.ToString() == js.PeerId);
        Assert.False(conn.IsOutbound);
        var info = await conn.Identified.WaitAsync(cts.Token);
        Assert.StartsWith("js-libp2p/", info.AgentVersion, StringComparison.Ordinal);

        var ping = await js.PingAsync(host.LocalPeer.ToString(), count: 3, cancellationToken: cts.Token);
        Assert.Equal(3, ping.Rtts.Count);
        Assert.True(await host.PingAsync(conn, cts.Token) > TimeSpan.Zero);

        var echo = await js.EchoAsync(host.LocalPeer.ToString(), 64L * 1024 * 1024, streams: 1, timeout: s_timeout, cancellationToken: cts.Token);
        Assert.True(echo.Ok, echo.Error);
        Assert.Equal(echo.Streams[0].Sha256Sent, echo.Streams[0].Sha256Received);
        _output.WriteLine($"js->C# echo 64 MiB: {echo.MegabytesPerSecond} MB/s");

        var eight = await js.EchoAsync(host.LocalPeer.ToString(), 2L * 1024 * 1024, streams: 8, timeout: s_timeout, cancellationToken: cts.Token);
        Assert.True(eight.Ok, eight.Error);
        Assert.All(eight.Streams, s => Assert.Equal(s.Sha256Sent, s.Sha256Received));
    }

    [Fact]
    public async Task DifferentPskOrNoPsk_FailsCleanlyBothWaysAndListenerKeepsServing()
    {
        using var cts = new CancellationTokenSource(s_timeout * 2);
        var (psk, pskFile) = NewPsk();
        var (_, otherFile) = NewPsk();
        await using var host = await StartHostAsync(psk);
        var ourAddr = host.ListenAddresses[0].WithPeerId(host.LocalPeer).ToString();

        var wrongJs = await JsPeer.StartAsync(new JsPeerOptions { Name = "wrong", PskFile = otherFile });
        await using var _w = wrongJs;
        var plainJs = await JsPeer.StartAsync(new JsPeerOptions { Name = "plain" });
        await using var _p = plainJs;

        // C# dials js with the wrong key / without pnet: our error says the handshake failed and names the PSK.
        foreach (var js in new[] { wrongJs, plainJs })
        {
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await host.ConnectAsync(Multiaddress.Parse(js.Addr), cts.Token));
            _output.WriteLine($"C# -> {js.Name}: {ex.GetType().Name}: {ex.Message} ({sw.ElapsedMilliseconds} ms)");
            Assert.True(ex is IOException or TimeoutException, ex.ToString());
            Assert.Contains("PSK", ex.Message, StringComparison.Ordinal);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
        }

        // js dials us with the wrong key / without pnet: it fails, and we keep serving.
        foreach (var js in new[] { wrongJs, plainJs })
        {
            var dial = await js.TryDialAsync(ourAddr, timeout: TimeSpan.FromSeconds(5), cancellationToken: cts.Token);
            _output.WriteLine($"{js.Name} -> C#: ok={dial.Ok} {dial.Error} ({dial.Elapsed.TotalMilliseconds:0} ms)");
            Assert.False(dial.Ok);
        }
        Assert.DoesNotContain(host.Connections, c => c.RemotePeer.ToString() == wrongJs.PeerId || c.RemotePeer.ToString() == plainJs.PeerId);

        var good = await JsPeer.StartAsync(new JsPeerOptions { Name = "good", PskFile = pskFile });
        await using var _g = good;
        var ok = await good.DialAsync(ourAddr, cancellationToken: cts.Token);
        Assert.Equal(host.LocalPeer.ToString(), ok.PeerId);
        var ping = await good.PingAsync(host.LocalPeer.ToString(), cancellationToken: cts.Token);
        Assert.Single(ping.Rtts);
    }

    private static async Task EchoAsync(Libp2pHost host, Libp2pConnection conn, int size, CancellationToken ct)
    {
        var payload = RandomNumberGenerator.GetBytes(size);
        await using var s = await host.NewStreamAsync(conn, Echo, ct);
        var write = Task.Run(async () =>
        {
            for (var o = 0; o < payload.Length; o += 64 * 1024)
            {
                await s.Output.WriteAsync(payload.AsMemory(o, Math.Min(64 * 1024, payload.Length - o)), ct);
            }
            await s.Output.CompleteAsync();
        }, ct);
        using var received = new MemoryStream(size);
        while (true)
        {
            var r = await s.Input.ReadAsync(ct);
            foreach (var seg in r.Buffer)
            {
                received.Write(seg.Span);
            }
            s.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                break;
            }
        }
        await write;
        Assert.Equal(size, received.Length);
        Assert.True(payload.AsSpan().SequenceEqual(received.ToArray()), "echoed bytes differ");
    }
}
