using System.Net;
using System.Net.Sockets;

namespace Bethrou.Interop.Tests.Harness;

/// <summary>
/// A TCP server on 127.0.0.1:0 standing in for a proxied destination: for each connection it reads the request
/// until the client half-closes, answers with <c>respond(request)</c> and closes.
/// </summary>
public sealed class LoopbackTcpOrigin : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<byte[], byte[]> _respond;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _acceptLoop;
    private readonly List<Task> _connections = [];
    private readonly object _lock = new();
    private readonly List<byte[]> _requests = [];

    public LoopbackTcpOrigin(Func<byte[], byte[]> respond, int maxRequestBytes = 16 * 1024 * 1024)
    {
        _respond = respond;
        MaxRequestBytes = maxRequestBytes;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int MaxRequestBytes { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>"127.0.0.1:port", as a SOCKS/Go address.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Requests received so far (complete, i.e. up to the client's half-close).</summary>
    public IReadOnlyList<byte[]> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>A loopback port that refuses connections (bound, then released).</summary>
    public static int GetClosedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_cts.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    _connections.Add(ServeAsync(client));
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                using var request = new MemoryStream();
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await stream.ReadAsync(buffer, _cts.Token).ConfigureAwait(false)) > 0)
                {
                    request.Write(buffer, 0, n);
                    if (request.Length > MaxRequestBytes)
                    {
                        return;
                    }
                }

                var bytes = request.ToArray();
                lock (_lock)
                {
                    _requests.Add(bytes);
                }

                await stream.WriteAsync(_respond(bytes), _cts.Token).ConfigureAwait(false);
                client.Client.Shutdown(SocketShutdown.Send);
                // wait for the peer to close its side too
                while (await stream.ReadAsync(buffer, _cts.Token).ConfigureAwait(false) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Task[] all;
        lock (_lock)
        {
            all = [_acceptLoop, .. _connections];
        }

        await Task.WhenAll(all).ConfigureAwait(false);
        _cts.Dispose();
    }
}
