using System.IO.Pipelines;
using System.Net.Sockets;

namespace Bethrou.Libp2p.Transport.Tcp;

/// <summary>
/// Turns a connected <see cref="Socket"/> into an <see cref="IDuplexPipe"/> with a receive loop and a send loop
/// (Kestrel's shape). Completing <see cref="Output"/> shuts down the socket's send side (TCP FIN); completing it with an
/// exception, or calling <see cref="Abort"/>, resets the connection. The first cause of shutdown is kept.
/// </summary>
public sealed class SocketPipe : IDuplexPipe, IAsyncDisposable
{
    private const int MinReadSize = 64 * 1024;

    // Continuations inline by default (IoScheduling): the receive loop runs pnet, Noise and yamux on its own thread,
    // and a writer's flush sends on the writer's thread. Neither loop holds a lock while it completes the pipe.
    // 1 MiB segments: the send loop makes one send per segment and the receive loop reads up to a segment at once, so
    // a bulk transfer costs a send and a receive per MiB, and wakes the other end about as rarely (single-stream echo
    // on the 2-core benchmark VM: 502-645 MB/s, median 602, against 442-581, median 504, with 256 KiB segments).
    // Idle connections hold no segment: the receive loop waits for data before it takes one (ReceiveLoopAsync).
    // The writer still pauses at 1 MiB unsent, so a slow link queues no more here, ahead of every other stream's
    // frames, than before. A 4 MiB pause was 1-9 % ahead on the loopback echo in 4 of 4 interleaved comparisons (2 MiB
    // mixed): within this VM's noise, and not worth 3 MiB more queue per connection.
    private const int SegmentSize = 1024 * 1024;
    private static readonly PipeOptions DefaultOptions = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        minimumSegmentSize: SegmentSize,
        readerScheduler: IoScheduling.PipeScheduler,
        writerScheduler: IoScheduling.PipeScheduler,
        useSynchronizationContext: false);

    private readonly Socket _socket;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly Task _receiveTask;
    private readonly Task _sendTask;
    private readonly CancellationTokenSource _closed = new();
    private Exception? _shutdownReason;
    private int _disposed;

    public SocketPipe(Socket socket, PipeOptions? options = null)
    {
        _socket = socket;
        _socket.NoDelay = true;
        var o = options ?? DefaultOptions;
        _inbound = new Pipe(o);
        _outbound = new Pipe(o);
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
    }

    public PipeReader Input => _inbound.Reader;

    public PipeWriter Output => _outbound.Writer;

    public Socket Socket => _socket;

    /// <summary>Signalled when both directions are done or the connection was aborted.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>The first recorded reason the connection ended (null for a clean close).</summary>
    public Exception? ShutdownReason => Volatile.Read(ref _shutdownReason);

    private async Task ReceiveLoopAsync()
    {
        await Task.Yield();
        Exception? error = null;
        var writer = _inbound.Writer;
        var drained = true;
        try
        {
            while (true)
            {
                if (drained)
                {
                    // Nothing left to read: wait for data with a zero-byte receive, so that a connection waiting for
                    // its peer does not hold a segment (a read that filled its buffer goes on without waiting).
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }
                var memory = writer.GetMemory(MinReadSize);
                var n = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                drained = n < memory.Length;
                writer.Advance(n);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException e)
        {
            error = SetShutdown(new ConnectionResetException($"tcp: receive failed: {e.SocketErrorCode}", e));
        }
        catch (ObjectDisposedException)
        {
            error = ShutdownReason;
        }
        catch (Exception e)
        {
            error = SetShutdown(e);
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
        CheckClosed();
    }

    private async Task SendLoopAsync()
    {
        await Task.Yield();
        Exception? error = null;
        var reader = _outbound.Reader;
        var aborted = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    break;
                }
                foreach (var segment in buffer)
                {
                    var remaining = segment;
                    while (!remaining.IsEmpty)
                    {
                        var sent = await _socket.SendAsync(remaining, SocketFlags.None).ConfigureAwait(false);
                        remaining = remaining[sent..];
                    }
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (InvalidOperationException) when (ShutdownReason is not null)
        {
            aborted = true;
        }
        catch (SocketException e)
        {
            error = SetShutdown(new ConnectionResetException($"tcp: send failed: {e.SocketErrorCode}", e));
            aborted = true;
        }
        catch (ObjectDisposedException)
        {
            aborted = true;
        }
        catch (Exception e)
        {
            // The application completed Output with an error: reset rather than FIN.
            error = SetShutdown(e);
            aborted = true;
        }
        if (!aborted)
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }
        else
        {
            ResetSocket();
        }
        await reader.CompleteAsync(error).ConfigureAwait(false);
        CheckClosed();
    }

    private Exception SetShutdown(Exception reason)
    {
        Interlocked.CompareExchange(ref _shutdownReason, reason, null);
        return _shutdownReason!;
    }

    private void ResetSocket()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
            _socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }
    }

    private void CheckClosed()
    {
        if (_receiveTask.IsCompleted && _sendTask.IsCompleted)
        {
            SafeCancel();
        }
        else if (ShutdownReason is not null)
        {
            SafeCancel();
        }
    }

    private void SafeCancel()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Aborts the connection with a reset; the reason becomes the shutdown cause if it is the first.</summary>
    public void Abort(Exception reason)
    {
        SetShutdown(reason);
        ResetSocket();
        _outbound.Reader.CancelPendingRead();
        SafeCancel();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        // Let queued bytes and the FIN go out (bounded), then close; the receive loop ends when the socket closes.
        await Task.WhenAny(_sendTask, Task.Delay(TimeSpan.FromSeconds(2), TimeProvider.System)).ConfigureAwait(false);
        _socket.Dispose();
        _outbound.Reader.CancelPendingRead();
        await Task.WhenAll(_receiveTask, _sendTask).ConfigureAwait(false);
        await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        _closed.Dispose();
    }
}

/// <summary>The remote reset the connection or it broke.</summary>
public sealed class ConnectionResetException(string message, Exception? inner = null) : IOException(message, inner);
