using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Bethrou.Benchmarks.Discovery;

/// <summary>A redis-server of the bench's own on a free loopback port (no persistence), killed by its PID at the end.</summary>
internal sealed class BenchRedis : IAsyncDisposable
{
    private readonly Process _process;

    private BenchRedis(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"redis://127.0.0.1:{Port}";

    public static async Task<BenchRedis> StartAsync()
    {
        var exe = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run scripts/setup-test-deps.sh");
        for (var attempt = 1; ; attempt++)
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning" })
            {
                psi.ArgumentList.Add(a);
            }
            var p = Process.Start(psi)!;
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!p.HasExited && DateTime.UtcNow < deadline)
            {
                try
                {
                    using var c = new TcpClient();
                    await c.ConnectAsync(IPAddress.Loopback, port);
                    return new BenchRedis(p, port);
                }
                catch (SocketException)
                {
                    await Task.Delay(25);
                }
            }
            if (!p.HasExited)
            {
                p.Kill();
            }
            if (attempt >= 5)
            {
                throw new InvalidOperationException("redis-server did not start");
            }
        }
    }

    public async Task<ConnectionMultiplexer> AdminAsync()
    {
        var o = new ConfigurationOptions { AllowAdmin = true, AbortOnConnectFail = false };
        o.EndPoints.Add("127.0.0.1", Port);
        return await ConnectionMultiplexer.ConnectAsync(o);
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
