using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Threading.Channels;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Muxing.Yamux;

/// <summary>A yamux (<c>/yamux/1.0.0</c>) session over one secured connection. One read loop parses frames from
/// the transport and copies Data payloads straight into each stream's inbound pipe; one write loop batches frames
/// from all streams into the transport writer and flushes once per batch.</summary>
public sealed class YamuxSession : IAsyncDisposable
{
    public const string ProtocolId = "/yamux/1.0.0";

    private const int NotClosed = -1;
    private const int MaxPendingReplies = 1024;

    private readonly IDuplexPipe _transport;
    private readonly bool _isClient;
    private readonly ILogger _logger;
    private readonly PipeOptions _inboundOptions;
    private readonly PipeOptions _outboundOptions;
    private readonly uint _maxDataLength;
    private readonly long _quantum;

    // streams
    private readonly Lock _streamsLock = new();
    private readonly Dictionary<uint, YamuxStream> _streams = [];
    private long _nextStreamId;
    private int _inboundCount;
    private int _outboundCount;
    private int _acceptQueued;
    private bool _closing;
    private volatile bool _remoteGoAway;
    // Inline scheduling: the accept loop's continuation runs in the read loop's TryWrite (no lock is held there).
    private readonly Channel<YamuxStream> _accept = Channel.CreateUnbounded<YamuxStream>(new UnboundedChannelOptions
    {
        SingleWriter = true,
        SingleReader = false,
        AllowSynchronousContinuations = IoScheduling.Inline,
    });

    // write loop
    private readonly ConcurrentQueue<YamuxStream> _ready = new();
    private readonly Lock _controlLock = new();
    private readonly Queue<YamuxHeader> _control = new();
    private readonly AsyncSignal _signal = new(inline: IoScheduling.Inline);

    // pings
    private readonly Lock _pingLock = new();
    private readonly Dictionary<uint, PendingPing> _pings = [];
    private uint _nextPingId;
    private long _keepAlivePingId = -1;
    private bool _pingsClosed;
    private long _rttTicks;
    private ITimer? _keepAliveTimer;
    private ITimer? _pingTimeoutTimer;

    // close
    private readonly Lock _closeLock = new();
    private int _closeReason = NotClosed;
    private Exception? _closeException;
    private int _goAwayCode = -1;
    private readonly CancellationTokenSource _closedCts = new();
    private int _started;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;

    // read loop state (read loop only)
    private YamuxStream? _frameStream;  // receives the payload of the current Data frame (null: discard)
    private YamuxStream? _flagStream;   // gets the FIN/RST of the current frame once its payload is in
    private YamuxFlags _frameFlags;
    private long _frameRemaining;
    private readonly byte[] _headerBuffer = new byte[YamuxFrame.HeaderLength]; // direct reads: a header in pieces
    private int _headerFill;
    private YamuxStream? _lastFound;
    private readonly List<YamuxStream> _dirty = [];

    public YamuxSession(IDuplexPipe transport, bool isClient, YamuxOptions options, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _transport = transport;
        _isClient = isClient;
        Options = options.Clone();
        _logger = logger;
        Time = time;
        _nextStreamId = isClient ? 1 : 2;
        _maxDataLength = (uint)Options.MaxStreamWindow;
        _quantum = Math.Max(Options.MaxDataFrameSize, YamuxOptions.SpecInitialWindow);
        // Stream pipes are completed by the loops while they hold the stream's lock (FlushInbound, WriteFrames): in
        // inline scheduling the application's continuations are deferred to the end of the loop's batch and run there,
        // on the loop's thread (DeferredInlineScheduler); otherwise they go to the thread pool.
        var applicationScheduler = IoScheduling.Inline ? DeferredInlineScheduler.Instance : PipeScheduler.ThreadPool;
        // Inbound: the receive window bounds what is buffered, so the read loop never waits on a stream.
        _inboundOptions = new PipeOptions(
            pool: YamuxBlockPool.Instance,
            readerScheduler: applicationScheduler,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            resumeWriterThreshold: 0,
            minimumSegmentSize: YamuxBlockPool.DefaultBlockSize,
            useSynchronizationContext: false);
        // Outbound: the application may run ahead of the send window by StreamSendBufferSize bytes.
        _outboundOptions = new PipeOptions(
            pool: YamuxBlockPool.Instance,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: applicationScheduler,
            pauseWriterThreshold: Options.StreamSendBufferSize,
            resumeWriterThreshold: Options.StreamSendBufferSize / 2,
            minimumSegmentSize: YamuxBlockPool.DefaultBlockSize,
            useSynchronizationContext: false);
    }

