using Bethrou.Libp2p.Transport;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>One yamux stream. <see cref="Output"/>.CompleteAsync() half-closes (a WindowUpdate|FIN frame of its own);
/// <see cref="Input"/> reports the peer's FIN as IsCompleted after all data. A reset (ours, the peer's, or the session
/// ending before the peer's FIN) makes reads and writes throw <see cref="StreamResetException"/>.</summary>
public sealed class YamuxStream : IDuplexPipe, IAsyncDisposable
{
    // _state bits
    private const int LocalFin = 1;     // our FIN was written to the transport
    private const int RemoteFin = 2;    // the peer's FIN arrived
    private const int ReadClosed = 4;   // the application completed Input
    private const int ResetBit = 8;     // RST either way, or session failure before both FINs
    private const int Removed = 16;     // taken out of the session's stream table

    // _pending bits (frames the write loop must emit)
    internal const int PendingSyn = 1;
    internal const int PendingAck = 2;
    internal const int PendingRst = 4;

    private readonly YamuxSession _session;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly StreamInput _input;
    private readonly StreamOutput _output;

    private readonly Lock _inLock = new();
    private YamuxReceiveWindow _window;
    private bool _inboundWriterDone;
    private bool _inboundDirty;
    private bool _discarding;

    private readonly Lock _outLock = new();
    private bool _outboundReaderDone;
    private long _sendWindow = YamuxOptions.SpecInitialWindow;

    // A direct write (Output.WriteAsync of a large buffer, Input.CopyToAsync into a stream): the application's own
    // memory, framed (and so encrypted) straight out of it by the write loop, after whatever the pipe holds; its task
    // completes once every byte is framed, when the application may reuse the memory. Under _outLock.
    private ReadOnlySequence<byte> _direct;
    private TaskCompletionSource<FlushResult>? _directDone;
    private CancellationTokenRegistration _directCancel;
    private readonly PipeScheduler _applicationScheduler;

    private int _pending;
    private long _pendingWindowDelta;
    private int _state;
    private volatile StreamResetException? _resetException;

    internal int Scheduled;

    internal YamuxStream(YamuxSession session, uint id, bool isOutbound, YamuxOptions options, PipeOptions inboundOptions, PipeOptions outboundOptions, long now)
    {
        _session = session;
        Id = id;
        IsOutbound = isOutbound;
        _inbound = new Pipe(inboundOptions);
        _outbound = new Pipe(outboundOptions);
        _input = new StreamInput(this, _inbound.Reader);
        _output = new StreamOutput(this, _outbound.Writer);
        _applicationScheduler = outboundOptions.WriterScheduler ?? PipeScheduler.ThreadPool;
        _window = new YamuxReceiveWindow(options.InitialStreamWindow, now);
        // The peer starts at the spec window; anything above it goes out with our SYN or ACK.
        _pendingWindowDelta = options.InitialStreamWindow - YamuxOptions.SpecInitialWindow;
    }

    /// <summary>The yamux stream id (odd for streams the client opened, even for the server's).</summary>
    public uint Id { get; }

    /// <summary>True for streams this side opened.</summary>
    public bool IsOutbound { get; }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;

    internal bool IsReset => (Volatile.Read(ref _state) & ResetBit) != 0;

    internal bool IsRemoved => (Volatile.Read(ref _state) & Removed) != 0;

    /// <summary>Current receive-window target (grows with auto-tuning); for tests and diagnostics.</summary>
    internal long ReceiveWindowTarget
    {
        get
        {
            lock (_inLock)
            {
                return _window.Target;
            }
        }
    }

    internal long SendWindow => Interlocked.Read(ref _sendWindow);

    /// <summary>Sends RST: both directions fail with <see cref="StreamResetException"/> here and at the peer.</summary>
    public void Reset()
    {
        var error = new StreamResetException(Id, StreamResetKind.Local, $"yamux: stream {Id} was reset locally");
        if (!TrySetReset(error))
        {
            return;
        }
        Interlocked.Or(ref _pending, PendingRst);
        _session.Schedule(this);
        FailPipes(error);
        _session.RemoveStream(this);
    }

