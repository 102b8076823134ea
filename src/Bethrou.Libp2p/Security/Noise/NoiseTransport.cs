using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Bethrou.Libp2p.Transport;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// The Noise transport phase as an <see cref="IDuplexPipe"/> of plaintext over an inner pipe of frames, with no pumps
/// of its own: the work runs on the threads of the reader and the writer (in a libp2p connection, yamux's read loop and
/// write loop), so a byte crosses no extra thread hop.
/// <list type="bullet">
/// <item><see cref="Output"/> lends the inner writer's memory behind a 2-byte length prefix; plaintext fills it until a
/// frame holds 65519 bytes or the writer flushes, then the frame is encrypted in place and advanced.</item>
/// <item><see cref="Input"/>, when its reader needs more, reads the inner pipe and decrypts every whole frame into a
/// plaintext buffer; how much is buffered is bounded by what the reader leaves unconsumed plus one inner read.</item>
/// </list>
/// Remote EOF completes <see cref="Input"/>; completing <see cref="Output"/> completes the inner writer; a frame that
/// fails authentication fails <see cref="Input"/>, and every later write, with the same cause.
/// </summary>
internal sealed class NoiseTransport : IDuplexPipe
{
    private readonly NoiseInput _input;
    private readonly NoiseOutput _output;
    private readonly ILogger _logger;
    private readonly string _remote;
    private volatile Exception? _abortCause;
    private int _halvesDone;

    public NoiseTransport(IDuplexPipe inner, NoiseCipherState send, NoiseCipherState recv, ILogger logger, string remote)
    {
        _logger = logger;
        _remote = remote;
        _input = new NoiseInput(this, inner.Input, recv);
        _output = new NoiseOutput(this, inner.Output, send);
    }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;

    internal Exception? AbortCause => _abortCause;

    private void Abort(Exception cause)
    {
        _abortCause ??= cause;
        NoiseLog.FrameAuthenticationFailed(_logger, _remote);
        _output.CancelPendingFlush(); // a flush waiting on the inner writer wakes and sees the abort
    }

    private void HalfDone()
    {
        if (Interlocked.Increment(ref _halvesDone) == 2)
        {
            NoiseLog.TransportClosed(_logger, _remote, _output.BytesSent, _output.FramesSent, _input.BytesReceived, _input.FramesReceived);
        }
    }

    /// <summary>Plaintext writer that seals frames straight into the inner writer's memory. With an incremental cipher
    /// each advanced piece is encrypted in place as it arrives and <see cref="WriteFrom"/> encrypts from the caller's
    /// memory into the frame (no copy first); otherwise the whole frame is encrypted in place when it is sealed.</summary>
    private sealed class NoiseOutput : PipeWriter, IWriteFrom
    {
        private const int Prefix = NoiseFraming.LengthPrefixSize;
        private const int Tag = NoiseCipherState.TagSize;
        private const int MaxPlain = NoiseFraming.MaxPlaintextLength;

        private readonly NoiseTransport _owner;
        private readonly PipeWriter _inner;
        private readonly NoiseCipherState _cipher;
        private Memory<byte> _frame; // inner memory of the open frame: prefix, plaintext so far, room for the tag
        private int _filled;
        private int _capacity;
        private bool _open;
        private bool _begun; // the incremental cipher has a message open for the open frame
        private byte[]? _staging;
        private bool _staged;
        private int _completed;

        public NoiseOutput(NoiseTransport owner, PipeWriter inner, NoiseCipherState cipher)
        {
            _owner = owner;
            _inner = inner;
            _cipher = cipher;
        }

        public long BytesSent { get; private set; }

        public long FramesSent { get; private set; }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            if (sizeHint > MaxPlain)
            {
                return Stage(sizeHint);
            }
            _staged = false; // a later GetMemory replaces an earlier one that was not advanced
            Reserve(sizeHint);
            return _frame.Slice(Prefix + _filled, _capacity - _filled);
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        /// <summary>A request for more than one frame holds: lend a staging buffer and cut it into frames on Advance
        /// (the PipeWriter contract promises at least <paramref name="sizeHint"/> bytes).</summary>
        private Memory<byte> Stage(int sizeHint)
        {
            ThrowIfAborted();
            if (_staging is null || _staging.Length < sizeHint)
            {
                if (_staging is not null)
                {
                    ArrayPool<byte>.Shared.Return(_staging);
                }
                _staging = ArrayPool<byte>.Shared.Rent(sizeHint);
            }
            _staged = true;
            return _staging;
        }

