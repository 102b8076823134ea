using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Discovery.Tests.Infrastructure;

/// <summary>
/// A real redis-server on a free loopback port, owned by one test (or fixture): started with no persistence,
/// waited for until it answers PING, and killed by its own PID at the end. Installs redis-server from Debian
/// packages once if it is missing (as scripts/setup-test-deps.sh does).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static string? _executable;
    private readonly string? _password;
    private readonly IReadOnlyList<string> _extraArgs;
    private Process? _process;

    private RedisServer(int port, string? password, IReadOnlyList<string> extraArgs)
    {
        Port = port;
        _password = password;
        _extraArgs = extraArgs;
    }

    public int Port { get; private set; }

    public string Url => $"redis://127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a server on a free port (retrying with another port if the chosen one was taken meanwhile).</summary>
    public static async Task<RedisServer> StartAsync(string? password = null, IReadOnlyList<string>? extraArgs = null, bool tlsOnly = false, string? sentinelConfig = null)
    {
        await EnsureInstalledAsync();
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(FreePort(), password, extraArgs ?? []) { TlsOnly = tlsOnly, SentinelConfig = sentinelConfig };
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (IOException) when (attempt < 5)
            {
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>A server object for a free port that is not started yet (to test clients that start before Redis).</summary>
    public static async Task<RedisServer> ReserveAsync(string? password = null)
    {
        await EnsureInstalledAsync();
        return new RedisServer(FreePort(), password, []);
    }

    internal bool TlsOnly { get; init; }

    /// <summary>A sentinel config file (written by the caller; sentinel rewrites it): runs redis-server in sentinel mode.</summary>
    internal string? SentinelConfig { get; init; }

    public Task StartAgainAsync() => StartProcessAsync();

    /// <summary>Kills the server (SIGKILL, like a crash or an OOM kill) and waits for the process to end.</summary>
    public async Task KillAsync()
    {
        var p = _process;
        if (p is null || p.HasExited)
        {
            return;
        }
        p.Kill();
        await p.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _process = null;
    }

    private async Task StartProcessAsync()
    {
        var psi = new ProcessStartInfo(_executable!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (SentinelConfig is not null)
        {
            psi.ArgumentList.Add(SentinelConfig);
            psi.ArgumentList.Add("--sentinel");
        }
        foreach (var a in new[] { "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.ArgumentList.Add(TlsOnly ? "--tls-port" : "--port");
        psi.ArgumentList.Add(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (TlsOnly)
        {
            psi.ArgumentList.Add("--port");
            psi.ArgumentList.Add("0");
        }
        if (_password is not null)
        {
            psi.ArgumentList.Add("--requirepass");
            psi.ArgumentList.Add(_password);
        }
        foreach (var a in _extraArgs)
        {
            psi.ArgumentList.Add(a);
        }
        var output = new StringBuilder();
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start redis-server");
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (p.HasExited)
            {
                string text;
                lock (output)
                {
                    text = output.ToString();
                }
                throw new IOException($"redis-server on port {Port} exited with {p.ExitCode}: {text}");
            }
            if (TlsOnly ? await AcceptsTcpAsync() : await AnswersPingAsync())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                p.Kill();
                throw new TimeoutException($"redis-server on port {Port} did not answer PING within 20 s");
            }
            await Task.Delay(25);
        }
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray());
            var buf = new byte[64];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var n = await stream.ReadAsync(buf, cts.Token);
            var reply = Encoding.ASCII.GetString(buf, 0, n);
            // With --requirepass the server still answers (with NOAUTH): it is up.
            return reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> AcceptsTcpAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static async Task EnsureInstalledAsync()
    {
        if (_executable is not null)
        {
            return;
        }
        await InstallLock.WaitAsync();
        try
        {
            _executable ??= Find();
            if (_executable is not null)
            {
                return;
            }
            var root = Environment.UserName == "root";
            await RunAsync(root ? "apt-get" : "sudo", root ? ["update", "-qq"] : ["apt-get", "update", "-qq"]);
            await RunAsync(root ? "apt-get" : "sudo", root ? ["install", "-y", "-qq", "redis-server"] : ["apt-get", "install", "-y", "-qq", "redis-server"]);
            _executable = Find() ?? throw new InvalidOperationException(
                "redis-server is not installed and installing it with apt-get failed; run scripts/setup-test-deps.sh (needs Debian packages)");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    private static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin"))
        {
            var path = Path.Combine(dir, "redis-server");
            if (dir.Length > 0 && File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    private static async Task RunAsync(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            await Task.WhenAll(stdout, stderr);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // apt-get/sudo missing: Find() afterwards reports the clear error.
        }
    }
}