    /// <summary>Cancelled when the session has ended (after <see cref="CloseReason"/> is set).</summary>
    public CancellationToken Closed => _closedCts.Token;

    /// <summary>Why the session ended (the first cause), or null while it is open.</summary>
    public SessionCloseReason? CloseReason
    {
        get
        {
            var value = Volatile.Read(ref _closeReason);
            return value == NotClosed ? null : (SessionCloseReason)value;
        }
    }

    /// <summary>The error behind <see cref="CloseReason"/> (null for a clean local close).</summary>
    public Exception? CloseException => Volatile.Read(ref _closeReason) == NotClosed ? null : _closeException;

    public bool IsClient => _isClient;

    /// <summary>Streams in the session's table (open, half-closed, or not yet accepted).</summary>
    public int OpenStreamCount
    {
        get
        {
            lock (_streamsLock)
            {
                return _streams.Count;
            }
        }
    }

    /// <summary>Latest ping round-trip time, or null before the first answer.</summary>
    public TimeSpan? LastRtt
    {
        get
        {
            var ticks = Volatile.Read(ref _rttTicks);
            return ticks == 0 ? null : TimeSpan.FromTicks(ticks);
        }
    }

    internal YamuxOptions Options { get; }

    internal TimeProvider Time { get; }

    /// <summary>RTT for window auto-tuning; zero when unknown.</summary>
    internal TimeSpan Rtt => TimeSpan.FromTicks(Volatile.Read(ref _rttTicks));

    internal void SetRttForTesting(TimeSpan rtt) => Volatile.Write(ref _rttTicks, rtt.Ticks);