    /// <summary>Half-closes the write side (FIN) and stops reading; the stream is released once the FIN is sent.</summary>
    public async ValueTask DisposeAsync()
    {
        await _output.CompleteAsync().ConfigureAwait(false);
        await _input.CompleteAsync().ConfigureAwait(false);
    }

    public override string ToString() => $"yamux stream {Id}";

    internal void SetPending(int bits) => Interlocked.Or(ref _pending, bits);

    /// <summary>A stream opened with its SYN held for the first write (OpenStreamAsync(synWithFirstWrite)) that is read
    /// first: the peer must learn of it now, or an answer it waits for never comes.</summary>
    private void SendSynIfHeld()
    {
        if ((Volatile.Read(ref _pending) & PendingSyn) != 0)
        {
            _session.Schedule(this);
        }
    }

    // ---------------------------------------------------------------- inbound (read loop side)

    internal enum DataAdmission
    {
        Accept,
        Discard,
        Overrun,
    }

    /// <summary>Read loop: a Data header of <paramref name="length"/> bytes arrived for this stream.</summary>
    internal DataAdmission BeginData(uint length, out long credit)
    {
        lock (_inLock)
        {
            credit = _window.Credit;
            if ((Volatile.Read(ref _state) & RemoteFin) != 0)
            {
                // Data after the peer's FIN: nothing can read it.
                _discarding = true;
                return DataAdmission.Discard;
            }
            if (!_window.TryReceive(length))
            {
                return DataAdmission.Overrun;
            }
            _discarding = _inboundWriterDone;
            if (_discarding)
            {
                // Reader closed: drop the bytes and do not grant them back (the peer stalls, as with go's CloseRead).
                _window.Forget(length);
            }
            return _discarding ? DataAdmission.Discard : DataAdmission.Accept;
        }
    }

    /// <summary>Read loop: part of a Data payload. Returns true when the stream needs a flush at the end of the batch.</summary>
    internal bool WriteInbound(in ReadOnlySequence<byte> chunk)
    {
        lock (_inLock)
        {
            if (_discarding || _inboundWriterDone)
            {
                return false;
            }
            var writer = _inbound.Writer;
            foreach (var segment in chunk)
            {
                writer.Write(segment.Span);
            }
            if (_inboundDirty)
            {
                return false;
            }
            _inboundDirty = true;
            return true;
        }
    }

    /// <summary>Read loop, direct transport: the next <paramref name="count"/> payload bytes are produced by
    /// <paramref name="source"/> straight into this stream's buffer (or dropped when nobody will read them). Returns
    /// true when the stream needs a flush at the end of the batch.</summary>
    internal bool ReadInbound(IDirectReader source, long count)
    {
        lock (_inLock)
        {
            if (_discarding || _inboundWriterDone)
            {
                source.Skip(count);
                return false;
            }
            var writer = _inbound.Writer;
            while (count > 0)
            {
                var memory = writer.GetMemory(1);
                var n = (int)Math.Min(memory.Length, count);
                source.Read(memory.Span[..n]);
                writer.Advance(n);
                count -= n;
            }
            if (_inboundDirty)
            {
                return false;
            }
            _inboundDirty = true;
            return true;
        }
    }

    /// <summary>Read loop: end of a batch; makes the buffered payload visible to the application.</summary>
    internal void FlushInbound()
    {
        lock (_inLock)
        {
            _inboundDirty = false;
            if (_inboundWriterDone)
            {
                return;
            }
            // pauseWriterThreshold is 0 (the window bounds the buffer), so this never waits.
            var flush = _inbound.Writer.FlushAsync();
            if (flush.IsCompleted)
            {
                flush.GetAwaiter().GetResult();
            }
            else
            {
                _session.Observe(flush.AsTask(), "inbound flush");
            }
        }
    }

    /// <summary>Read loop: WindowUpdate delta from the peer.</summary>
    internal void AddSendWindow(uint delta)
    {
        if (delta == 0)
        {
            return;
        }
        Interlocked.Add(ref _sendWindow, delta);
        _session.Schedule(this);
    }

