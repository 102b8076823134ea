using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>Redis discovery through the real binaries: `bethrou node --discover` and a client with `discovery.enabled`.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class DiscoveryCliTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ClientFindsANodeThroughRedisCarriesCurlAndDropsItWhenItStops()
    {
        await using var ws = new E2eWorkspace(output);
        await using var redis = await RedisProcess.StartAsync(ws.Dir);
        await using var origin = new HttpOrigin();
        var redisUrl = $"redis://127.0.0.1:{redis.Port}";

        var (node, addr) = await ws.StartNodeAsync("--allow-private", "--discover", "--discover-address", redisUrl,
            "--discover-topic", "e2e", "--discover-private");
        await node.WaitForLineAsync(new Regex("announcing 1 address"), TimeSpan.FromSeconds(30), stderr: true);

        var config = ws.PathOf("client.yaml");
        await File.WriteAllTextAsync(config, $"""
            key: {ws.KeyFile}
            server: {"{"} listen: "127.0.0.1:0" {"}"}
            routing: {"{"} health: 1s, timeout: 5s {"}"}
            discovery: {"{"} enabled: true, address: "{redisUrl}", topic: e2e {"}"}
            """);
        var client = ws.Start(["client", "--config", config], name: "client");
        var socks = await client.WaitForSocksEndPointAsync();
        Assert.Contains("1 from discovery", client.Stdout, StringComparison.Ordinal);
        await E2eWorkspace.WaitForExitUpAsync(client, addr);

        var curl = await CurlRunner.RunAsync(TimeSpan.FromSeconds(60), "-sS", "--socks5-hostname", $"127.0.0.1:{socks.Port}",
            origin.Url("/bytes/1000"), "-o", ws.PathOf("out.bin"));
        Assert.True(curl.ExitCode == 0, curl.ToString());
        Assert.Equal(1000, new FileInfo(ws.PathOf("out.bin")).Length);

        // A graceful stop removes the node's record at once; the client drops the exit (logged as down or removed).
        await node.TerminateAsync();
        Assert.Equal(0, await node.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var keys = await RedisProcess.CliAsync(redis.Port, "--scan", "--pattern", "e2e:node:*");
        Assert.Equal("", keys.Trim());
    }

    /// <summary>A redis-server of our own on a free loopback port; only this PID is ended.</summary>
    private sealed class RedisProcess : IAsyncDisposable
    {
        private readonly Process _process;

        private RedisProcess(Process process, int port)
        {
            _process = process;
            Port = port;
        }

        public int Port { get; }

        public static async Task<RedisProcess> StartAsync(string dir)
        {
            var server = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
            for (var attempt = 0; ; attempt++)
            {
                int port;
                using (var probe = new TcpListener(IPAddress.Loopback, 0))
                {
                    probe.Start();
                    port = ((IPEndPoint)probe.LocalEndpoint).Port;
                }
                var psi = new ProcessStartInfo(server) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
                foreach (var a in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
                {
                    psi.ArgumentList.Add(a);
                }
                var p = Process.Start(psi)!;
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                try
                {
                    await Poll.UntilAsync(async () => p.HasExited || (await CliAsync(port, "ping")).Trim() == "PONG", "redis-server to answer PING", CancellationToken.None, TimeSpan.FromSeconds(20));
                }
                catch (TimeoutException)
                {
                }
                if (!p.HasExited)
                {
                    return new RedisProcess(p, port);
                }
                if (!p.HasExited)
                {
                    p.Kill();
                }
                if (attempt >= 3)
                {
                    throw new InvalidOperationException("redis-server did not start (is it installed? scripts/setup-test-deps.sh installs it)");
                }
            }
        }

        public static async Task<string> CliAsync(int port, params string[] args)
        {
            var psi = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-p");
            psi.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            var stdout = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            return stdout;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }
}
