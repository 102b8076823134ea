using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Bethrou.Bench.Socks;

/// <summary>
/// `delay`: a TCP forwarder that stands in for a wide-area link between a proxy's client and its exit. Every chunk
/// read from one side is held for --delay-ms before it is written to the other (each direction, order kept, chunks
/// pipelined), so a round trip through it costs at least twice the delay; there is no bandwidth cap. Prints
/// `listening &lt;ip&gt;:&lt;port&gt;` once bound, then forwards until killed. A close or reset on one side is passed on
/// after the bytes before it.
/// </summary>
internal static class DelayForwarder
{
    private const int ChunkSize = 256 * 1024;

    public static async Task<int> RunAsync(Args args)
    {
        var listen = Endpoints.ParseIPv4(args.Str("listen", "127.0.0.1:0"), "--listen", allowPortZero: true);
        var target = Endpoints.ParseIPv4(args.Str("target"), "--target", allowPortZero: false);
        var delayMs = args.Int("delay-ms");
        args.EnsureAllUsed();
        if (delayMs < 0)
        {
            throw new UsageException("--delay-ms must be 0 or more");
        }
        var delay = TimeSpan.FromMilliseconds(delayMs);
        using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(listen);
        listener.Listen(1024);
        Console.WriteLine($"listening {listener.LocalEndPoint}");
        Console.Out.Flush();
        while (true)
        {
            var inbound = await listener.AcceptAsync().ConfigureAwait(false);
            _ = Task.Run(() => ForwardAsync(inbound, target, delay));
        }
    }

    private static async Task ForwardAsync(Socket inbound, IPEndPoint target, TimeSpan delay)
    {
        using var a = inbound;
        using var b = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        a.NoDelay = true;
        b.NoDelay = true;
        try
        {
            await b.ConnectAsync(target).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            a.LingerState = new LingerOption(true, 0);
            return;
        }
        await Task.WhenAll(PumpAsync(a, b, delay), PumpAsync(b, a, delay)).ConfigureAwait(false);
    }

    /// <summary>One direction: a reader that stamps each chunk with its due time, a writer that sends it when due.</summary>
    private static async Task PumpAsync(Socket from, Socket to, TimeSpan delay)
    {
        // Each chunk holds its own buffer until sent; the channel is unbounded in count, bounded by what the sender
        // puts on the wire within one delay (the link's bandwidth-delay product), like a real long link.
        var queue = Channel.CreateUnbounded<(long Due, byte[]? Data, int Length)>(
            new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
        var writer = Task.Run(async () =>
        {
            var reset = false;
            await foreach (var (due, data, length) in queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                var remaining = due - Stopwatch.GetTimestamp();
                if (remaining > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency)).ConfigureAwait(false);
                }
                if (data is null)
                {
                    reset = length < 0;
                    break;
                }
                try
                {
                    await to.SendAsync(data.AsMemory(0, length)).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    reset = true;
                    break;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(data);
                }
            }
            try
            {
                if (reset)
                {
                    to.LingerState = new LingerOption(true, 0);
                    to.Close();
                }
                else
                {
                    to.Shutdown(SocketShutdown.Send);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        });
        var ended = 0; // 0: end of stream, -1: reset
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                var n = await from.ReceiveAsync(buffer).ConfigureAwait(false);
                if (n == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                queue.Writer.TryWrite((Stopwatch.GetTimestamp() + delayTicks, buffer, n));
            }
        }
        catch (SocketException)
        {
            ended = -1;
        }
        queue.Writer.TryWrite((Stopwatch.GetTimestamp() + delayTicks, null, ended));
        queue.Writer.Complete();
        await writer.ConfigureAwait(false);
    }
}
