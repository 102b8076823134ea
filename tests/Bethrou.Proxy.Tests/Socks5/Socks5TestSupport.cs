using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bethrou.Proxy.Socks5;
using Bethrou.Proxy.Tests.Tunnel;
using Bethrou.Proxy.Tunnel;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Proxy.Tests.Socks5;

/// <summary>A SOCKS5 client over a raw socket, byte by byte, for protocol tests.</summary>
internal sealed class RawSocksClient : IDisposable
{
    private RawSocksClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<RawSocksClient> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server);
        return new RawSocksClient(socket);
    }

    public Task SendAsync(byte[] bytes) => Socket.SendAsync(bytes.AsMemory(), SocketFlags.None).AsTask();

    public Task<byte[]> ReadExactAsync(int count) => TestUtil.ReadExactAsync(Socket, count);

    public Task<byte[]> ReadToEndAsync() => TestUtil.ReadToEndAsync(Socket);

    /// <summary>Greeting (+ auth) + CONNECT; returns the reply.</summary>
    public async Task<Socks5Reply> ConnectThroughAsync(Socks5Destination destination, string? username = null, string? password = null,
        byte[]? earlyData = null)
    {
        var writer = new ArrayBufferWriter<byte>();
        Socks5Codec.WriteGreeting(writer, username is null ? [Socks5AuthMethod.NoAuthentication] : [Socks5AuthMethod.UsernamePassword]);
        await SendAsync(writer.WrittenSpan.ToArray());
        var selection = await ReadExactAsync(2);
        Assert.Equal(new byte[] { 0x05, username is null ? (byte)0x00 : (byte)0x02 }, selection);
        if (username is not null)
        {
            writer.Clear();
            Socks5Codec.WriteAuthRequest(writer, System.Text.Encoding.UTF8.GetBytes(username), System.Text.Encoding.UTF8.GetBytes(password!));
            await SendAsync(writer.WrittenSpan.ToArray());
            Assert.Equal(new byte[] { 0x01, 0x00 }, await ReadExactAsync(2));
        }
        writer.Clear();
        Socks5Codec.WriteRequest(writer, Socks5Command.Connect, destination);
        if (earlyData is not null)
        {
            writer.Write(earlyData);
        }
        await SendAsync(writer.WrittenSpan.ToArray());
        return await ReadReplyAsync();
    }

    public async Task<Socks5Reply> ReadReplyAsync()
    {
        var received = new List<byte>();
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(received.ToArray());
            var result = Socks5Codec.TryReadReply(ref buffer, out var reply);
            if (result.IsOk)
            {
                Assert.Equal(0, buffer.Length);
                return reply!;
            }
            Assert.Equal(Socks5ParseStatus.NeedMoreData, result.Status);
            received.AddRange(await ReadExactAsync(1));
        }
    }

    public void Dispose() => Socket.Dispose();
}

/// <summary>Always fails with a fixed reply code (the connector seam, used to test every reply).</summary>
internal sealed class FailingConnector(Socks5ReplyCode code) : ITunnelConnector
{
    public List<Socks5Destination> Requests { get; } = [];

    public ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken)
    {
        lock (Requests)
        {
            Requests.Add(destination);
        }
        return ValueTask.FromResult(TunnelConnectResult.Failure(code, "test failure " + code));
    }
}

/// <summary>Waits until cancelled.</summary>
internal sealed class HangingConnector : ITunnelConnector
{
    public async ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }
}

internal sealed class ThrowingConnector : ITunnelConnector
{
    public ValueTask<TunnelConnectResult> ConnectAsync(Socks5Destination destination, CancellationToken cancellationToken)
        => throw new InvalidOperationException("connector bug");
}

/// <summary>Collects every formatted log line (all levels).</summary>
internal sealed class CollectingLogger<T> : ILogger<T>
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines)
        {
            Lines.Add($"{logLevel} {eventId.Id} {formatter(state, exception)} {exception}");
        }
    }
}

internal static class ServerFactory
{
    public static Socks5Server Start(ITunnelConnector connector, Action<Socks5ServerOptions>? configure = null,
        TimeProvider? timeProvider = null, ILogger<Socks5Server>? logger = null)
    {
        var options = new Socks5ServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0) };
        configure?.Invoke(options);
        var server = new Socks5Server(options, connector, logger ?? NullLogger<Socks5Server>.Instance, timeProvider);
        server.Start();
        return server;
    }
}

internal static class Curl
{
    public const string Path = "/usr/bin/curl";

    /// <summary>Runs curl; returns exit code, stdout bytes and stderr text.</summary>
    public static async Task<(int ExitCode, byte[] Stdout, string Stderr)> RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--silent");
        info.ArgumentList.Add("--show-error");
        info.ArgumentList.Add("--max-time");
        info.ArgumentList.Add("60");
        info.ArgumentList.Add("--noproxy");
        info.ArgumentList.Add("");
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        // No proxy settings from the environment.
        foreach (var variable in new[] { "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "no_proxy", "NO_PROXY" })
        {
            info.Environment.Remove(variable);
        }
        using var process = Process.Start(info)!;
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await copy;
        return (process.ExitCode, stdout.ToArray(), await stderr);
    }
}
