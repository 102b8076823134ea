using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>IPv6 all the way: the exit listens on /ip6/::1, the client's SOCKS server on [::1] (Go's ezh0v cannot), and
/// the destination is an IPv6 literal (SOCKS ATYP 0x04).</summary>
[Collection(EndToEndCollection.Name)]
public sealed class Ipv6EndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Ipv6_exit_listener_socks_listener_and_destination()
    {
        await using var ws = new E2eWorkspace(output);
        await using var origin = new HttpOrigin(IPAddress.IPv6Loopback);
        var node = ws.Start(["node", "--key", ws.KeyFile, "--listen", "/ip6/::1/tcp/0", "--identity", ws.NewIdentityFile(), "--allow-private"], name: "node");
        var addr = (await node.WaitForLineAsync(new Regex(@"^/ip6/::1/tcp/\d+/p2p/12D3KooW\w+$"), s_timeout)).Value;
        var client = ws.Start(["client", "--key", ws.KeyFile, "--node", addr, "--listen", "[::1]:0"], name: "client");
        var socks = await client.WaitForSocksEndPointAsync(s_timeout);
        Assert.Equal(IPAddress.IPv6Loopback, socks.Address);
        await E2eWorkspace.WaitForExitUpAsync(client, addr, s_timeout);

        const int size = 1 << 20;
        var r = await CurlRunner.RunAsync(s_timeout, "--socks5-hostname", $"[::1]:{socks.Port}", "-o", ws.PathOf("v6.bin"),
            "-w", "%{http_code} %{size_download}", origin.Url($"/bytes/{size}"));
        Assert.True(r.ExitCode == 0, r + "\n" + client.Output);
        Assert.Equal($"200 {size}", r.Stdout);
        Assert.Equal(DeterministicBytes.Sha256Hex(size), await DeterministicBytes.FileSha256HexAsync(ws.PathOf("v6.bin")));

        using var cts = new CancellationTokenSource(s_timeout);
        var (reply, body) = await RawSocks.HttpGetAsync(socks, RawSocks.Address(IPAddress.IPv6Loopback, origin.Port), "/bytes/4096", cts.Token);
        Assert.Equal(0, reply);
        var expected = new byte[4096];
        DeterministicBytes.Fill(expected, 0);
        Assert.Equal(expected, body);
    }
}
