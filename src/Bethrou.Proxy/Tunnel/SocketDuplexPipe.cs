using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Bethrou.Libp2p.Transport;

namespace Bethrou.Proxy.Tunnel;

/// <summary>
/// A connected stream <see cref="Socket"/> as an <see cref="IDuplexPipe"/>: a receive loop fills <see cref="Input"/>,
/// a send loop drains <see cref="Output"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Receive: optional zero-byte receive before renting a buffer (idle connections hold no memory), then big
/// receives straight into pipe memory; a FIN completes <see cref="Input"/> normally, a reset completes it with an
/// <see cref="IOException"/>.</item>
/// <item>Send: whole segments go to the socket. Completing <see cref="Output"/> normally sends what is buffered and
/// then shuts down the send side (FIN) while receiving goes on (half-close). Completing it with an exception
/// aborts the connection with a reset (linger 0).</item>
/// <item>The socket is closed once both loops have ended, on <see cref="Abort"/>, or on <see cref="DisposeAsync"/>.</item>
/// </list>
/// No per-operation allocations: socket operations return cached <see cref="ValueTask"/>s and the pipes pool memory.
/// </remarks>
public sealed class SocketDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly GatherSender _sender;
    private readonly GatherSender _directSender;
    private TaskCompletionSource? _drained;
    private readonly Pipe _receivePipe;
    private readonly Pipe _sendPipe;
    private readonly int _receiveSize;
    private readonly bool _waitForData;
    private readonly Lock _gate = new();
    private Exception? _abortReason;
    private volatile bool _closing;
    private bool _aborted;
    private int _started;
    private int _socketDisposed;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private Task _runTask = Task.CompletedTask;

    /// <param name="socket">A connected stream socket; this object owns it from now on.</param>
    /// <param name="options">Buffering options; null for <see cref="SocketDuplexPipeOptions.Default"/>.</param>
    public SocketDuplexPipe(Socket socket, SocketDuplexPipeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= SocketDuplexPipeOptions.Default;
        options.Validate();
        _socket = socket;
        _sender = new GatherSender(socket);
        _directSender = new GatherSender(socket);
        _receiveSize = options.ReceiveSize;
        _waitForData = options.WaitForDataBeforeAllocatingBuffer;
        if (options.NoDelay && socket.ProtocolType == ProtocolType.Tcp)
        {
            socket.NoDelay = true;
        }
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        _receivePipe = new Pipe(new PipeOptions(
            pool: options.MemoryPool,
            readerScheduler: options.ApplicationScheduler,
            writerScheduler: options.TransportScheduler,
            pauseWriterThreshold: options.MaxReceiveBufferSize,
            resumeWriterThreshold: options.MaxReceiveBufferSize / 2,
            minimumSegmentSize: options.ReceiveSize,
            useSynchronizationContext: false));
        _sendPipe = new Pipe(new PipeOptions(
            pool: options.MemoryPool,
            readerScheduler: options.TransportScheduler,
            writerScheduler: options.ApplicationScheduler,
            pauseWriterThreshold: options.MaxSendBufferSize,
            resumeWriterThreshold: options.MaxSendBufferSize / 2,
            minimumSegmentSize: options.ReceiveSize,
            useSynchronizationContext: false));
    }

    /// <summary>What the socket received.</summary>
    public PipeReader Input => _receivePipe.Reader;

    /// <summary>What the socket sends. Complete it to half-close; complete it with an exception to reset.</summary>
    public PipeWriter Output => _sendPipe.Writer;

    public Socket Socket => _socket;

    public EndPoint? LocalEndPoint { get; }

    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The reason given to <see cref="Abort"/> (or the application's error that caused it), if aborted.</summary>
    public Exception? AbortReason
    {
        get
        {
            lock (_gate)
            {
                return _abortReason;
            }
        }
    }

    /// <summary>Completes when both loops have ended and the socket is closed.</summary>
    public Task Completion => _runTask;

    /// <summary>Starts the receive and send loops.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The socket pipe is already started.");
        }
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
        _runTask = RunAsync();
    }

    /// <summary>Resets the connection (RST, linger 0) and completes both pipes with <paramref name="reason"/>.</summary>
    public void Abort(Exception? reason = null)
    {
        lock (_gate)
        {
            if (_aborted)
            {
                return;
            }
            _aborted = true;
            _abortReason = reason ?? new TunnelAbortedException("The connection was aborted.");
        }
        _closing = true;
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing to reset.
        }
        DisposeSocket();
        _receivePipe.Writer.CancelPendingFlush();
        _sendPipe.Reader.CancelPendingRead();
        if (Volatile.Read(ref _started) == 0)
        {
            _receivePipe.Writer.Complete(_abortReason);
            _sendPipe.Reader.Complete(_abortReason);
        }
    }

    /// <summary>
    /// Graceful close: completes <see cref="Output"/> and <see cref="Input"/> if the application has not, waits until
    /// buffered output is sent (then FIN), and closes the socket. Waiting on a peer that does not read is unbounded:
    /// call <see cref="Abort"/> to cut it short.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _started) == 0)
        {
            Abort();
            return;
        }
        _sendPipe.Writer.Complete();
        _receivePipe.Reader.Complete();
        await _sendTask.ConfigureAwait(false);
        _closing = true;
        DisposeSocket();
        await _runTask.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        await _receiveTask.ConfigureAwait(false);
        await _sendTask.ConfigureAwait(false);
        _closing = true;
        DisposeSocket();
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _receivePipe.Writer;
        Exception? error = null;
        try
        {
            var skipWait = false;
            while (true)
            {
                if (_waitForData && !skipWait)
                {
                    // Completes when data (or FIN) is available, without holding a buffer while idle.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }
                var memory = writer.GetMemory(_receiveSize);
                var received = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    break; // FIN
                }
                writer.Advance(received);
                skipWait = received == memory.Length;
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break; // The application stopped reading, or Abort.
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            error = ClosingError(ex, "receive");
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            error ??= AbortReason;
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _sendPipe.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception applicationError)
                {
                    // The application completed Output with an error: reset the connection.
                    Abort(applicationError);
                    error = applicationError;
                    break;
                }
                var drain = result.IsCanceled && !_closing ? Volatile.Read(ref _drained) : null;
                if (result.IsCanceled && drain is null)
                {
                    break; // Abort
                }
                var buffer = result.Buffer;
                try
                {
                    await _sender.SendAllAsync(buffer, null, CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
                // A drain request: everything written before it has now gone out (the canceled read returned all of
                // it); the caller sends directly from here on and only completes Output.
                drain?.TrySetResult();
                if (result.IsCompleted)
                {
                    // The application half-closed: FIN, keep receiving.
                    _socket.Shutdown(SocketShutdown.Send);
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            error = ClosingError(ex, "send");
            if (!_closing)
            {
                Abort(error); // The connection is broken; stop receiving too.
            }
        }
        catch (Exception ex)
        {
            error = ex;
            Abort(ex);
        }
        finally
        {
            error ??= AbortReason;
            Volatile.Read(ref _drained)?.TrySetResult(); // a direct sender waiting on us goes on and meets the error
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until every byte written to <see cref="Output"/> so far has been sent. After it, the caller may
    /// send with <see cref="SendDirectAsync"/> instead of writing to <see cref="Output"/> (it must then write nothing
    /// more there, only complete it): bytes then go from the caller's buffers to the socket with no copy and no hop
    /// through the send loop, in order after what was written before.</summary>
    internal Task DrainAsync()
    {
        // Inline scheduling: the caller goes on in the send loop once it has sent what was buffered (the loop only
        // waits for Output's completion after that).
        var drain = new TaskCompletionSource(IoScheduling.Inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _drained, drain, null) is not null)
        {
            throw new InvalidOperationException("The socket pipe is already drained for direct sends.");
        }
        _sendPipe.Reader.CancelPendingRead(); // wakes the send loop, which sends what is buffered and signals
        return drain.Task;
    }

    /// <summary>Sends <paramref name="buffer"/> on the socket now (after <see cref="DrainAsync"/>). Socket errors are
    /// the <see cref="IOException"/>s the send loop would report.</summary>
    internal async ValueTask SendDirectAsync(ReadOnlySequence<byte> buffer)
    {
        try
        {
            await _directSender.SendAllAsync(buffer, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            throw ClosingError(ex, "send") ?? new IOException("Socket send failed: the connection was aborted.", ex);
        }
    }

    private Exception? ClosingError(Exception ex, string operation)
    {
        if (_closing)
        {
            return AbortReason; // Our own Abort/DisposeAsync closed the socket.
        }
        return ex is SocketException se
            ? new IOException($"Socket {operation} failed: {se.SocketErrorCode} ({se.Message}).", se)
            : new IOException($"Socket {operation} failed: the socket was closed.", ex);
    }

    private void DisposeSocket()
    {
        if (Interlocked.Exchange(ref _socketDisposed, 1) == 0)
        {
            _socket.Dispose();
        }
    }
}
