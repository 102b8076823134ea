using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Bethrou.Proxy.Tunnel;

namespace Bethrou.Proxy.Exit;

/// <summary>How a tunnel ended. The first cause wins.</summary>
internal enum ExitPumpOutcome
{
    /// <summary>Both directions reached end of data (each side half-closed in turn).</summary>
    Completed,

    /// <summary>The libp2p stream failed (reset, or its consumer went away); the origin socket was reset.</summary>
    StreamFailed,

    /// <summary>The origin socket failed (RST, error); the stream was aborted.</summary>
    OriginFailed,

    /// <summary>The caller's token (shutdown) ended the tunnel; both sides were aborted.</summary>
    Canceled,
}

internal readonly record struct ExitPumpResult(ExitPumpOutcome Outcome, long BytesToOrigin, long BytesFromOrigin, Exception? Error);

/// <summary>
/// Copies bytes between a libp2p stream and an origin socket until both directions end.
/// Half-close both ways: end of the stream's input shuts down the socket's send side and the other direction
/// keeps going; end of the socket's receive side completes the stream's output (FIN) and the other direction
/// keeps going. There is no idle timeout. On any error both sides are aborted: the socket closes with RST, the
/// stream's pipes complete with the error and <c>abortStream</c> (e.g. a yamux reset) is invoked.
/// </summary>
internal sealed class ExitPump
{
    /// <summary>Receive buffer asked of the stream's writer; pooled pipes hand out at least this much.</summary>
    private const int ReceiveBufferSize = 16 * 1024;

    /// <summary>Receive buffer while few tunnels run: 4× fewer reads, flushes and muxer wake-ups per byte and larger
    /// Noise frames for a bulk download (bench/socks: ~14 KiB per read and ~25 KiB per send to the client with 16 KiB
    /// reads). Each such tunnel may hold one such buffer more than the stream's send buffer, hence the cap below.</summary>
    private const int LargeReceiveBufferSize = 64 * 1024;

    /// <summary>Up to this many running tunnels read <see cref="LargeReceiveBufferSize"/> at a time (at most 2 MiB
    /// extra in all); beyond it every tunnel reads <see cref="ReceiveBufferSize"/>, so 1,000 busy tunnels cost what
    /// they did before.</summary>
    private const int LargeReadTunnels = 32;

    private static int s_running;

    private readonly IDuplexPipe _stream;
    private readonly Socket _socket;
    private readonly Action? _abortStream;
    private readonly CancellationTokenSource _abort;
    private readonly GatherSender _sender;
    private readonly Action<int> _countToOrigin;
    private int _failed; // 0 running, 1 failed, 2 finished cleanly
    private ExitPumpOutcome _outcome = ExitPumpOutcome.Completed;
    private Exception? _error;
    private long _toOrigin;
    private long _fromOrigin;

    private ExitPump(IDuplexPipe stream, Socket socket, Action? abortStream, CancellationToken cancellationToken)
    {
        _stream = stream;
        _socket = socket;
        _abortStream = abortStream;
        _abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sender = new GatherSender(socket);
        _countToOrigin = n => Interlocked.Add(ref _toOrigin, n);
    }