    /// <summary>Read loop: the peer's FIN (after all data of its frame).</summary>
    internal void OnRemoteFin()
    {
        lock (_inLock)
        {
            if (!_inboundWriterDone)
            {
                _inboundWriterDone = true;
                _inboundDirty = false;
                _inbound.Writer.Complete();
            }
        }
        UpdateState(RemoteFin);
    }

    /// <summary>Read loop: the peer's RST.</summary>
    internal void OnRemoteReset()
    {
        var error = new StreamResetException(Id, StreamResetKind.Remote, $"yamux: stream {Id} was reset by the peer");
        if (!TrySetReset(error))
        {
            return;
        }
        FailPipes(error);
        _session.RemoveStream(this);
    }

    /// <summary>The session ended: whatever has not seen a FIN fails as a reset.</summary>
    internal void FailFromSession(Exception cause, string reason)
    {
        var state = Volatile.Read(ref _state);
        if ((state & (ResetBit | Removed)) != 0)
        {
            return;
        }
        var error = new StreamResetException(Id, StreamResetKind.SessionClosed,
            $"yamux: stream {Id} ended without FIN because the session closed ({reason})", cause);
        _resetException ??= error;
        Interlocked.Or(ref _state, ResetBit);
        FailPipes(error);
    }

    /// <summary>Refused before the application saw it (accept backlog already gone, session closing).</summary>
    internal void FailRefused(string why)
    {
        var error = new StreamResetException(Id, StreamResetKind.Refused, $"yamux: stream {Id} was refused: {why}");
        if (TrySetReset(error))
        {
            Interlocked.Or(ref _pending, PendingRst);
            _session.Schedule(this);
            FailPipes(error);
            _session.RemoveStream(this);
        }
    }

    // ---------------------------------------------------------------- application side of Input

    internal void OnConsumed(long count)
    {
        if (count <= 0)
        {
            return;
        }
        long delta;
        lock (_inLock)
        {
            if (_inboundWriterDone)
            {
                // FIN or reset already: the peer sends nothing more, no grant needed.
                return;
            }
            delta = _window.OnConsumed(count, _session.Time.GetTimestamp(), _session.Rtt, _session.Options.MaxStreamWindow, _session.Time);
        }
        if (delta > 0)
        {
            Interlocked.Add(ref _pendingWindowDelta, delta);
            _session.Schedule(this);
        }
    }

    internal void OnInputCompleted()
    {
        lock (_inLock)
        {
            if (!_inboundWriterDone)
            {
                _inboundWriterDone = true;
                _inboundDirty = false;
                _inbound.Writer.Complete();
            }
        }
        UpdateState(ReadClosed);
    }

    internal void ThrowIfReset()
    {
        var error = _resetException;
        if (error is not null)
        {
            throw error;
        }
    }

    // ---------------------------------------------------------------- outbound (write loop side)

    /// <summary>Write loop: emits pending control frames and up to <paramref name="budget"/> payload bytes (never more
    /// than the send window). Returns the bytes written to <paramref name="writer"/>.</summary>
    internal long WriteFrames(IBufferWriter<byte> writer, long budget, int maxFrame)
    {
        var pending = Interlocked.Exchange(ref _pending, 0);
        if ((pending & PendingRst) != 0)
        {
            // A stream whose SYN never went out is unknown to the peer: nothing to reset there.
            if ((pending & PendingSyn) == 0)
            {
                YamuxFrame.Write(writer, new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, Id, 0));
                return YamuxFrame.HeaderLength;
            }
            return 0;
        }
        if (IsReset)
        {
            return 0;
        }

        long written = 0;
        var flags = YamuxFlags.None;
        if ((pending & PendingSyn) != 0)
        {
            flags |= YamuxFlags.Syn;
        }
        if ((pending & PendingAck) != 0)
        {
            flags |= YamuxFlags.Ack;
        }
        var delta = Interlocked.Exchange(ref _pendingWindowDelta, 0);
        if (flags != YamuxFlags.None || delta != 0)
        {
            YamuxFrame.Write(writer, new YamuxHeader(YamuxFrameType.WindowUpdate, flags, Id, (uint)delta));
            written += YamuxFrame.HeaderLength;
        }