        /// <summary>Makes room for <paramref name="sizeHint"/> bytes (capped at a frame) in the open frame, sealing it
        /// and opening the next when it is too full.</summary>
        private void Reserve(int sizeHint)
        {
            ThrowIfAborted();
            var want = Math.Clamp(sizeHint, 1, MaxPlain);
            if (_open && _capacity - _filled >= want)
            {
                return;
            }
            if (_open)
            {
                Seal();
            }
            // Always room for a maximal frame: frames stay as large as the writer fills them (several fit in one of the
            // socket pipe's 256 KiB segments, which the socket sends in one call).
            _frame = _inner.GetMemory(Prefix + Tag + MaxPlain);
            _capacity = Math.Min(_frame.Length - Prefix - Tag, MaxPlain);
            _filled = 0;
            _open = true;
        }

        public override void Advance(int bytes)
        {
            if (_staged)
            {
                _staged = false;
                if ((uint)bytes > (uint)_staging!.Length)
                {
                    throw new ArgumentOutOfRangeException(nameof(bytes), $"noise: advanced {bytes} bytes past the memory handed out");
                }
                WriteFrom(_staging.AsSpan(0, bytes));
                return;
            }
            if (bytes < 0 || (bytes > 0 && (!_open || bytes > _capacity - _filled)))
            {
                throw new ArgumentOutOfRangeException(nameof(bytes), $"noise: advanced {bytes} bytes past the memory handed out");
            }
            if (bytes > 0 && _cipher.IsIncremental)
            {
                var piece = _frame.Span.Slice(Prefix + _filled, bytes);
                BeginIfNeeded();
                _cipher.Update(piece, piece);
            }
            _filled += bytes;
            if (_filled == _capacity)
            {
                Seal();
            }
        }

        /// <summary>Writes <paramref name="source"/> as if copied into lent memory and advanced; with an incremental
        /// cipher it is encrypted straight from <paramref name="source"/> into the frame.</summary>
        public void WriteFrom(ReadOnlySpan<byte> source)
        {
            while (!source.IsEmpty)
            {
                Reserve(1);
                var n = Math.Min(source.Length, _capacity - _filled);
                var dest = _frame.Span.Slice(Prefix + _filled, n);
                if (_cipher.IsIncremental)
                {
                    BeginIfNeeded();
                    _cipher.Update(source[..n], dest);
                }
                else
                {
                    source[..n].CopyTo(dest);
                }
                source = source[n..];
                _filled += n;
                if (_filled == _capacity)
                {
                    Seal();
                }
            }
        }

        private void BeginIfNeeded()
        {
            // Only once a byte is there: a frame opened and never filled must not use up a nonce.
            if (!_begun)
            {
                _cipher.BeginMessage(encrypt: true);
                _begun = true;
            }
        }

