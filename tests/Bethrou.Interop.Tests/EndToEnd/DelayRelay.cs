using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Bethrou.Interop.Tests.EndToEnd;

/// <summary>
/// A TCP forwarder on 127.0.0.1:0 to 127.0.0.1:<c>targetPort</c> that holds every chunk for <see cref="Delay"/> in
/// each direction before passing it on (added latency, not a bandwidth cap: chunks are pipelined, order is kept).
/// A round trip through it therefore takes at least 2 × <see cref="Delay"/>. <see cref="Freeze"/> makes it a black hole.
/// </summary>
public sealed class DelayRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _acceptLoop;
    private readonly Lock _lock = new();
    private readonly List<Task> _pumps = [];
    private TaskCompletionSource? _thaw;

    public DelayRelay(int targetPort, TimeSpan delay)
    {
        _targetPort = targetPort;
        Delay = delay;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public TimeSpan Delay { get; }

    /// <summary>Stops passing bytes on (connections stay open, data is held): a hung peer or a silent partition.</summary>
    public void Freeze() => Volatile.Write(ref _thaw, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Passes the held bytes on and resumes.</summary>
    public void Thaw() => Interlocked.Exchange(ref _thaw, null)?.TrySetResult();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var inbound = await _listener.AcceptSocketAsync(_cts.Token);
                var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                inbound.NoDelay = true;
                try
                {
                    await outbound.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), _cts.Token);
                }
                catch (SocketException)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    continue;
                }
                lock (_lock)
                {
                    _pumps.Add(RunPairAsync(inbound, outbound));
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

    private async Task RunPairAsync(Socket a, Socket b)
    {
        using (a)
        using (b)
        {
            await Task.WhenAll(PumpAsync(a, b), PumpAsync(b, a));
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var token = _cts.Token;
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (due, data) in queue.Reader.ReadAllAsync(token))
                {
                    // Simulated latency (the point of this relay), not a wait for a condition. Timers may fire a
                    // little early and round to whole milliseconds, so re-check the monotonic clock until due.
                    TimeSpan wait;
                    while ((wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due)) > TimeSpan.Zero)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds)), token);
                    }
                    if (Volatile.Read(ref _thaw) is { } thaw)
                    {
                        await thaw.Task.WaitAsync(token);
                    }
                    await to.SendAsync(data, token);
                }
                to.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                from.Close(0);
                to.Close(0);
            }
        });
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer, token)) > 0)
            {
                var due = Stopwatch.GetTimestamp() + (long)(Delay.TotalSeconds * Stopwatch.Frequency);
                queue.Writer.TryWrite((due, buffer[..n]));
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            from.Close(0);
            to.Close(0);
        }
        queue.Writer.TryComplete();
        await writer;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        Task[] all;
        lock (_lock)
        {
            all = [_acceptLoop, .. _pumps];
        }
        await Task.WhenAll(all);
        _cts.Dispose();
    }
}