        var finished = false;
        TaskCompletionSource<FlushResult>? directDone = null;
        lock (_outLock)
        {
            if (_outboundReaderDone)
            {
                return written;
            }
            var reader = _outbound.Reader;
            var window = Interlocked.Read(ref _sendWindow);
            var allowed = Math.Min(window, budget);
            long sent = 0;
            long remaining = 0;
            var pipeCompleted = false;
            if (reader.TryRead(out var result))
            {
                var buffer = result.Buffer;
                var n = Math.Min(buffer.Length, allowed);
                sent = n;
                remaining = buffer.Length - n; // before AdvanceTo: it recycles the buffer's segments
                pipeCompleted = result.IsCompleted;
                reader.AdvanceTo(WriteData(writer, buffer, n, maxFrame, ref written));
            }
            if (remaining == 0 && !_direct.IsEmpty)
            {
                // What was written before the direct write has gone: frame the application's memory.
                var n = Math.Min(_direct.Length, allowed - sent);
                _direct = _direct.Slice(WriteData(writer, _direct, n, maxFrame, ref written));
                sent += n;
                remaining = _direct.Length;
                if (remaining == 0)
                {
                    directDone = TakeDirect();
                }
            }
            if (sent > 0)
            {
                Interlocked.Add(ref _sendWindow, -sent);
            }
            if (remaining == 0 && pipeCompleted)
            {
                YamuxFrame.Write(writer, new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, Id, 0));
                written += YamuxFrame.HeaderLength;
                _outboundReaderDone = true;
                reader.Complete();
                finished = true;
            }
            else if (remaining > 0 && sent == budget && window > sent)
            {
                // Budget used up but window left: come back after the other streams had their turn.
                _session.Schedule(this);
            }
        }
        if (directDone is not null)
        {
            CompleteDirect(directDone, null);
        }
        if (finished)
        {
            UpdateState(LocalFin);
        }
        return written;
    }

    /// <summary>Frames the first <paramref name="count"/> bytes of <paramref name="data"/> as Data frames of at most
    /// <paramref name="maxFrame"/> bytes; returns the position after them.</summary>
    private SequencePosition WriteData(IBufferWriter<byte> writer, in ReadOnlySequence<byte> data, long count, int maxFrame, ref long written)
    {
        var position = data.Start;
        long sent = 0;
        while (sent < count)
        {
            var frame = (int)Math.Min(count - sent, maxFrame);
            var payload = data.Slice(position, frame);
            YamuxFrame.WriteData(writer, Id, YamuxFlags.None, payload);
            position = payload.End;
            sent += frame;
            written += frame + YamuxFrame.HeaderLength;
        }
        return position;
    }

    // ---------------------------------------------------------------- direct writes (application side)

    /// <summary>Starts a direct write of <paramref name="data"/>, which the caller must leave untouched until the
    /// returned task completes. False (nothing started) when the bytes have to go through the pipe instead: bytes of
    /// the application's are unflushed there, a direct write is already under way, or the stream cannot send.</summary>
    internal bool TryWriteDirect(in ReadOnlySequence<byte> data, CancellationToken cancellationToken, out ValueTask<FlushResult> done)
    {
        done = default;
        if (cancellationToken.IsCancellationRequested || data.IsEmpty)
        {
            return false;
        }
        TaskCompletionSource<FlushResult> tcs;
        lock (_outLock)
        {
            if (_outboundReaderDone || _directDone is not null || _resetException is not null || _outbound.Writer.UnflushedBytes != 0)
            {
                return false; // nothing allocated for a write that goes the copying way
            }
            _direct = data;
            _directDone = tcs = new TaskCompletionSource<FlushResult>();
        }
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (stream, write) = ((YamuxStream, TaskCompletionSource<FlushResult>))state!;
                stream.CancelDirect(write, token);
            }, (this, tcs));
            lock (_outLock)
            {
                if (_directDone == tcs)
                {
                    _directCancel = registration;
                    registration = default;
                }
            }
            registration.Unregister(); // the write ended (or was canceled) before the registration was stored
        }
        _session.Schedule(this);
        done = new ValueTask<FlushResult>(tcs.Task);
        return true;
    }

    /// <summary>Under _outLock: ends the direct write (its bytes all framed, moved to the pipe, or dropped).</summary>
    private TaskCompletionSource<FlushResult>? TakeDirect()
    {
        var tcs = _directDone;
        _directDone = null;
        _direct = default;
        _directCancel.Unregister(); // never waits for a running callback (which may be waiting for _outLock)
        _directCancel = default;
        return tcs;
    }

    /// <summary>Completes a direct write's task the way the stream's pipes complete the application's awaits: deferred
    /// to the end of the loop's batch on its thread in inline scheduling, on the thread pool otherwise.</summary>
    private void CompleteDirect(TaskCompletionSource<FlushResult> tcs, Exception? error)
    {
        _applicationScheduler.Schedule(static state =>
        {
            var (tcs, error) = ((TaskCompletionSource<FlushResult>, Exception?))state!;
            if (error is null)
            {
                tcs.TrySetResult(new FlushResult(isCanceled: false, isCompleted: false));
            }
            else
            {
                tcs.TrySetException(error);
            }
        }, (tcs, error));
    }

    /// <summary>The direct write's token was canceled: what is not framed yet is copied into the pipe (so nothing of the
    /// application's is lost, as with a canceled flush) and the write throws <see cref="OperationCanceledException"/>.</summary>
    private void CancelDirect(TaskCompletionSource<FlushResult> write, CancellationToken token)
    {
        TaskCompletionSource<FlushResult>? tcs;
        lock (_outLock)
        {
            if (_directDone != write)
            {
                return; // that write already ended (a callback racing its end must not cancel the next one)
            }
            if (!_outboundReaderDone && !_direct.IsEmpty)
            {
                var writer = _outbound.Writer;
                foreach (var segment in _direct)
                {
                    writer.Write(segment.Span);
                }
                // Commits the bytes; a flush held back by the pipe's threshold is released at once instead of waited for.
                var flush = writer.FlushAsync(CancellationToken.None);
                if (!flush.IsCompleted)
                {
                    writer.CancelPendingFlush();
                }
                if (flush.IsCompleted)
                {
                    flush.GetAwaiter().GetResult();
                }
                else
                {
                    _session.Observe(flush.AsTask(), "canceled direct write");
                }
            }
            tcs = TakeDirect();
        }
        _session.Schedule(this);
        CompleteDirect(tcs!, new OperationCanceledException("yamux: the write was canceled; its bytes stay queued on the stream", token));
    }

    // ---------------------------------------------------------------- state

    private bool TrySetReset(StreamResetException error)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if ((state & (ResetBit | Removed)) != 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _state, state | ResetBit, state) == state)
            {
                _resetException = error;
                return true;
            }
        }
    }

    private void FailPipes(StreamResetException error)
    {
        lock (_inLock)
        {
            if (!_inboundWriterDone)
            {
                _inboundWriterDone = true;
                _inboundDirty = false;
                _inbound.Writer.Complete(error);
            }
        }
        TaskCompletionSource<FlushResult>? direct;
        lock (_outLock)
        {
            if (!_outboundReaderDone)
            {
                _outboundReaderDone = true;
                _outbound.Reader.Complete(error);
            }
            direct = TakeDirect();
        }
        if (direct is not null)
        {
            CompleteDirect(direct, error);
        }
    }

    private void UpdateState(int bits)
    {
        var state = Interlocked.Or(ref _state, bits) | bits;
        var done = (state & LocalFin) != 0 && (state & (RemoteFin | ReadClosed)) != 0;
        if (done && (state & Removed) == 0)
        {
            _session.RemoveStream(this);
        }
    }

    /// <summary>Marks the stream removed; true only for the first caller.</summary>
    internal bool TryMarkRemoved()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if ((state & Removed) != 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _state, state | Removed, state) == state)
            {
                return true;
            }
        }
    }

    // ---------------------------------------------------------------- pipe wrappers

    private sealed class StreamInput(YamuxStream stream, PipeReader inner) : PipeReader
    {
        private ReadOnlySequence<byte> _last;

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            var count = _last.IsEmpty ? 0 : _last.Slice(_last.Start, consumed).Length;
            _last = default;
            inner.AdvanceTo(consumed, examined);
            stream.OnConsumed(count);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        /// <summary>As <see cref="PipeReader.CopyToAsync(PipeWriter, CancellationToken)"/>, but each read's whole
        /// buffer is written before one flush. The base flushes per segment, and a stream's buffer is made of 16 KiB
        /// blocks: copied into another yamux stream or a transport, that became a frame, a Noise frame and a send per
        /// 16 KiB where one flush per read sends up to 64 KiB frames in one batch. Into another yamux stream, a read
        /// is framed straight out of this stream's buffer (a direct write) instead of being copied into that
        /// stream's.</summary>
        public override async Task CopyToAsync(PipeWriter destination, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(destination);
            while (true)
            {
                var result = await ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    AdvanceTo(buffer.Start);
                    throw new OperationCanceledException("The read was canceled.");
                }
                if (!buffer.IsEmpty && destination is StreamOutput output && output.TryWriteDirect(buffer, cancellationToken, out var direct))
                {
                    FlushResult written;
                    try
                    {
                        written = await direct.ConfigureAwait(false);
                    }
                    finally
                    {
                        // Framed, or (canceled) copied into the destination's pipe, or (reset) dropped with the stream.
                        AdvanceTo(buffer.End);
                    }
                    if (written.IsCompleted)
                    {
                        return;
                    }
                }
                else if (!buffer.IsEmpty)
                {
                    foreach (var segment in buffer)
                    {
                        destination.Write(segment.Span);
                    }
                    AdvanceTo(buffer.End);
                    var flush = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCanceled)
                    {
                        throw new OperationCanceledException("The flush was canceled.");
                    }
                    if (flush.IsCompleted)
                    {
                        return;
                    }
                }
                else
                {
                    AdvanceTo(buffer.End);
                }
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            stream.OnInputCompleted();
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            stream.SendSynIfHeld();
            var read = inner.ReadAsync(cancellationToken);
            if (read.IsCompletedSuccessfully)
            {
                var result = read.Result;
                _last = result.Buffer;
                return new ValueTask<ReadResult>(result);
            }
            return ReadSlowAsync(read);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> ReadSlowAsync(ValueTask<ReadResult> read)
        {
            var result = await read.ConfigureAwait(false);
            _last = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (inner.TryRead(out result))
            {
                _last = result.Buffer;
                return true;
            }
            return false;
        }
    }

    private sealed class StreamOutput(YamuxStream stream, PipeWriter inner) : PipeWriter
    {
        private bool _completed;

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes) => inner.Advance(bytes);

        /// <summary>Writes of at least a block go to the write loop straight from <paramref name="source"/>, which is
        /// framed (and encrypted) from there instead of being copied into the stream's buffer first; the call completes
        /// once every byte is framed, and the memory is the caller's again. So it waits for the peer's window, where
        /// a copying write could run up to StreamSendBufferSize ahead of it: two ends that each write more than the
        /// window before reading stall sooner than with copying writes. Smaller writes, and writes made while bytes
        /// from GetMemory/Advance are still unflushed, are copied as usual.</summary>
        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            if (source.Length >= YamuxBlockPool.DefaultBlockSize && TryWriteDirect(new ReadOnlySequence<byte>(source), cancellationToken, out var done))
            {
                return done;
            }
            return base.WriteAsync(source, cancellationToken);
        }

        internal bool TryWriteDirect(in ReadOnlySequence<byte> data, CancellationToken cancellationToken, out ValueTask<FlushResult> done)
        {
            done = default;
            return !_completed && stream.TryWriteDirect(data, cancellationToken, out done);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            if (_completed)
            {
                return;
            }
            _completed = true;
            if (exception is not null)
            {
                stream.Reset();
                inner.Complete();
                return;
            }
            inner.Complete();
            stream._session.Schedule(stream);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var error = stream._resetException;
            if (error is not null)
            {
                return ValueTask.FromException<FlushResult>(error);
            }
            var flush = inner.FlushAsync(cancellationToken);
            stream._session.Schedule(stream);
            return flush;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            stream.ThrowIfReset();
            return inner.GetMemory(sizeHint);
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            stream.ThrowIfReset();
            return inner.GetSpan(sizeHint);
        }
    }
}