        private void Seal()
        {
            if (_filled == 0)
            {
                return; // an open frame with nothing in it costs nothing: the inner memory is simply not advanced
            }
            var span = _frame.Span;
            if (_begun)
            {
                _begun = false;
                _cipher.EndEncrypt(span.Slice(Prefix + _filled, Tag));
            }
            else
            {
                var body = span.Slice(Prefix, _filled);
                _cipher.Encrypt(default, body, body, span.Slice(Prefix + _filled, Tag));
            }
            BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)(_filled + Tag));
            _inner.Advance(Prefix + _filled + Tag);
            BytesSent += _filled;
            FramesSent++;
            _frame = default;
            _filled = 0;
            _open = false;
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ThrowIfAborted();
            Seal();
            var flush = _inner.FlushAsync(cancellationToken);
            if (flush.IsCompletedSuccessfully)
            {
                var result = flush.Result;
                if (result.IsCanceled)
                {
                    ThrowIfAborted();
                }
                return new ValueTask<FlushResult>(result);
            }
            return AwaitFlushAsync(flush);
        }

        private async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
        {
            var result = await flush.ConfigureAwait(false);
            if (result.IsCanceled)
            {
                ThrowIfAborted();
            }
            return result;
        }

        public override void CancelPendingFlush() => _inner.CancelPendingFlush();

        public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => _inner.UnflushedBytes + (_open ? _filled : 0);

        private void ThrowIfAborted()
        {
            if (_owner.AbortCause is { } cause)
            {
                throw new IOException(cause.Message, cause);
            }
        }

        public override void Complete(Exception? exception = null)
        {
            if (!Finish(ref exception))
            {
                return;
            }
            _inner.Complete(exception);
            _owner.HalfDone();
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            if (!Finish(ref exception))
            {
                return;
            }
            await _inner.CompleteAsync(exception).ConfigureAwait(false);
            _owner.HalfDone();
        }

        private bool Finish(ref Exception? exception)
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0)
            {
                return false;
            }
            exception ??= _owner.AbortCause;
            if (exception is null)
            {
                Seal(); // what was written before the clean close still goes out
            }
            _cipher.Dispose();
            if (_staging is not null)
            {
                ArrayPool<byte>.Shared.Return(_staging);
                _staging = null;
            }
            return true;
        }
    }

    /// <summary>Plaintext reader that decrypts frames on demand into a buffer of its own; or, used as an
    /// <see cref="IDirectReader"/> (yamux does), checks each whole frame's tag first and then decrypts its bytes
    /// wherever the caller asks, so they are written once.</summary>
    private sealed class NoiseInput : PipeReader, IDirectReader
    {
        private static readonly PipeOptions PlainOptions = new(
            pauseWriterThreshold: 0, // never pauses: the amount is bounded by the pull (see the class summary)
            minimumSegmentSize: 64 * 1024,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false);

        private readonly NoiseTransport _owner;
        private readonly PipeReader _inner;
        private readonly NoiseCipherState _cipher;
        private readonly Pipe _plain = new(PlainOptions);
        private ReadOnlySequence<byte> _last;
        private bool _needMore = true;
        private bool _ended;
        private bool _synthetic;
        private int _completed;

        // Direct mode (IDirectReader): the inner read being worked through, starting at the next unread byte.
        private ReadOnlySequence<byte> _direct;
        private SequencePosition _directEnd;
        private bool _directHeld;      // an inner read is outstanding (not yet advanced)
        private int _frameLeft;        // plaintext bytes of the current, verified frame not yet produced
        private long _available;       // _frameLeft + plaintext of the whole frames after it + _carry
        private bool _directEnded;
        private Exception? _directError;
        private byte[]? _carry;        // plaintext the PipeReader API had buffered before the switch
        private int _carryOffset;
        private byte[]? _scratch;

        public NoiseInput(NoiseTransport owner, PipeReader inner, NoiseCipherState cipher)
        {
            _owner = owner;
            _inner = inner;
            _cipher = cipher;
        }

        public long BytesReceived { get; private set; }

        public long FramesReceived { get; private set; }

        public override bool TryRead(out ReadResult result)
        {
            if ((!_needMore || _ended) && _plain.Reader.TryRead(out result))
            {
                _last = result.Buffer;
                _synthetic = false;
                return true;
            }
            result = default;
            return false;
        }

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                if (TryRead(out var ready))
                {
                    return ready;
                }
                var result = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
                Pull(result);
                if (result.IsCanceled && !_ended)
                {
                    if (_plain.Reader.TryRead(out var buffered))
                    {
                        _last = buffered.Buffer;
                        _synthetic = false;
                        return new ReadResult(buffered.Buffer, isCanceled: true, isCompleted: false);
                    }
                    _synthetic = true;
                    return new ReadResult(default, isCanceled: true, isCompleted: false);
                }
            }
        }

        /// <summary>Decrypts every whole frame of one inner read into the plaintext buffer.</summary>
        private void Pull(in ReadResult result)
        {
            var buffer = result.Buffer;
            var writer = _plain.Writer;
            long produced = 0;
            Exception? error = null;
            var authFailed = false;
            while (NoiseFraming.TryRead(ref buffer, NoiseFraming.MaxMessageLength, out var frame, out _) == NoiseFrameStatus.Ok)
            {
                if (frame.Length < NoiseCipherState.TagSize)
                {
                    error = ShortFrame(frame.Length);
                    break;
                }
                var plainLength = (int)frame.Length - NoiseCipherState.TagSize;
                var dest = writer.GetSpan(plainLength);
                if (!DecryptFrame(frame, dest, plainLength))
                {
                    error = AuthenticationFailed();
                    authFailed = true;
                    break;
                }
                writer.Advance(plainLength);
                produced += plainLength;
                FramesReceived++;
            }
            var leftover = buffer.Length;
            _inner.AdvanceTo(buffer.Start, result.Buffer.End);
            BytesReceived += produced;
            if (produced > 0)
            {
                // No pause threshold and inline schedulers: completes synchronously.
                var flushed = writer.FlushAsync();
                System.Diagnostics.Debug.Assert(flushed.IsCompleted, "the plaintext buffer never pauses");
                _ = flushed.Result;
                _needMore = false;
            }
            if (error is null && result.IsCompleted && leftover > 0)
            {
                error = IncompleteFrame(leftover);
            }
            if (error is not null || result.IsCompleted)
            {
                if (authFailed)
                {
                    _owner.Abort(error!);
                }
                writer.Complete(error);
                _ended = true;
            }
        }

        private bool DecryptFrame(in ReadOnlySequence<byte> frame, Span<byte> dest, int plainLength)
        {
            if (frame.IsSingleSegment)
            {
                var span = frame.FirstSpan;
                return _cipher.TryDecrypt(default, span[..plainLength], span[plainLength..], dest);
            }
            Span<byte> tag = stackalloc byte[NoiseCipherState.TagSize];
            frame.Slice(plainLength).CopyTo(tag);
            if (_cipher.IsIncremental)
            {
                // The frame straddles segments: decrypt piece by piece, no gathering copy.
                _cipher.BeginMessage(encrypt: false);
                var offset = 0;
                foreach (var segment in frame.Slice(0, plainLength))
                {
                    _cipher.Update(segment.Span, dest.Slice(offset, segment.Length));
                    offset += segment.Length;
                }
                return _cipher.EndDecrypt(tag);
            }
            // The frame straddles segments: gather it into the destination and decrypt in place.
            var body = dest[..plainLength];
            frame.Slice(0, plainLength).CopyTo(body);
            return _cipher.TryDecrypt(default, body, tag, body);
        }

        // ------------------------------------------------------------------ IDirectReader

        public bool CanReadDirect => _cipher.CanVerifyFirst;

        public long Available => _available;

        public async ValueTask<DirectReadResult> WaitAsync(CancellationToken cancellationToken = default)
        {
            if (_directError is not null)
            {
                throw _directError;
            }
            if (_available > 0)
            {
                return default;
            }
            if (_carry is null && _plain.Reader.TryRead(out var leftover))
            {
                // Switching from the PipeReader API: what it decrypted already comes first.
                _carry = leftover.Buffer.ToArray();
                _carryOffset = 0;
                _available = _carry.Length;
                _plain.Reader.AdvanceTo(leftover.Buffer.End);
                if (_available > 0)
                {
                    return default;
                }
            }
            if (_directHeld)
            {
                Scan(); // the rest of the held read: empty frames, or a bad length now at the front
                if (_available > 0)
                {
                    return default;
                }
            }
            if (_directEnded || _ended)
            {
                if (_directHeld && !_direct.IsEmpty)
                {
                    throw Fail(IncompleteFrame(_direct.Length), auth: false);
                }
                return new DirectReadResult(IsCompleted: true, IsCanceled: false);
            }
            ReleaseDirect();
            while (true)
            {
                var result = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
                _direct = result.Buffer;
                _directEnd = result.Buffer.End;
                _directHeld = true;
                Scan();
                if (result.IsCompleted)
                {
                    _directEnded = true;
                    if (_available == 0 && !_direct.IsEmpty)
                    {
                        throw Fail(IncompleteFrame(_direct.Length), auth: false);
                    }
                    return new DirectReadResult(IsCompleted: _available == 0, IsCanceled: result.IsCanceled);
                }
                if (_available > 0 || result.IsCanceled)
                {
                    return new DirectReadResult(IsCompleted: false, IsCanceled: result.IsCanceled);
                }
                ReleaseDirect(); // not one whole frame yet: wait for more
            }
        }

        public void Read(Span<byte> destination)
        {
            if (destination.Length > _available)
            {
                throw new ArgumentOutOfRangeException(nameof(destination), $"noise: {destination.Length} bytes asked, {_available} available");
            }
            while (!destination.IsEmpty)
            {
                if (_carry is not null)
                {
                    var c = Math.Min(destination.Length, _carry.Length - _carryOffset);
                    _carry.AsSpan(_carryOffset, c).CopyTo(destination);
                    _carryOffset += c;
                    _available -= c;
                    destination = destination[c..];
                    if (_carryOffset == _carry.Length)
                    {
                        _carry = Array.Empty<byte>(); // non-null: the switch happened
                        _carryOffset = 0;
                    }
                    if (c > 0)
                    {
                        continue;
                    }
                }
                if (_frameLeft == 0)
                {
                    OpenFrame();
                    continue;
                }
                var n = Math.Min(destination.Length, _frameLeft);
                var offset = 0;
                foreach (var segment in _direct.Slice(0, n))
                {
                    _cipher.DecryptVerified(segment.Span, destination.Slice(offset, segment.Length));
                    offset += segment.Length;
                }
                _direct = _direct.Slice(n);
                _frameLeft -= n;
                _available -= n;
                BytesReceived += n;
                destination = destination[n..];
                if (_frameLeft == 0)
                {
                    CloseFrame();
                }
            }
        }

        public void Skip(long count)
        {
            var scratch = _scratch ??= new byte[4096];
            while (count > 0)
            {
                var n = (int)Math.Min(count, scratch.Length);
                Read(scratch.AsSpan(0, n));
                count -= n;
            }
        }

        /// <summary>Counts the plaintext in whole frames after the current one (a frame's bytes are produced only once
        /// all of it is here and its tag checks out) and opens empty frames at the front.</summary>
        private void Scan()
        {
            OpenEmptyFrames();
            var rest = _direct.Slice(_frameLeft > 0 ? _frameLeft + NoiseCipherState.TagSize : 0);
            long available = _frameLeft + (_carry is null ? 0 : _carry.Length - _carryOffset);
            while (NoiseFraming.TryRead(ref rest, NoiseFraming.MaxMessageLength, out var frame, out _) == NoiseFrameStatus.Ok)
            {
                if (frame.Length < NoiseCipherState.TagSize)
                {
                    if (available == 0)
                    {
                        throw Fail(ShortFrame(frame.Length), auth: false);
                    }
                    break; // reported once the frames before it are read
                }
                available += frame.Length - NoiseCipherState.TagSize;
            }
            _available = available;
        }

        /// <summary>Verifies the frame at the front of the inner buffer (known to be whole) and makes it current.</summary>
        private void OpenFrame()
        {
            var rest = _direct;
            NoiseFraming.TryRead(ref rest, NoiseFraming.MaxMessageLength, out var frame, out _);
            if (frame.Length < NoiseCipherState.TagSize)
            {
                throw Fail(ShortFrame(frame.Length), auth: false);
            }
            var plainLength = (int)frame.Length - NoiseCipherState.TagSize;
            Span<byte> tag = stackalloc byte[NoiseCipherState.TagSize];
            frame.Slice(plainLength).CopyTo(tag);
            if (!_cipher.TryOpenVerified(frame.Slice(0, plainLength), tag))
            {
                throw Fail(AuthenticationFailed(), auth: true);
            }
            _direct = _direct.Slice(NoiseFraming.LengthPrefixSize); // at the body; CloseFrame steps over the tag
            _frameLeft = plainLength;
            if (plainLength == 0)
            {
                CloseFrame();
            }
        }

        private void CloseFrame()
        {
            _cipher.EndVerified();
            _direct = _direct.Slice(NoiseCipherState.TagSize);
            FramesReceived++;
        }

        private void OpenEmptyFrames()
        {
            var rest = _direct;
            while (_frameLeft == 0
                && NoiseFraming.TryRead(ref rest, NoiseFraming.MaxMessageLength, out var frame, out _) == NoiseFrameStatus.Ok
                && frame.Length == NoiseCipherState.TagSize)
            {
                OpenFrame();
                rest = _direct;
            }
        }

        private void ReleaseDirect()
        {
            if (_directHeld)
            {
                _directHeld = false;
                _inner.AdvanceTo(_direct.Start, _directEnd);
                _direct = default;
            }
        }

        private static IOException ShortFrame(long length) =>
            new($"noise: received a {length}-byte frame, shorter than the {NoiseCipherState.TagSize}-byte authentication tag");

        private static IOException AuthenticationFailed() => new("noise: frame failed authentication (corrupted or tampered stream)");

        private static IOException IncompleteFrame(long bytes) =>
            new($"noise: the connection closed in the middle of a frame ({bytes} bytes of an incomplete frame)");

        private Exception Fail(IOException error, bool auth)
        {
            _directError ??= error;
            if (auth)
            {
                _owner.Abort(error);
            }
            return error;
        }

        // ------------------------------------------------------------------ PipeReader

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (_synthetic)
            {
                _synthetic = false;
                return; // the empty buffer of a canceled read owns nothing
            }
            _needMore = examined.Equals(_last.End);
            _last = default;
            _plain.Reader.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => _inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            if (Finish())
            {
                _inner.Complete(exception);
                _owner.HalfDone();
            }
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            if (Finish())
            {
                await _inner.CompleteAsync(exception).ConfigureAwait(false);
                _owner.HalfDone();
            }
        }

        private bool Finish()
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0)
            {
                return false;
            }
            _plain.Reader.Complete();
            _plain.Writer.Complete();
            _cipher.Dispose();
            return true;
        }
    }
}
