using System.Globalization;
using Bethrou.Proxy.Tests.Tunnel;
using Bethrou.Proxy.Tunnel;
using Xunit.Abstractions;

namespace Bethrou.Proxy.Tests.Socks5;

/// <summary>
/// Throughput figure, not an assertion (shared machines are noisy): runs only with BETHROU_PERF=1, e.g.
/// <c>BETHROU_PERF=1 dotnet test tests/Bethrou.Proxy.Tests -c Release --filter FullyQualifiedName~Socks5Throughput --logger "console;verbosity=detailed"</c>.
/// Knobs: BETHROU_PERF_BYTES (default 1 GiB), BETHROU_PERF_INLINE=1 (inline pipe schedulers), BETHROU_PERF_RECEIVE
/// (receive size, default 65536), BETHROU_PERF_NOWAIT=1 (no zero-byte receive before renting).
/// </summary>
public class Socks5ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Curl_download_through_socks_and_direct()
    {
        if (Environment.GetEnvironmentVariable("BETHROU_PERF") != "1")
        {
            return;
        }
        var size = long.Parse(Environment.GetEnvironmentVariable("BETHROU_PERF_BYTES") ?? (1L << 30).ToString(CultureInfo.InvariantCulture),
            CultureInfo.InvariantCulture);
        await using var origin = TestOrigin.HttpGenerated(size);
        var inline = Environment.GetEnvironmentVariable("BETHROU_PERF_INLINE") == "1";
        var receiveSize = int.Parse(Environment.GetEnvironmentVariable("BETHROU_PERF_RECEIVE") ?? "65536", CultureInfo.InvariantCulture);
        var socketOptions = new SocketDuplexPipeOptions
        {
            ReceiveSize = receiveSize,
            WaitForDataBeforeAllocatingBuffer = Environment.GetEnvironmentVariable("BETHROU_PERF_NOWAIT") != "1",
            MaxReceiveBufferSize = Math.Max(1 << 20, 4L * receiveSize),
            MaxSendBufferSize = Math.Max(1 << 20, 4L * receiveSize),
            ApplicationScheduler = inline ? System.IO.Pipelines.PipeScheduler.Inline : System.IO.Pipelines.PipeScheduler.ThreadPool,
            TransportScheduler = inline ? System.IO.Pipelines.PipeScheduler.Inline : System.IO.Pipelines.PipeScheduler.ThreadPool,
        };
        output.WriteLine($"inline={inline} receive={receiveSize}");
        await using var server = ServerFactory.Start(new DirectTunnelConnector(new DirectTunnelConnectorOptions { SocketOptions = socketOptions }),
            o => o.SocketOptions = socketOptions);
        for (var round = 0; round < 5; round++)
        {
            var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var baseline = await Curl.RunAsync("-o", "/dev/null", "-w", "%{speed_download} %{size_download}",
                $"http://127.0.0.1:{origin.Port}/baseline");
            var cpu1 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var gen0Before = GC.CollectionCount(0);
            var viaSocks = await Curl.RunAsync("--socks5-hostname", $"127.0.0.1:{server.LocalEndPoint.Port}",
                "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", $"http://127.0.0.1:{origin.Port}/socks");
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            var cpu2 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            output.WriteLine($"  process CPU: origin alone {(cpu1 - cpu0).TotalMilliseconds:0} ms, origin+SOCKS server {(cpu2 - cpu1).TotalMilliseconds:0} ms");
            output.WriteLine($"round {round}: direct curl->origin {Describe(baseline.Stdout)}; curl->SOCKS->direct->origin {Describe(viaSocks.Stdout)}; " +
                $"process allocated {allocated / 1024} KiB, gen0 GCs {GC.CollectionCount(0) - gen0Before} (includes the test origin and the curl runner)");
            Assert.Equal(0, viaSocks.ExitCode);
        }
    }

    private static string Describe(byte[] stdout)
    {
        var parts = System.Text.Encoding.ASCII.GetString(stdout).Split(' ');
        var speed = double.Parse(parts[0], CultureInfo.InvariantCulture);
        return $"{speed / 1e6:0} MB/s ({long.Parse(parts[1], CultureInfo.InvariantCulture) / (1 << 20)} MiB)";
    }
}
