using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Bethrou.Proxy.Tests.Tunnel;
using Bethrou.Proxy.Tunnel;

namespace Bethrou.Proxy.Tests.Socks5;

/// <summary>curl → Socks5Server → DirectTunnelConnector → a test HTTP origin, all on loopback.</summary>
public class Socks5CurlTests
{
    [Fact]
    public async Task Curl_without_auth_gets_the_body()
    {
        var body = Encoding.UTF8.GetBytes("hello through socks\n");
        await using var origin = TestOrigin.Http(body);
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        var (exit, stdout, stderr) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            $"http://127.0.0.1:{origin.Port}/hello");
        Assert.True(exit == 0, $"curl exit {exit}: {stderr}");
        Assert.Equal(body, stdout);
    }

    [Fact]
    public async Task Curl_hostname_is_resolved_by_the_connector_not_by_curl()
    {
        var body = RandomNumberGenerator.GetBytes(100_000);
        await using var origin = TestOrigin.Http(body);
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        var (exit, stdout, stderr) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            $"http://localhost:{origin.Port}/by-name");
        Assert.True(exit == 0, $"curl exit {exit}: {stderr}");
        Assert.Equal(body, stdout);
    }

    [Fact]
    public async Task Curl_with_correct_credentials()
    {
        var body = RandomNumberGenerator.GetBytes(12345);
        await using var origin = TestOrigin.Http(body);
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o =>
        {
            o.Username = "u";
            o.Password = "p";
        });
        var (exit, stdout, stderr) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            "--proxy-user", "u:p", $"http://127.0.0.1:{origin.Port}/auth");
        Assert.True(exit == 0, $"curl exit {exit}: {stderr}");
        Assert.Equal(body, stdout);
        Assert.Equal(0, server.FailedAuthentications);
    }

    [Fact]
    public async Task Curl_with_wrong_credentials_is_refused()
    {
        await using var origin = TestOrigin.Http("secret"u8.ToArray());
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o =>
        {
            o.Username = "u";
            o.Password = "p";
        });
        var (exit, stdout, _) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            "--proxy-user", "u:wrong", $"http://127.0.0.1:{origin.Port}/auth");
        Assert.NotEqual(0, exit);
        Assert.Empty(stdout);
        Assert.Equal(1, server.FailedAuthentications);

        // Without credentials at all: no acceptable method.
        (exit, stdout, _) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            $"http://127.0.0.1:{origin.Port}/auth");
        Assert.NotEqual(0, exit);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Curl_refused_destination_reports_the_socks_error()
    {
        // A port with nothing listening.
        int port;
        using (var probe = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        var (exit, _, stderr) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
            $"http://127.0.0.1:{port}/");
        Assert.NotEqual(0, exit);
        Assert.Contains("(5)", stderr, StringComparison.Ordinal); // curl prints the SOCKS reply code: 5 = connection refused
    }

    [Fact]
    public async Task Curl_large_download_is_exact()
    {
        const long size = 64L * 1024 * 1024;
        await using var origin = TestOrigin.HttpGenerated(size);
        await using var server = ServerFactory.Start(new DirectTunnelConnector());
        var file = Path.Combine(Path.GetTempPath(), "bethrou-curl-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (exit, _, stderr) = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
                "-o", file, $"http://127.0.0.1:{origin.Port}/big");
            Assert.True(exit == 0, $"curl exit {exit}: {stderr}");
            Assert.Equal(size, new FileInfo(file).Length);
            await using var stream = File.OpenRead(file);
            Assert.Equal(TestData.Sha256(size), await SHA256.HashDataAsync(stream));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Curl_over_an_ipv6_listener()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return;
        }
        var body = "over v6"u8.ToArray();
        await using var origin = TestOrigin.Http(body);
        await using var server = ServerFactory.Start(new DirectTunnelConnector(), o => o.Listen = new IPEndPoint(IPAddress.IPv6Loopback, 0));
        var (exit, stdout, stderr) = await Curl.RunAsync("--socks5-hostname", $"[::1]:{server.LocalEndPoint.Port}",
            $"http://127.0.0.1:{origin.Port}/v6");
        Assert.True(exit == 0, $"curl exit {exit}: {stderr}");
        Assert.Equal(body, stdout);
    }
}
