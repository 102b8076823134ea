using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bethrou.Bench.Socks;

/// <summary>
/// The benchmark origin: HTTP/1.1 on loopback with keep-alive.
/// `GET /bytes/&lt;n&gt;` answers n pseudo-random bytes (incompressible, so no proxy gains from compression);
/// `POST|PUT /upload` discards the body (Content-Length or chunked, honours `Expect: 100-continue`) and answers the
/// byte count as text. Anything else is 404. Prints `listening &lt;ip&gt;:&lt;port&gt;` once bound, then serves until killed.
/// </summary>
internal static class Origin
{
    private const int SendChunk = 1 << 20;
    private static readonly byte[] s_payload = Payload.Create(SendChunk);
    private static long s_errors;

    public static async Task<int> RunAsync(Args args)
    {
        var listen = Endpoints.ParseIPv4(args.Str("listen", "127.0.0.1:0"), "--listen", allowPortZero: true);
        args.EnsureAllUsed();
        using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(listen);
        listener.Listen(4096);
        Console.WriteLine($"listening {listener.LocalEndPoint}");
        Console.Out.Flush();
        var connections = new ConcurrentDictionary<long, Task>();
        long next = 0;
        while (true)
        {
            var socket = await listener.AcceptAsync().ConfigureAwait(false);
            socket.NoDelay = true;
            var id = Interlocked.Increment(ref next);
            var task = Task.Run(() => ServeAsync(socket));
            connections[id] = task;
            _ = task.ContinueWith(
                (t, state) => connections.TryRemove((long)state!, out _),
                id,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    /// <summary>Serves one connection; never throws (errors go to stderr, rate-limited).</summary>
    private static async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var ct = CancellationToken.None;
        try
        {
            var reader = new SocketReader(socket, 256 * 1024);
            while (true)
            {
                var text = await reader.ReadHeadAsync(ct).ConfigureAwait(false);
                if (text is null)
                {
                    return;
                }
                var head = HttpHead.Parse(text);
                var parts = head.StartLine.Split(' ');
                if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
                {
                    await SendTextAsync(socket, 400, "bad request line\n", true, ct).ConfigureAwait(false);
                    return;
                }
                var (method, target) = (parts[0], parts[1]);
                bool keepGoing;
                if (method == "GET" && target.StartsWith("/bytes/", StringComparison.Ordinal)
                    && long.TryParse(target.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    await SendBytesAsync(socket, n, head.ConnectionClose, ct).ConfigureAwait(false);
                    keepGoing = !head.ConnectionClose;
                }
                else if ((method == "POST" || method == "PUT") && target == "/upload")
                {
                    if (head.ExpectContinue)
                    {
                        await socket.SendAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), SocketFlags.None, ct).ConfigureAwait(false);
                    }
                    var count = await ReadBodyAsync(reader, head, ct).ConfigureAwait(false);
                    await SendTextAsync(socket, 200, count.ToString(CultureInfo.InvariantCulture) + "\n", head.ConnectionClose, ct).ConfigureAwait(false);
                    keepGoing = !head.ConnectionClose;
                }
                else
                {
                    await ReadBodyAsync(reader, head, ct).ConfigureAwait(false);
                    await SendTextAsync(socket, 404, "try GET /bytes/<n> or POST /upload\n", head.ConnectionClose, ct).ConfigureAwait(false);
                    keepGoing = !head.ConnectionClose;
                }
                if (!keepGoing)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    await reader.DrainAsync(ct).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception e)
        {
            if (Interlocked.Increment(ref s_errors) <= 20)
            {
                await Console.Error.WriteLineAsync($"origin: connection error: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
            }
        }
    }

    private static async ValueTask<long> ReadBodyAsync(SocketReader reader, HttpHead head, CancellationToken ct)
    {
        if (head.Chunked)
        {
            long total = 0;
            while (true)
            {
                var line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
                var semi = line.IndexOf(';');
                var hex = (semi >= 0 ? line[..semi] : line).Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                {
                    throw new HttpFormatException($"bad chunk size line `{line}`");
                }
                if (size == 0)
                {
                    // trailers until the empty line
                    while ((await reader.ReadLineAsync(ct).ConfigureAwait(false)).Length > 0)
                    {
                    }
                    return total;
                }
                await reader.SkipAsync(size, ct).ConfigureAwait(false);
                total += size;
                if ((await reader.ReadLineAsync(ct).ConfigureAwait(false)).Length != 0)
                {
                    throw new HttpFormatException("chunk data not followed by CRLF");
                }
            }
        }
        var length = head.ContentLength ?? 0;
        await reader.SkipAsync(length, ct).ConfigureAwait(false);
        return length;
    }

    private static async ValueTask SendBytesAsync(Socket socket, long count, bool close, CancellationToken ct)
    {
        var head = $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {count}\r\n{(close ? "Connection: close\r\n" : "")}\r\n";
        var headBytes = Encoding.ASCII.GetBytes(head);
        // Small responses go out in one segment with the head (what a real server does for tiny bodies).
        if (count <= 16 * 1024)
        {
            var one = new byte[headBytes.Length + count];
            headBytes.CopyTo(one, 0);
            s_payload.AsSpan(0, (int)count).CopyTo(one.AsSpan(headBytes.Length));
            await socket.SendAsync(one, SocketFlags.None, ct).ConfigureAwait(false);
            return;
        }
        await socket.SendAsync(headBytes, SocketFlags.None, ct).ConfigureAwait(false);
        var left = count;
        while (left > 0)
        {
            var n = (int)Math.Min(left, SendChunk);
            await socket.SendAsync(s_payload.AsMemory(0, n), SocketFlags.None, ct).ConfigureAwait(false);
            left -= n;
        }
    }

    private static async ValueTask SendTextAsync(Socket socket, int status, string body, bool close, CancellationToken ct)
    {
        var reason = status switch { 200 => "OK", 400 => "Bad Request", _ => "Not Found" };
        var text = $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n{(close ? "Connection: close\r\n" : "")}\r\n{body}";
        await socket.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, ct).ConfigureAwait(false);
    }
}

internal static class Payload
{
    /// <summary>Deterministic pseudo-random bytes (incompressible).</summary>
    public static byte[] Create(int size)
    {
        var b = new byte[size];
        new Random(0x5eed).NextBytes(b);
        return b;
    }
}

internal static class FreePorts
{
    /// <summary>Binds n sockets to 127.0.0.1:0 at once (so the ports differ), prints the ports, releases them.</summary>
    public static int Run(Args args)
    {
        var count = args.Int("count", 1);
        args.EnsureAllUsed();
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(s);
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }
            Console.WriteLine(string.Join(' ', sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port)));
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
        return 0;
    }
}