    /// <summary>Runs the tunnel to its end; never throws. The socket is always disposed afterwards.</summary>
    public static async ValueTask<ExitPumpResult> RunAsync(
        IDuplexPipe stream, Socket socket, Action? abortStream, CancellationToken cancellationToken)
    {
        var pump = new ExitPump(stream, socket, abortStream, cancellationToken);
        Interlocked.Increment(ref s_running);
        using var registration = cancellationToken.Register(
            static p => ((ExitPump)p!).Fail(ExitPumpOutcome.Canceled, null), pump);
        try
        {
            var toOrigin = pump.StreamToSocketAsync();
            var fromOrigin = pump.SocketToStreamAsync();
            await Task.WhenAll(toOrigin, fromOrigin).ConfigureAwait(false);
            await pump.FinishAsync().ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref s_running);
            pump._abort.Dispose();
        }
        return new ExitPumpResult(pump._outcome, Interlocked.Read(ref pump._toOrigin), Interlocked.Read(ref pump._fromOrigin), pump._error);
    }

    private async Task StreamToSocketAsync()
    {
        var input = _stream.Input;
        var token = _abort.Token;
        var inSocket = false;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(token).ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    // Fail cancels pending reads; a cancel from anyone else also ends the tunnel as a failure.
                    Fail(ExitPumpOutcome.StreamFailed, new OperationCanceledException("reading the stream was canceled"));
                    return;
                }
                var buffer = result.Buffer;
                inSocket = true;
                await _sender.SendAllAsync(buffer, _countToOrigin, token).ConfigureAwait(false);
                inSocket = false;
                input.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
            inSocket = true;
            _socket.Shutdown(SocketShutdown.Send); // the client's FIN becomes the origin's FIN
        }
        catch (Exception ex)
        {
            Fail(inSocket ? ExitPumpOutcome.OriginFailed : ExitPumpOutcome.StreamFailed, ex);
        }
    }

    private async Task SocketToStreamAsync()
    {
        var output = _stream.Output;
        var token = _abort.Token;
        var inSocket = true;
        try
        {
            var busy = false;
            while (true)
            {
                inSocket = true;
                if (!busy)
                {
                    // Wait for data before taking a buffer, so idle tunnels hold no memory. Skipped while the origin
                    // is streaming (the last read filled its buffer): data is almost surely there already.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
                }
                var memory = output.GetMemory(Volatile.Read(ref s_running) <= LargeReadTunnels ? LargeReceiveBufferSize : ReceiveBufferSize);
                var received = await _socket.ReceiveAsync(memory, SocketFlags.None, token).ConfigureAwait(false);
                if (received == 0)
                {
                    break;
                }
                busy = received == memory.Length;
                inSocket = false;
                output.Advance(received);
                Interlocked.Add(ref _fromOrigin, received);
                var flush = await output.FlushAsync(token).ConfigureAwait(false);
                if (flush.IsCanceled)
                {
                    Fail(ExitPumpOutcome.StreamFailed, new OperationCanceledException("writing to the stream was canceled"));
                    return;
                }
                if (flush.IsCompleted)
                {
                    Fail(ExitPumpOutcome.StreamFailed, new IOException("the stream stopped accepting data"));
                    return;
                }
            }
            inSocket = false;
            await output.CompleteAsync().ConfigureAwait(false); // the origin's FIN becomes the client's FIN
        }
        catch (Exception ex)
        {
            Fail(inSocket ? ExitPumpOutcome.OriginFailed : ExitPumpOutcome.StreamFailed, ex);
        }
    }

    /// <summary>Records the first failure and unblocks both directions: cancel, RST the socket.</summary>
    private void Fail(ExitPumpOutcome outcome, Exception? error)
    {
        if (Interlocked.Exchange(ref _failed, 1) != 0)
        {
            return;
        }
        _outcome = outcome;
        _error = error;
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            _stream.Input.CancelPendingRead();
            _stream.Output.CancelPendingFlush();
        }
        catch (InvalidOperationException)
        {
            // A pipe end that is already completed has nothing pending.
        }
        ResetSocket();
    }

    private void ResetSocket()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    private async ValueTask FinishAsync()
    {
        // 2 = finished cleanly: a late cancellation must not reset a tunnel that has already ended.
        if (Interlocked.CompareExchange(ref _failed, 2, 0) == 0)
        {
            _socket.Dispose(); // both FINs already exchanged
            await _stream.Input.CompleteAsync().ConfigureAwait(false);
            await _stream.Output.CompleteAsync().ConfigureAwait(false);
            return;
        }
        var error = _error ?? new OperationCanceledException("the proxy tunnel was canceled");
        await _stream.Input.CompleteAsync(error).ConfigureAwait(false);
        await _stream.Output.CompleteAsync(error).ConfigureAwait(false);
        _abortStream?.Invoke();
    }
}
