using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// The Noise transport phase as an <see cref="IDuplexPipe"/> of plaintext over an inner pipe of frames.
/// Two pumps: plaintext from <see cref="Output"/> is cut into ≤65519-byte chunks (aligned to the pipe's segments so
/// no copy is needed) and encrypted straight into the inner writer's memory, flushing in batches; frames from the
/// inner reader are decrypted straight into <see cref="Input"/>'s memory. Both app-side pipes are bounded.
/// Remote EOF completes <see cref="Input"/>; completing <see cref="Output"/> completes the inner writer; a frame that
/// fails authentication aborts both directions.
/// </summary>
internal sealed class NoiseTransport : IDuplexPipe
{
    /// <summary>Bytes produced before a flush is forced inside one batch.</summary>
    internal const int FlushThreshold = 256 * 1024;

    internal static readonly PipeOptions AppPipeOptions = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        minimumSegmentSize: 64 * 1024,
        useSynchronizationContext: false);

    private readonly IDuplexPipe _inner;
    private readonly Pipe _decrypted;
    private readonly Pipe _plaintext;
    private readonly NoiseCipherState _send;
    private readonly NoiseCipherState _recv;
    private readonly ILogger _logger;
    private readonly string _remote;
    private volatile Exception? _abortCause;
    private long _bytesSent;
    private long _framesSent;
    private long _bytesReceived;
    private long _framesReceived;

    public NoiseTransport(IDuplexPipe inner, NoiseCipherState send, NoiseCipherState recv, ILogger logger, string remote, PipeOptions? appPipeOptions = null)
    {
        _inner = inner;
        _send = send;
        _recv = recv;
        _logger = logger;
        _remote = remote;
        _decrypted = new Pipe(appPipeOptions ?? AppPipeOptions);
        _plaintext = new Pipe(appPipeOptions ?? AppPipeOptions);
    }

    public PipeReader Input => _decrypted.Reader;

    public PipeWriter Output => _plaintext.Writer;

    /// <summary>Completes when both pumps have stopped; never faults (errors go to the pipes and the log).</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start()
    {
        var encrypt = EncryptLoopAsync();
        var decrypt = DecryptLoopAsync();
        Completion = FinishAsync(encrypt, decrypt);
    }

    private async Task FinishAsync(Task encrypt, Task decrypt)
    {
        await Task.WhenAll(encrypt, decrypt).ConfigureAwait(false);
        NoiseLog.TransportClosed(_logger, _remote, _bytesSent, _framesSent, _bytesReceived, _framesReceived);
    }

    private async Task EncryptLoopAsync()
    {
        var reader = _plaintext.Reader;
        var writer = _inner.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    error = _abortCause ?? new IOException("noise: the connection was aborted");
                    break;
                }
                var buffer = result.Buffer;
                var unflushed = 0;
                var stop = false;
                while (!buffer.IsEmpty)
                {
                    unflushed += EncryptOneFrame(ref buffer, writer);
                    if (unflushed >= FlushThreshold)
                    {
                        unflushed = 0;
                        var flush = await writer.FlushAsync().ConfigureAwait(false);
                        if (flush.IsCanceled || flush.IsCompleted)
                        {
                            stop = true;
                            break;
                        }
                    }
                }
                reader.AdvanceTo(buffer.Start);
                if (!stop && unflushed > 0)
                {
                    var flush = await writer.FlushAsync().ConfigureAwait(false);
                    stop = flush.IsCanceled || flush.IsCompleted;
                }
                if (stop)
                {
                    // Canceled = aborted by the decrypt side; Completed = nobody reads the inner pipe any more.
                    error = _abortCause;
                    break;
                }
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            NoiseLog.EncryptPumpFailed(_logger, _remote, ex);
        }
        finally
        {
            await reader.CompleteAsync(error).ConfigureAwait(false);
            await writer.CompleteAsync(error).ConfigureAwait(false);
            _send.Dispose();
        }
    }

    /// <summary>Encrypts one frame from the front of <paramref name="buffer"/>: at most 65519 bytes, and no more than
    /// what is left of the first segment (so it encrypts straight from the pipe's memory).</summary>
    private int EncryptOneFrame(ref ReadOnlySequence<byte> buffer, PipeWriter writer)
    {
        var first = buffer.FirstSpan;
        int n;
        Span<byte> dest;
        if (first.Length > 0)
        {
            n = Math.Min(first.Length, NoiseFraming.MaxPlaintextLength);
            dest = writer.GetSpan(NoiseFraming.LengthPrefixSize + n + NoiseCipherState.TagSize);
            _send.Encrypt(default, first[..n], dest.Slice(NoiseFraming.LengthPrefixSize, n), dest.Slice(NoiseFraming.LengthPrefixSize + n, NoiseCipherState.TagSize));
        }
        else
        {
            n = (int)Math.Min(buffer.Length, NoiseFraming.MaxPlaintextLength);
            dest = writer.GetSpan(NoiseFraming.LengthPrefixSize + n + NoiseCipherState.TagSize);
            var body = dest.Slice(NoiseFraming.LengthPrefixSize, n);
            buffer.Slice(0, n).CopyTo(body);
            _send.Encrypt(default, body, body, dest.Slice(NoiseFraming.LengthPrefixSize + n, NoiseCipherState.TagSize));
        }
        BinaryPrimitives.WriteUInt16BigEndian(dest, (ushort)(n + NoiseCipherState.TagSize));
        var total = NoiseFraming.LengthPrefixSize + n + NoiseCipherState.TagSize;
        writer.Advance(total);
        buffer = buffer.Slice(n);
        _bytesSent += n;
        _framesSent++;
        return total;
    }

    private async Task DecryptLoopAsync()
    {
        var reader = _inner.Input;
        var writer = _decrypted.Writer;
        Exception? error = null;
        var authFailed = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var produced = 0;
                var more = false;
                while (true)
                {
                    if (NoiseFraming.TryRead(ref buffer, NoiseFraming.MaxMessageLength, out var frame, out _) != NoiseFrameStatus.Ok)
                    {
                        break;
                    }
                    if (frame.Length < NoiseCipherState.TagSize)
                    {
                        error = new IOException($"noise: received a {frame.Length}-byte frame, shorter than the {NoiseCipherState.TagSize}-byte authentication tag");
                        break;
                    }
                    var plainLength = (int)frame.Length - NoiseCipherState.TagSize;
                    var dest = writer.GetSpan(plainLength);
                    if (!DecryptFrame(frame, dest, plainLength))
                    {
                        authFailed = true;
                        error = new IOException("noise: frame failed authentication (corrupted or tampered stream)");
                        break;
                    }
                    writer.Advance(plainLength);
                    produced += plainLength;
                    _framesReceived++;
                    if (produced >= FlushThreshold)
                    {
                        more = true;
                        break;
                    }
                }
                var leftover = buffer.Length;
                if (more)
                {
                    reader.AdvanceTo(buffer.Start); // complete frames may remain: do not mark them examined
                }
                else
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
                _bytesReceived += produced;
                if (error is not null)
                {
                    break;
                }
                if (produced > 0)
                {
                    var flush = await writer.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        break; // the application stopped reading
                    }
                }
                if (!more && result.IsCompleted)
                {
                    if (leftover > 0)
                    {
                        error = new IOException($"noise: the connection closed in the middle of a frame ({leftover} bytes of an incomplete frame)");
                    }
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            NoiseLog.DecryptPumpFailed(_logger, _remote, ex);
        }
        finally
        {
            if (authFailed)
            {
                NoiseLog.FrameAuthenticationFailed(_logger, _remote);
                Abort(error!);
            }
            await writer.CompleteAsync(error).ConfigureAwait(false);
            await reader.CompleteAsync(error).ConfigureAwait(false);
            _recv.Dispose();
        }
    }

    private bool DecryptFrame(in ReadOnlySequence<byte> frame, Span<byte> dest, int plainLength)
    {
        if (frame.IsSingleSegment)
        {
            var span = frame.FirstSpan;
            return _recv.TryDecrypt(default, span[..plainLength], span[plainLength..], dest);
        }
        // The frame straddles segments: gather it into the destination and decrypt in place.
        Span<byte> tag = stackalloc byte[NoiseCipherState.TagSize];
        var body = dest[..plainLength];
        frame.Slice(0, plainLength).CopyTo(body);
        frame.Slice(plainLength).CopyTo(tag);
        return _recv.TryDecrypt(default, body, tag, body);
    }

    /// <summary>Stops the encrypt pump with <paramref name="cause"/> (it completes the app writer and the inner writer).</summary>
    private void Abort(Exception cause)
    {
        _abortCause ??= cause;
        _plaintext.Reader.CancelPendingRead();
        _inner.Output.CancelPendingFlush();
    }
}