    /// <summary>Starts the read and write loops (and the keepalive timer with an initial RTT ping).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The yamux session is already started.");
        }
        _writeLoop = Task.Run(WriteLoopAsync);
        _readLoop = Task.Run(ReadLoopAsync);
        YamuxLog.SessionStarted(_logger, _isClient);
        if (Options.EnableKeepAlive)
        {
            _pingTimeoutTimer = Time.CreateTimer(static s => ((YamuxSession)s!).OnPingTimeout(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _keepAliveTimer = Time.CreateTimer(static s => ((YamuxSession)s!).SendKeepAlivePing(), this, Options.KeepAliveInterval, Options.KeepAliveInterval);
            SendKeepAlivePing();
        }
        if (CloseReason is not null)
        {
            // Closed before or during Start: make sure the timers do not outlive it.
            DisposeTimers();
        }
    }

    /// <summary>Opens a stream: a WindowUpdate|SYN goes out at once; data may follow before the peer's ACK.</summary>
    public ValueTask<YamuxStream> OpenStreamAsync(CancellationToken cancellationToken) => OpenStreamAsync(synWithFirstWrite: false, cancellationToken);

    /// <summary>Opens a stream. With <paramref name="synWithFirstWrite"/> the SYN does not go out on its own: it rides
    /// with the stream's first flush (or its completion, or reset), or goes when the application first reads the
    /// stream, so a stream opened and written at once costs the peer one frame batch, not two. For protocols where the
    /// opener speaks first (every libp2p protocol: multistream-select starts with the opener's header).</summary>
    public ValueTask<YamuxStream> OpenStreamAsync(bool synWithFirstWrite, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<YamuxStream>(cancellationToken);
        }
        YamuxStream stream;
        lock (_streamsLock)
        {
            if (_closing)
            {
                return ValueTask.FromException<YamuxStream>(new YamuxSessionClosedException(
                    $"yamux: cannot open a stream, the session is closed ({CloseReason})", CloseException));
            }
            if (_remoteGoAway)
            {
                return ValueTask.FromException<YamuxStream>(new YamuxSessionClosedException(
                    "yamux: cannot open a stream, the peer sent GoAway"));
            }
            if (_outboundCount >= Options.MaxOutboundStreams)
            {
                return ValueTask.FromException<YamuxStream>(new YamuxStreamLimitException(
                    $"yamux: cannot open a stream, {_outboundCount} outbound streams are open (MaxOutboundStreams {Options.MaxOutboundStreams})"));
            }
            if (_nextStreamId > uint.MaxValue)
            {
                return ValueTask.FromException<YamuxStream>(new YamuxStreamLimitException(
                    "yamux: cannot open a stream, the stream id space is used up"));
            }
            var id = (uint)_nextStreamId;
            _nextStreamId += 2;
            stream = new YamuxStream(this, id, isOutbound: true, Options, _inboundOptions, _outboundOptions, Time.GetTimestamp());
            stream.SetPending(YamuxStream.PendingSyn);
            _streams.Add(id, stream);
            _outboundCount++;
        }
        if (!synWithFirstWrite)
        {
            Schedule(stream);
        }
        return ValueTask.FromResult(stream);
    }

    /// <summary>Next inbound stream (its ACK goes out now), or null once the session is closed.</summary>
    public async ValueTask<YamuxStream?> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        var reader = _accept.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var stream))
            {
                Interlocked.Decrement(ref _acceptQueued);
                if (stream.IsReset)
                {
                    continue;
                }
                stream.SetPending(YamuxStream.PendingAck);
                Schedule(stream);
                return stream;
            }
        }
        return null;
    }

    /// <summary>Sends a ping and returns the round-trip time when the matching ACK arrives.</summary>
    public async ValueTask<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        uint id;
        lock (_pingLock)
        {
            if (_pingsClosed)
            {
                throw new YamuxSessionClosedException($"yamux: cannot ping, the session is closed ({CloseReason})", CloseException);
            }
            id = NextPingIdLocked();
            _pings.Add(id, new PendingPing(Time.GetTimestamp(), completion));
        }
        EnqueueControl(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, id));
        using var registration = cancellationToken.Register(() =>
        {
            lock (_pingLock)
            {
                _pings.Remove(id);
            }
            completion.TrySetCanceled(cancellationToken);
        });
        return await completion.Task.ConfigureAwait(false);
    }

    /// <summary>Sends GoAway(0), completes the transport output and fails every open stream.</summary>
    public async ValueTask CloseAsync()
    {
        Shutdown(SessionCloseReason.LocalClose, null, (int)YamuxGoAwayCode.Normal, fromReadLoop: false);
        await WaitForLoopsAsync().ConfigureAwait(false);
    }

    /// <summary>Tears the session down at once (no GoAway), recording <paramref name="cause"/>.</summary>
    public void Abort(Exception cause)
    {
        ArgumentNullException.ThrowIfNull(cause);
        if (Shutdown(SessionCloseReason.Aborted, cause, -1, fromReadLoop: false) && Volatile.Read(ref _started) != 0)
        {
            try
            {
                _transport.Output.CancelPendingFlush();
            }
            catch (InvalidOperationException)
            {
                // The writer is already completed.
            }
        }
    }

    public ValueTask DisposeAsync() => CloseAsync();

    // ====================================================================== internals used by streams

    internal void Schedule(YamuxStream stream)
    {
        if (Interlocked.Exchange(ref stream.Scheduled, 1) == 0)
        {
            _ready.Enqueue(stream);
            _signal.Set();
        }
    }

    internal void RemoveStream(YamuxStream stream)
    {
        if (!stream.TryMarkRemoved())
        {
            return;
        }
        lock (_streamsLock)
        {
            if (_streams.Remove(stream.Id))
            {
                if (stream.IsOutbound)
                {
                    _outboundCount--;
                }
                else
                {
                    _inboundCount--;
                }
            }
        }
    }

    internal void Observe(Task task, string what)
    {
        _ = task.ContinueWith(
            static (t, state) =>
            {
                var (logger, name) = ((ILogger, string))state!;
                YamuxLog.LoopFault(logger, name, t.Exception!.GetBaseException());
            },
            (_logger, what),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void EnqueueControl(in YamuxHeader header)
    {
        lock (_controlLock)
        {
            _control.Enqueue(header);
        }
        _signal.Set();
    }

    /// <summary>Queues a frame sent in reaction to the peer (pong, refusal RST). A peer that floods them while not
    /// reading our output could grow the queue without bound, so past <see cref="MaxPendingReplies"/> they are
    /// dropped.</summary>
    private void EnqueueReply(in YamuxHeader header)
    {
        lock (_controlLock)
        {
            if (_control.Count >= MaxPendingReplies)
            {
                YamuxLog.ReplyDropped(_logger, header.Type, header.Flags, header.StreamId);
                return;
            }
            _control.Enqueue(header);
        }
        _signal.Set();
    }

    // ====================================================================== read loop

    /// <summary>Reads frames until the transport ends, fails or the session closes. Over a transport that produces
    /// bytes where they are wanted (Noise as an <see cref="IDirectReader"/>) headers are read into a 12-byte buffer and
    /// payloads straight into their streams' buffers, so each byte is written once; otherwise frames are parsed from
    /// the transport's PipeReader and payloads copied.</summary>
    private async Task ReadLoopAsync()
    {
        var input = _transport.Input;
        var direct = input is IDirectReader { CanReadDirect: true } d ? d : null;
        var reason = SessionCloseReason.RemoteClosed;
        Exception? error = null;
        var protocolStop = false;
        try
        {
            while (true)
            {
                bool ok, completed, canceled;
                long missing;
                if (direct is not null)
                {
                    var result = await direct.WaitAsync().ConfigureAwait(false);
                    using (DeferredInlineScheduler.Defer())
                    {
                        ok = ProcessFrames(direct);
                        FlushDirty();
                    }
                    (completed, canceled) = (result.IsCompleted, result.IsCanceled);
                    missing = _frameRemaining > 0 ? _frameRemaining : (_headerFill > 0 ? YamuxFrame.HeaderLength - _headerFill : 0);
                }
                else
                {
                    var result = await input.ReadAsync().ConfigureAwait(false);
                    var buffer = result.Buffer;
                    using (DeferredInlineScheduler.Defer())
                    {
                        ok = ProcessFrames(ref buffer);
                        FlushDirty();
                        input.AdvanceTo(buffer.Start, buffer.End);
                    }
                    (completed, canceled) = (result.IsCompleted, result.IsCanceled);
                    missing = _frameRemaining > 0 ? _frameRemaining : (buffer.IsEmpty ? 0 : YamuxFrame.HeaderLength - buffer.Length);
                }
                if (!ok)
                {
                    protocolStop = true;
                    break;
                }
                if (canceled || CloseReason is not null)
                {
                    break;
                }
                if (completed)
                {
                    if (missing > 0)
                    {
                        YamuxLog.TruncatedFrame(_logger, missing);
                        error = new IOException($"yamux: the connection ended inside a frame ({missing} bytes missing)");
                    }
                    if (_remoteGoAway)
                    {
                        reason = SessionCloseReason.RemoteGoAway;
                    }
                    error ??= new YamuxSessionClosedException(_remoteGoAway
                        ? "yamux: the peer sent GoAway and closed the connection"
                        : "yamux: the peer closed the connection");
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            reason = SessionCloseReason.TransportError;
            error = ex;
        }
        finally
        {
            try
            {
                await input.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                YamuxLog.TransportCompleteFailed(_logger, "input", ex);
            }
        }
        if (!protocolStop)
        {
            Shutdown(reason, error ?? new YamuxSessionClosedException("yamux: the session read loop stopped"), -1, fromReadLoop: true);
        }
    }

    private void FlushDirty()
    {
        foreach (var stream in _dirty)
        {
            stream.FlushInbound();
        }
        _dirty.Clear();
    }

    /// <summary>Direct-read twin of <see cref="ProcessFrames(ref ReadOnlySequence{byte})"/>: consumes everything
    /// <paramref name="source"/> has available.</summary>
    private bool ProcessFrames(IDirectReader source)
    {
        while (source.Available > 0)
        {
            if (_frameRemaining > 0)
            {
                var take = Math.Min(_frameRemaining, source.Available);
                if (_frameStream is null)
                {
                    source.Skip(take);
                }
                else if (_frameStream.ReadInbound(source, take))
                {
                    _dirty.Add(_frameStream);
                }
                _frameRemaining -= take;
                if (_frameRemaining > 0)
                {
                    return true;
                }
                EndFrame();
                continue;
            }

            var n = (int)Math.Min(YamuxFrame.HeaderLength - _headerFill, source.Available);
            source.Read(_headerBuffer.AsSpan(_headerFill, n));
            _headerFill += n;
            if (_headerFill < YamuxFrame.HeaderLength)
            {
                return true;
            }
            _headerFill = 0;
            var buffer = new ReadOnlySequence<byte>(_headerBuffer);
            var status = YamuxFrame.TryRead(ref buffer, _maxDataLength, out var header);
            if (!OnHeader(status, header))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Parses every complete header in <paramref name="buffer"/> and moves Data payloads (also partial
    /// ones) into their streams. Returns false after a protocol error (the session is already shut down).</summary>
    private bool ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_frameRemaining > 0)
            {
                if (buffer.IsEmpty)
                {
                    return true;
                }
                var take = Math.Min(_frameRemaining, buffer.Length);
                if (_frameStream is not null && _frameStream.WriteInbound(buffer.Slice(0, take)))
                {
                    _dirty.Add(_frameStream);
                }
                buffer = buffer.Slice(take);
                _frameRemaining -= take;
                if (_frameRemaining > 0)
                {
                    return true;
                }
                EndFrame();
                continue;
            }

            var status = YamuxFrame.TryRead(ref buffer, _maxDataLength, out var header);
            if (status == YamuxReadStatus.NeedMoreData)
            {
                return true;
            }
            if (!OnHeader(status, header))
            {
                return false;
            }
        }
    }

    /// <summary>A whole header was read: starts its frame (and ends it at once when it carries no payload). False
    /// after a protocol error.</summary>
    private bool OnHeader(YamuxReadStatus status, in YamuxHeader header)
    {
        if (status != YamuxReadStatus.Ok)
        {
            ProtocolError(YamuxFrame.DescribeError(status, header, _maxDataLength));
            return false;
        }
        if (!BeginFrame(header))
        {
            return false;
        }
        if (_frameRemaining == 0)
        {
            EndFrame();
        }
        return true;
    }

    private bool BeginFrame(in YamuxHeader header)
    {
        _frameStream = null;
        _flagStream = null;
        _frameRemaining = 0;
        switch (header.Type)
        {
            case YamuxFrameType.Ping:
                HandlePing(header);
                return true;
            case YamuxFrameType.GoAway:
                return HandleGoAway(header);
        }

        YamuxStream? stream;
        if ((header.Flags & YamuxFlags.Syn) != 0)
        {
            if (!TryAcceptSyn(header.StreamId, out stream))
            {
                return false;
            }
        }
        else
        {
            stream = Find(header.StreamId);
        }

        var isData = header.Type == YamuxFrameType.Data;
        if (stream is null)
        {
            if ((header.Flags & YamuxFlags.Syn) == 0)
            {
                YamuxLog.UnknownStreamFrame(_logger, header.StreamId, header.Type, header.Flags, header.Length);
            }
            _frameRemaining = isData ? header.Length : 0;
            return true;
        }

        if (!isData)
        {
            // go-yamux v5 puts an error code in the length of an RST WindowUpdate: not a window delta.
            if ((header.Flags & YamuxFlags.Rst) == 0)
            {
                stream.AddSendWindow(header.Length);
            }
        }
        else if (header.Length > 0)
        {
            switch (stream.BeginData(header.Length, out var credit))
            {
                case YamuxStream.DataAdmission.Overrun:
                    ProtocolError($"yamux: stream {header.StreamId} exceeded its receive window ({header.Length} > {credit})");
                    return false;
                case YamuxStream.DataAdmission.Accept:
                    _frameStream = stream;
                    break;
            }
            _frameRemaining = header.Length;
        }
        _flagStream = stream;
        _frameFlags = header.Flags;
        return true;
    }

    private void EndFrame()
    {
        var stream = _flagStream;
        _frameStream = null;
        _flagStream = null;
        if (stream is null)
        {
            return;
        }
        if ((_frameFlags & YamuxFlags.Rst) != 0)
        {
            YamuxLog.RemoteReset(_logger, stream.Id);
            stream.OnRemoteReset();
        }
        else if ((_frameFlags & YamuxFlags.Fin) != 0)
        {
            stream.OnRemoteFin();
        }
    }

    private YamuxStream? Find(uint id)
    {
        var last = _lastFound;
        if (last is not null && last.Id == id && !last.IsRemoved)
        {
            return last;
        }
        lock (_streamsLock)
        {
            if (_streams.TryGetValue(id, out var stream))
            {
                _lastFound = stream;
                return stream;
            }
        }
        return null;
    }

    private bool TryAcceptSyn(uint id, out YamuxStream? stream)
    {
        stream = null;
        var odd = (id & 1) == 1;
        // The client opens odd ids, the server even ones; the peer has the other role.
        if (odd == _isClient)
        {
            var role = _isClient ? "clients" : "servers";
            ProtocolError($"yamux: peer opened stream {id} with an {(odd ? "odd" : "even")} id reserved for this side (both endpoints are {role})");
            return false;
        }

        string? refused = null;
        var duplicate = false;
        lock (_streamsLock)
        {
            if (_streams.ContainsKey(id))
            {
                duplicate = true;
            }
            else if (_closing)
            {
                refused = "the session is going away";
            }
            else if (_inboundCount >= Options.MaxInboundStreams)
            {
                refused = $"MaxInboundStreams ({Options.MaxInboundStreams}) reached";
            }
            else if (Volatile.Read(ref _acceptQueued) >= Options.AcceptBacklog)
            {
                refused = $"accept backlog ({Options.AcceptBacklog}) is full";
            }
            else
            {
                stream = new YamuxStream(this, id, isOutbound: false, Options, _inboundOptions, _outboundOptions, Time.GetTimestamp());
                _streams.Add(id, stream);
                _inboundCount++;
                Interlocked.Increment(ref _acceptQueued);
            }
        }
        if (duplicate)
        {
            ProtocolError($"yamux: peer sent SYN for stream {id}, which is already open");
            return false;
        }
        if (refused is not null)
        {
            YamuxLog.InboundStreamRefused(_logger, id, refused);
            EnqueueReply(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, id, 0));
            return true;
        }
        if (!_accept.Writer.TryWrite(stream!))
        {
            // The session closed between the check and here; Shutdown already failed the stream.
            Interlocked.Decrement(ref _acceptQueued);
        }
        return true;
    }

    private void HandlePing(in YamuxHeader header)
    {
        if ((header.Flags & YamuxFlags.Syn) != 0)
        {
            // Echo the opaque value. Only ever in answer to a SYN: js kills the session on unsolicited ACKs.
            EnqueueReply(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, header.Length));
            return;
        }
        if ((header.Flags & YamuxFlags.Ack) == 0)
        {
            return;
        }
        PendingPing pending;
        lock (_pingLock)
        {
            if (!_pings.Remove(header.Length, out pending))
            {
                YamuxLog.UnsolicitedPingAck(_logger, header.Length);
                return;
            }
            if (_keepAlivePingId == header.Length)
            {
                _keepAlivePingId = -1;
            }
        }
        var rtt = Time.GetElapsedTime(pending.Start);
        Volatile.Write(ref _rttTicks, Math.Max(rtt.Ticks, 1));
        YamuxLog.PingRtt(_logger, rtt);
        pending.Completion?.TrySetResult(rtt);
    }

    private bool HandleGoAway(in YamuxHeader header)
    {
        YamuxLog.RemoteGoAway(_logger, header.Length);
        if (header.Length == (uint)YamuxGoAwayCode.Normal)
        {
            // No new streams; the existing ones may finish (js closes the transport right after).
            _remoteGoAway = true;
            return true;
        }
        var name = header.Length switch
        {
            (uint)YamuxGoAwayCode.ProtocolError => "protocol error",
            (uint)YamuxGoAwayCode.InternalError => "internal error",
            _ => "unknown code",
        };
        Shutdown(SessionCloseReason.RemoteError, new YamuxProtocolException($"yamux: peer sent GoAway({header.Length}, {name})"), -1, fromReadLoop: true);
        return false;
    }

    private void ProtocolError(string message)
    {
        YamuxLog.ProtocolError(_logger, message);
        Shutdown(SessionCloseReason.ProtocolError, new YamuxProtocolException(message), (int)YamuxGoAwayCode.ProtocolError, fromReadLoop: true);
    }

    // ====================================================================== write loop

    private async Task WriteLoopAsync()
    {
        var output = _transport.Output;
        var transportOpen = true;
        try
        {
            while (transportOpen && CloseReason is null)
            {
                await _signal.WaitAsync().ConfigureAwait(false);
                while (CloseReason is null)
                {
                    long written;
                    // Writers that WriteFrames frees (under the stream's lock) resume when the batch is framed.
                    using (DeferredInlineScheduler.Defer())
                    {
                        written = DrainControl(output);
                        while (written < Options.MaxWriteBatch && _ready.TryDequeue(out var stream))
                        {
                            Volatile.Write(ref stream.Scheduled, 0);
                            written += stream.WriteFrames(output, Math.Min(_quantum, Options.MaxWriteBatch - written), Options.MaxDataFrameSize);
                        }
                    }
                    if (written == 0)
                    {
                        break;
                    }
                    var flush = await output.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        transportOpen = false;
                        Shutdown(SessionCloseReason.RemoteClosed, new YamuxSessionClosedException("yamux: the transport stopped accepting data"), -1, fromReadLoop: false);
                        break;
                    }
                    if (flush.IsCanceled)
                    {
                        transportOpen = false;
                        break;
                    }
                }
            }
            var code = Volatile.Read(ref _goAwayCode);
            if (transportOpen && code >= 0)
            {
                YamuxFrame.Write(output, new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)code));
                await output.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            Shutdown(SessionCloseReason.TransportError, ex, -1, fromReadLoop: false);
        }
        finally
        {
            try
            {
                await output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                YamuxLog.TransportCompleteFailed(_logger, "output", ex);
            }
        }
    }

    private long DrainControl(PipeWriter output)
    {
        long written = 0;
        lock (_controlLock)
        {
            while (_control.TryDequeue(out var header))
            {
                YamuxFrame.Write(output, header);
                written += YamuxFrame.HeaderLength;
            }
        }
        return written;
    }

    // ====================================================================== keepalive

    private uint NextPingIdLocked()
    {
        while (_pings.ContainsKey(_nextPingId))
        {
            _nextPingId++;
        }
        return _nextPingId++;
    }

    private void SendKeepAlivePing()
    {
        try
        {
            uint id;
            lock (_pingLock)
            {
                if (_pingsClosed || _keepAlivePingId >= 0)
                {
                    return;
                }
                id = NextPingIdLocked();
                _pings.Add(id, new PendingPing(Time.GetTimestamp(), null));
                _keepAlivePingId = id;
            }
            EnqueueControl(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, id));
            _pingTimeoutTimer?.Change(Options.PingTimeout, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The timer went away with the session.
        }
    }

    private void OnPingTimeout()
    {
        uint id;
        lock (_pingLock)
        {
            if (_pingsClosed || _keepAlivePingId < 0)
            {
                return;
            }
            id = (uint)_keepAlivePingId;
            if (!_pings.TryGetValue(id, out var pending) || Time.GetElapsedTime(pending.Start) < Options.PingTimeout)
            {
                return;
            }
        }
        YamuxLog.KeepAliveTimeout(_logger, id, Options.PingTimeout);
        Shutdown(SessionCloseReason.KeepAliveTimeout,
            new TimeoutException($"yamux: keepalive ping {id} got no answer within {Options.PingTimeout.TotalSeconds:0.###} s"), -1, fromReadLoop: false);
        try
        {
            _transport.Output.CancelPendingFlush();
        }
        catch (InvalidOperationException)
        {
            // Writer already completed.
        }
    }

    private void DisposeTimers()
    {
        _keepAliveTimer?.Dispose();
        _pingTimeoutTimer?.Dispose();
    }

    // ====================================================================== shutdown

    /// <summary>Records the first close cause, fails every stream and pending ping, and wakes both loops.
    /// Returns false when the session was already closed.</summary>
    private bool Shutdown(SessionCloseReason reason, Exception? error, int goAwayCode, bool fromReadLoop)
    {
        lock (_closeLock)
        {
            if (_closeReason != NotClosed)
            {
                return false;
            }
            _closeException = error;
            _goAwayCode = goAwayCode;
            Volatile.Write(ref _closeReason, (int)reason);
        }

        YamuxStream[] streams;
        lock (_streamsLock)
        {
            _closing = true;
            streams = [.. _streams.Values];
        }
        var cause = error ?? new YamuxSessionClosedException($"yamux: the session was closed ({reason})");
        var reasonText = reason.ToString();
        foreach (var stream in streams)
        {
            stream.FailFromSession(cause, reasonText);
        }
        _accept.Writer.TryComplete();

        PendingPing[] pings;
        lock (_pingLock)
        {
            _pingsClosed = true;
            pings = [.. _pings.Values];
            _pings.Clear();
        }
        foreach (var ping in pings)
        {
            ping.Completion?.TrySetException(new YamuxSessionClosedException($"yamux: the session closed before the ping was answered ({reason})", error));
        }

        DisposeTimers();
        _signal.Set();
        // A graceful close lets the write loop flush GoAway first (some transports tear the connection down when
        // their input completes); WaitForLoopsAsync stops the read loop afterwards.
        if (!fromReadLoop && reason != SessionCloseReason.LocalClose)
        {
            CancelRead();
        }
        YamuxLog.SessionClosed(_logger, reason, error);
        try
        {
            _closedCts.Cancel();
        }
        catch (AggregateException ex)
        {
            YamuxLog.LoopFault(_logger, "Closed callback", ex);
        }
        return true;
    }

    private void CancelRead()
    {
        if (Volatile.Read(ref _started) == 0)
        {
            return;
        }
        try
        {
            _transport.Input.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
            // The reader is already completed.
        }
    }

    private async Task WaitForLoopsAsync()
    {
        if (Volatile.Read(ref _started) == 0)
        {
            // Never started: nothing else owns the transport.
            await _transport.Output.CompleteAsync().ConfigureAwait(false);
            await _transport.Input.CompleteAsync().ConfigureAwait(false);
            return;
        }
        if (!_writeLoop.IsCompleted)
        {
            // A peer that stopped reading must not hold CloseAsync forever (go: ConnectionWriteTimeout, 10 s).
            using var timeout = new CancellationTokenSource();
            var limit = Options.PingTimeout > TimeSpan.Zero ? Options.PingTimeout : TimeSpan.FromSeconds(10);
            var delay = Task.Delay(limit, Time, timeout.Token);
            var first = await Task.WhenAny(_writeLoop, delay).ConfigureAwait(false);
            if (first != _writeLoop)
            {
                try
                {
                    _transport.Output.CancelPendingFlush();
                }
                catch (InvalidOperationException)
                {
                    // Writer already completed.
                }
            }
            await timeout.CancelAsync().ConfigureAwait(false);
            try
            {
                await delay.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Expected: the write loop finished first.
            }
        }
        await _writeLoop.ConfigureAwait(false);
        CancelRead();
        await _readLoop.ConfigureAwait(false);
    }

    private readonly record struct PendingPing(long Start, TaskCompletionSource<TimeSpan>? Completion);
}
