using System.Net;
using Bethrou.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// Client and exit processes in each I/O scheduling mode (README "I/O threading"): the default (inline, with .NET's
/// inline socket completions that bethrou turns on itself) and the thread-pool hand-offs that
/// <c>BETHROU_IO_SCHEDULING=threadpool</c> restores. Both carry curl's bytes intact both ways and answer a refused
/// destination with its SOCKS reply.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class IoSchedulingProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("inline")]
    [InlineData("threadpool")]
    public async Task Curl_through_client_and_exit_in_each_scheduling_mode(string mode)
    {
        await using var ws = new E2eWorkspace(output);
        // The test host itself runs with inline socket completions (tests/inline-io.runsettings): leave the choice of
        // socket completions to bethrou, as on a user's machine.
        ws.CommonEnvironment["BETHROU_IO_SCHEDULING"] = mode;
        ws.CommonEnvironment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = mode == "inline" ? "1" : "0";
        await using var origin = new HttpOrigin();
        var (_, node) = await ws.StartNodeAsync("--allow-private");
        var (client, socks) = await ws.StartClientAsync([node]);
        await E2eWorkspace.WaitForExitUpAsync(client, node);
        var proxy = $"{socks.Address}:{socks.Port}";

        await ws.AssertCurlDownloadAsync(proxy, origin.Port, 16L << 20, s_timeout);
        await ws.AssertCurlUploadAsync(proxy, origin.Port, 16L << 20, seed: 11, s_timeout);
        // A closed port: the exit's refusal reaches curl as SOCKS reply 0x05 (curl exit 97, "connection refused").
        var closed = LoopbackTcpOrigin.GetClosedPort();
        var refused = await CurlRunner.RunAsync(s_timeout, "-sS", "--socks5-hostname", proxy, $"http://127.0.0.1:{closed}/");
        Assert.True(refused.ExitCode == 97, refused.ToString());
        // Twenty requests in a row on fresh SOCKS connections, the per-request path the scheduling mode is about.
        for (var i = 0; i < 20; i++)
        {
            var get = await CurlRunner.RunAsync(s_timeout, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                "--socks5-hostname", proxy, $"http://localhost:{origin.Port}/bytes/{1000 + i}");
            Assert.True(get.ExitCode == 0, get.ToString());
            Assert.Equal($"200 {1000 + i}", get.Stdout);
        }
    }
}
