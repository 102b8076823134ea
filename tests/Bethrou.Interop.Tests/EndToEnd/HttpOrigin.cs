using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// A tiny HTTP/1.1 origin on 127.0.0.1:0 (or another loopback address) (one request per connection, always <c>Connection: close</c>):
/// <list type="bullet">
/// <item><c>GET /bytes/N[?seed=S]</c>: N bytes of <see cref="DeterministicBytes"/> (Content-Length N).</item>
/// <item><c>POST /upload</c>: reads the body (Content-Length or chunked; answers <c>Expect: 100-continue</c>) and
/// returns its SHA-256 in lower-case hex.</item>
/// <item><c>GET /gated/N</c>: like /bytes/N, but after the first half it signals <see cref="GateReached"/> and waits for
/// <see cref="OpenGate"/> before sending the rest.</item>
/// </list>
/// Anything else gets 404.
/// </summary>
public sealed class HttpOrigin : IAsyncDisposable
{
    private const int MaxHeaderBytes = 64 * 1024;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _acceptLoop;
    private readonly Lock _lock = new();
    private readonly List<Task> _connections = [];
    private readonly TaskCompletionSource _gateReached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _completed;

    public HttpOrigin(IPAddress? bind = null)
    {
        _listener = new TcpListener(bind ?? IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Responses written completely.</summary>
    public int CompletedResponses => Volatile.Read(ref _completed);

    /// <summary>Completes when a /gated/ response has sent its first half.</summary>
    public Task GateReached => _gateReached.Task;

    public void OpenGate() => _gate.TrySetResult();

    public string Url(string pathAndQuery)
    {
        var ep = (IPEndPoint)_listener.LocalEndpoint;
        var host = ep.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ep.Address}]" : ep.Address.ToString();
        return $"http://{host}:{Port}{pathAndQuery}";
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_cts.Token);
                lock (_lock)
                {
                    _connections.RemoveAll(t => t.IsCompleted);
                    _connections.Add(ServeAsync(socket));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        catch (InvalidOperationException) when (_cts.IsCancellationRequested)
        {
            // Disposed between two accepts: the stopped listener says "Not listening" before it looks at the token.
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        socket.NoDelay = true;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var token = _cts.Token;
        try
        {
            var (head, leftover) = await ReadHeadAsync(stream, token);
            if (head is null)
            {
                return;
            }
            var lines = head.Split("\r\n");
            var parts = lines[0].Split(' ');
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }
            }
            var method = parts[0];
            var target = parts.Length > 1 ? parts[1] : "/";
            var path = target.Split('?')[0];
            var query = target.Contains('?', StringComparison.Ordinal) ? target[(target.IndexOf('?', StringComparison.Ordinal) + 1)..] : "";
            var seed = query.StartsWith("seed=", StringComparison.Ordinal) ? ulong.Parse(query[5..], CultureInfo.InvariantCulture) : 1UL;

            if (method == "GET" && (path.StartsWith("/bytes/", StringComparison.Ordinal) || path.StartsWith("/gated/", StringComparison.Ordinal)))
            {
                var length = long.Parse(path[7..], CultureInfo.InvariantCulture);
                await WriteHeadAsync(stream, 200, length, "application/octet-stream", token);
                await WriteBytesAsync(stream, length, seed, gated: path.StartsWith("/gated/", StringComparison.Ordinal), token);
            }
            else if (method == "POST" && path == "/upload")
            {
                if (headers.TryGetValue("Expect", out var expect) && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
                {
                    await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), token);
                }
                var body = new BodyReader(stream, leftover);
                var hash = headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase)
                    ? await body.HashChunkedAsync(token)
                    : await body.HashAsync(long.Parse(headers.GetValueOrDefault("Content-Length", "0"), CultureInfo.InvariantCulture), token);
                var text = Encoding.ASCII.GetBytes(hash);
                await WriteHeadAsync(stream, 200, text.Length, "text/plain", token);
                await stream.WriteAsync(text, token);
            }
            else
            {
                var text = "not found\n"u8.ToArray();
                await WriteHeadAsync(stream, 404, text.Length, "text/plain", token);
                await stream.WriteAsync(text, token);
            }
            await stream.FlushAsync(token);
            Interlocked.Increment(ref _completed);
            socket.Shutdown(SocketShutdown.Send);
            // Let the client read everything and close first (no RST on unread request bytes).
            var sink = new byte[4096];
            while (await stream.ReadAsync(sink, token) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or FormatException)
        {
        }
    }

    private async Task WriteBytesAsync(NetworkStream stream, long length, ulong seed, bool gated, CancellationToken token)
    {
        var buffer = new byte[256 * 1024];
        var half = length / 2;
        long o = 0;
        while (o < length)
        {
            var limit = gated && o < half ? half : length;
            var n = (int)Math.Min(buffer.Length, limit - o);
            DeterministicBytes.Fill(buffer.AsSpan(0, n), o, seed);
            await stream.WriteAsync(buffer.AsMemory(0, n), token);
            o += n;
            if (gated && o == half)
            {
                await stream.FlushAsync(token);
                _gateReached.TrySetResult();
                await _gate.Task.WaitAsync(token);
            }
        }
    }

    private static async Task WriteHeadAsync(NetworkStream stream, int status, long length, string type, CancellationToken token)
    {
        var reason = status == 200 ? "OK" : "Not Found";
        var head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: {type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), token);
    }

    /// <summary>Reads up to the blank line; returns the head text and the bytes read past it.</summary>
    private static async Task<(string? Head, byte[] Leftover)> ReadHeadAsync(NetworkStream stream, CancellationToken token)
    {
        var buffer = new byte[MaxHeaderBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(filled), token);
            if (n == 0)
            {
                return (null, []);
            }
            filled += n;
            var end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return (Encoding.ASCII.GetString(buffer, 0, end), buffer[(end + 4)..filled]);
            }
        }
        return (null, []);
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        Task[] all;
        lock (_lock)
        {
            all = [_acceptLoop, .. _connections];
        }
        await Task.WhenAll(all);
        _cts.Dispose();
    }

    /// <summary>Reads a request body (after the head's leftover bytes) and hashes it.</summary>
    private sealed class BodyReader(NetworkStream stream, byte[] leftover)
    {
        private readonly byte[] _buffer = new byte[256 * 1024];
        private byte[] _pending = leftover;
        private int _pendingOffset;

        public async Task<string> HashAsync(long length, CancellationToken token)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await CopyAsync(hash, length, token);
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        public async Task<string> HashChunkedAsync(CancellationToken token)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while (true)
            {
                var line = await ReadLineAsync(token);
                var size = long.Parse(line.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while ((await ReadLineAsync(token)).Length > 0)
                    {
                    }
                    return Convert.ToHexStringLower(hash.GetHashAndReset());
                }
                await CopyAsync(hash, size, token);
                await ReadLineAsync(token);
            }
        }

        private async Task CopyAsync(IncrementalHash hash, long length, CancellationToken token)
        {
            while (length > 0)
            {
                var (data, n) = await NextAsync((int)Math.Min(length, _buffer.Length), token);
                hash.AppendData(data, 0, n);
                length -= n;
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken token)
        {
            var sb = new StringBuilder();
            while (true)
            {
                var (data, _) = await NextAsync(1, token);
                var c = (char)data[0];
                if (c == '\n')
                {
                    return sb.ToString().TrimEnd('\r');
                }
                sb.Append(c);
                if (sb.Length > 1024)
                {
                    throw new FormatException("chunk line too long");
                }
            }
        }

        /// <summary>Returns up to <paramref name="max"/> bytes (at offset 0 of the returned array).</summary>
        private async Task<(byte[] Data, int Count)> NextAsync(int max, CancellationToken token)
        {
            if (_pendingOffset < _pending.Length)
            {
                var n = Math.Min(max, _pending.Length - _pendingOffset);
                var data = _pending.AsSpan(_pendingOffset, n).ToArray();
                _pendingOffset += n;
                return (data, n);
            }
            var read = await stream.ReadAsync(_buffer.AsMemory(0, max), token);
            if (read == 0)
            {
                throw new IOException("request body ended early");
            }
            return (_buffer, read);
        }
    }
}
