using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Bethrou.Interop.Tests.Harness;
using Bethrou.Proxy.Protocol;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// Go Bethrou compatibility (bethrou-go-reference.md §2.2) against the js-libp2p peer acting like the Go node and the
/// Go client: our client process through a Go-style exit, and a Go-style client through our exit process.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class GoCompatibilityTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Our_client_process_carries_curl_through_a_go_style_exit()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        // The js peer reads the same base16 network.key our CLI writes.
        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "go-exit", PskFile = ws.KeyFile, GoBethrouExit = true, DisableConnectionMonitor = true });
        await using var _js = js;
        Assert.Contains(ProtocolIds.Proxy, js.Protocols);
        var (client, socks) = await ws.StartClientAsync([js.Addr]);
        await E2eWorkspace.WaitForExitUpAsync(client, js.Addr);
        var proxy = $"{socks.Address}:{socks.Port}";

        await ws.AssertCurlDownloadAsync(proxy, origin.Port, 8L << 20, s_timeout, js.Stderr);
        await ws.AssertCurlUploadAsync(proxy, origin.Port, 8L << 20, seed: 5, s_timeout);

        // The Go node saw Go-shaped requests ("localhost:port", resolved on the exit) and no bytes before its reply
        // (Go's json.Decoder would have swallowed them).
        var ev = await js.WaitForEventAsync("proxy", e => JsPeer.Str(e, "status") == "ok", s_timeout);
        Assert.Equal($"localhost:{origin.Port}", JsPeer.Str(ev, "address"));
        Assert.DoesNotContain(js.Events, e => JsPeer.Str(e, "event") == "proxy:early-data");

        // The Go node's error texts become the right SOCKS replies (text matching, no "code" field from Go).
        var closed = LoopbackTcpOrigin.GetClosedPort();
        using var cts = new CancellationTokenSource(s_timeout);
        Assert.Equal(0x05, await RawSocks.ReplyCodeAsync(socks, RawSocks.Address(IPAddress.Loopback, closed), cts.Token));
        Assert.Equal(0x04, await RawSocks.ReplyCodeAsync(socks, RawSocks.Address("no-such-host.invalid", 80), cts.Token));
        var refused = await js.WaitForEventAsync("proxy", e => JsPeer.Str(e, "address") == $"127.0.0.1:{closed}", s_timeout);
        Assert.Equal($"dial tcp 127.0.0.1:{closed}: connect: connection refused", JsPeer.Str(refused, "message"));

        // Half-close through the Go-style exit: the request ends with a FIN and the whole answer still comes back.
        await using var echo = new LoopbackTcpOrigin(req => [.. "got "u8, .. Encoding.ASCII.GetBytes(req.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        var (reply, s) = await RawSocks.RequestAsync(socks, RawSocks.Address(IPAddress.Loopback, echo.Port), cts.Token);
        using (s)
        {
            Assert.Equal(0, reply);
            await s.SendAsync(new byte[12345], cts.Token);
            s.Shutdown(SocketShutdown.Send);
            var (data, reset) = await RawSocks.ReadToEndAsync(s, cts.Token);
            Assert.False(reset);
            Assert.Equal("got 12345", Encoding.ASCII.GetString(data));
        }
    }

    [Fact]
    public async Task A_go_style_client_uses_our_exit_process()
    {
        await using var ws = new E2eWorkspace(output);
        var (_, open) = await ws.StartNodeAsync("--allow-private");
        var (_, strict) = await ws.StartNodeAsync();
        await using var origin = new LoopbackTcpOrigin(req => [.. "echo:"u8, .. req]);
        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "go-client", PskFile = ws.KeyFile, DisableConnectionMonitor = true });
        await using var _js = js;

        // Lazy multistream (header, protocol and JSON request in one write, as go-multistream does) and the eager way.
        foreach (var lazy in new[] { true, false })
        {
            var payload = new byte[200_000];
            DeterministicBytes.Fill(payload, 0, seed: lazy ? 11UL : 12UL);
            var ok = await js.ProxyAsync(open, origin.Address, payload, lazy: lazy, timeout: s_timeout);
            Assert.Equal("ok", ok.Status);
            Assert.Equal("""{"status":"ok"}""", ok.Reply);
            Assert.Equal([.. "echo:"u8, .. payload], ok.Response);
        }
        Assert.Equal(2, origin.Requests.Count);

        // Refusals come back as Go does it: status "error", Go's error text (what Go clients match on), then the
        // stream closes. Our extra "code" field is ignored by Go's json.Decoder.
        var closed = LoopbackTcpOrigin.GetClosedPort();
        await ExpectErrorAsync(js, open, $"127.0.0.1:{closed}", $"dial tcp 127.0.0.1:{closed}: connect: connection refused", "connection_refused");
        await ExpectErrorAsync(js, open, "no-such-host.invalid:80", "dial tcp: lookup no-such-host.invalid: no such host", "host_unreachable");
        var policy = await ExpectErrorAsync(js, strict, origin.Address, null, "not_allowed");
        Assert.Contains("not allowed", policy, StringComparison.Ordinal);
        Assert.Equal(ProxyErrorCode.NotAllowed, ProxyErrorCodes.ClassifyMessage(policy));

        // Go V2's connect_timeout_ms bounds the exit's dial: a destination that never answers the SYN times out with Go's text.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var timedOut = await js.ProxyAsync(open, $"127.0.0.1:{port}", ReadOnlyMemory<byte>.Empty, connectTimeoutMs: 500, timeout: s_timeout);
        Assert.Equal("error", timedOut.Status);
        Assert.Equal($"dial tcp 127.0.0.1:{port}: i/o timeout", timedOut.Message);
    }

    private static async Task<string> ExpectErrorAsync(JsPeer js, string exit, string address, string? message, string code)
    {
        var r = await js.ProxyAsync(exit, address, "never sent"u8.ToArray(), timeout: s_timeout);
        Assert.Equal("error", r.Status);
        if (message is not null)
        {
            Assert.Equal(message, r.Message);
        }
        using var reply = JsonDocument.Parse(r.Reply);
        Assert.Equal("error", reply.RootElement.GetProperty("status").GetString());
        Assert.Equal(r.Message, reply.RootElement.GetProperty("message").GetString());
        Assert.Equal(code, reply.RootElement.GetProperty("code").GetString());
        Assert.Empty(r.Response); // nothing after the error line; the node closed the stream
        return r.Message!;
    }
}
