using System.Net;
using Bethrou.Interop.Tests.Harness;
using Bethrou.Proxy.Protocol;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// `bethrou client --fast-open` as a real process with curl: through our exit process (fast open in use: a closed
/// port becomes a reset), and through the js peer playing the Go node (only /bethrou/proxy/1.0.0: the normal
/// exchange, no bytes before the reply, Go's error texts still become SOCKS reply codes).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class FastOpenProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Curl_through_our_exit_with_fast_open_and_a_closed_port_becomes_a_reset()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var (_, node) = await ws.StartNodeAsync("--allow-private");
        var (client, socks) = await ws.StartClientAsync([node], "--fast-open");
        await E2eWorkspace.WaitForExitUpAsync(client, node);
        var proxy = $"{socks.Address}:{socks.Port}";

        // Identify may still be on its way when the exit is first up: until it has listed /bethrou/proxy/1.1.0 the
        // client uses the normal exchange (curl 97, SOCKS reply 0x05). Fast open shows as a reset after success (56).
        var closed = LoopbackTcpOrigin.GetClosedPort();
        CurlRunner.Result refused = null!;
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await Poll.UntilAsync(async () =>
            {
                refused = await CurlRunner.RunAsync(s_timeout, "-sS", "--socks5-hostname", proxy, $"http://127.0.0.1:{closed}/");
                return refused.ExitCode != 97;
            }, "a fast-open tunnel (curl reset instead of a SOCKS refusal)", cts.Token);
        }
        Assert.True(refused.ExitCode == 56, refused.ToString());
        Assert.Contains("Connection reset by peer", refused.Stderr, StringComparison.Ordinal);

        await ws.AssertCurlDownloadAsync(proxy, origin.Port, 8L << 20, s_timeout);
        await ws.AssertCurlUploadAsync(proxy, origin.Port, 8L << 20, seed: 7, s_timeout);
    }

    [Fact]
    public async Task Fast_open_client_gets_the_normal_exchange_from_a_go_style_exit()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin();
        var js = await JsPeer.StartAsync(new JsPeerOptions { Name = "go-exit", PskFile = ws.KeyFile, GoBethrouExit = true, DisableConnectionMonitor = true });
        await using var _js = js;
        Assert.Contains(ProtocolIds.Proxy, js.Protocols);
        Assert.DoesNotContain(ProtocolIds.ProxyKeepsData, js.Protocols);
        var (client, socks) = await ws.StartClientAsync([js.Addr], "--fast-open");
        await E2eWorkspace.WaitForExitUpAsync(client, js.Addr);
        var proxy = $"{socks.Address}:{socks.Port}";

        await ws.AssertCurlDownloadAsync(proxy, origin.Port, 4L << 20, s_timeout, js.Stderr);

        using var cts = new CancellationTokenSource(s_timeout);
        var closed = LoopbackTcpOrigin.GetClosedPort();
        Assert.Equal(0x05, await RawSocks.ReplyCodeAsync(socks, RawSocks.Address(IPAddress.Loopback, closed), cts.Token));
        // The Go node never saw bytes before its reply (its json.Decoder would have dropped them).
        await js.WaitForEventAsync("proxy", e => JsPeer.Str(e, "address") == $"127.0.0.1:{closed}", s_timeout);
        Assert.DoesNotContain(js.Events, e => JsPeer.Str(e, "event") == "proxy:early-data");
    }
}
