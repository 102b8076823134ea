using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bethrou.Libp2p.Pnet;

/// <summary>libp2p private networks (PSK v1): each side sends a random 24-byte nonce in clear, then every byte in
/// its direction is XORed with XSalsa20(PSK, that nonce). Runs on the raw transport, below multistream-select.</summary>
public static class PnetProtector
{
    public const int NonceSize = XSalsa20Stream.NonceSize;

    /// <summary>Sends our nonce at once (flushed before waiting for anything, as js-libp2p waits for it), reads the
    /// remote's nonce and returns a pipe whose Input yields decrypted bytes and whose Output encrypts onto
    /// <paramref name="inner"/>. Completion and errors propagate both ways between the two pipes.</summary>
    /// <exception cref="IOException">The connection ended before the remote's nonce arrived, or the remote
    /// speaks plaintext libp2p (no private network).</exception>
    public static ValueTask<IDuplexPipe> ProtectAsync(IDuplexPipe inner, PreSharedKey psk, CancellationToken ct) =>
        ProtectAsync(inner, psk, NullLogger.Instance, ct);

    /// <inheritdoc cref="ProtectAsync(IDuplexPipe, PreSharedKey, CancellationToken)"/>
    public static async ValueTask<IDuplexPipe> ProtectAsync(IDuplexPipe inner, PreSharedKey psk, ILogger logger, CancellationToken ct)
    {
        var nonce = new byte[NonceSize];
        RandomNumberGenerator.Fill(nonce);
        return await ProtectAsync(inner, psk, nonce, PnetConnectionOptions.Default, logger, ct).ConfigureAwait(false);
    }

    /// <summary>With a fixed local nonce and options (tests and benchmarks).</summary>
    internal static async ValueTask<PnetConnection> ProtectAsync(
        IDuplexPipe inner, PreSharedKey psk, ReadOnlyMemory<byte> localNonce, PnetConnectionOptions options, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(psk);
        ArgumentNullException.ThrowIfNull(logger);
        if (localNonce.Length != NonceSize)
        {
            throw new ArgumentException($"the nonce must be {NonceSize} bytes", nameof(localNonce));
        }

        byte[] remoteNonce;
        try
        {
            inner.Output.Write(localNonce.Span);
            var flush = await inner.Output.FlushAsync(ct).ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                throw new IOException("pnet: the connection was closed before our nonce could be sent");
            }
            remoteNonce = await ReadRemoteNonceAsync(inner.Input, ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            PnetLog.NonceExchangeFailed(logger, e);
            throw;
        }

        var connection = new PnetConnection(inner, psk.Key.Span, localNonce.Span, remoteNonce, options, logger);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            PnetLog.Protected(logger, psk.Fingerprint);
        }
        connection.Start();
        return connection;
    }

    private static async ValueTask<byte[]> ReadRemoteNonceAsync(PipeReader input, CancellationToken ct)
    {
        while (true)
        {
            var result = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (LooksLikePlaintextMultistream(buffer))
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new IOException(
                    "pnet: the remote is not using a private network: it sent a plaintext /multistream/1.0.0 header instead of a 24-byte nonce");
            }
            if (buffer.Length >= NonceSize)
            {
                var nonce = new byte[NonceSize];
                buffer.Slice(0, NonceSize).CopyTo(nonce);
                // Everything after the nonce is already ciphertext and stays in the pipe for the receive loop.
                input.AdvanceTo(buffer.GetPosition(NonceSize));
                return nonce;
            }
            if (result.IsCompleted)
            {
                var got = buffer.Length;
                input.AdvanceTo(buffer.End);
                throw new IOException(
                    $"pnet: connection closed before the remote's 24-byte nonce (got {got} bytes; is the remote using the same private network?)");
            }
            if (result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                throw new OperationCanceledException("pnet: reading the remote's nonce was canceled");
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    // 0x13 "/multistream/1.0.0\n": what a libp2p peer without a PSK sends first.
    private static ReadOnlySpan<byte> PlaintextHeader => "\u0013/multistream/1.0.0\n"u8;

    private static bool LooksLikePlaintextMultistream(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < PlaintextHeader.Length)
        {
            return false;
        }
        Span<byte> head = stackalloc byte[PlaintextHeader.Length];
        buffer.Slice(0, head.Length).CopyTo(head);
        return head.SequenceEqual(PlaintextHeader);
    }
}

/// <summary>Buffering limits of a <see cref="PnetConnection"/>'s two pipes.</summary>
internal sealed record PnetConnectionOptions(
    long PauseWriterThreshold = 1024 * 1024,
    long ResumeWriterThreshold = 512 * 1024,
    int MinimumSegmentSize = 64 * 1024, // 16 KiB segments with a 1 MiB window overflow ArrayPool.Shared (allocations)
    int MaxChunk = 256 * 1024,
    XSalsa20Implementation? Implementation = null)
{
    public static PnetConnectionOptions Default { get; } = new();

    public PipeOptions ToPipeOptions() => new(
        pauseWriterThreshold: PauseWriterThreshold,
        resumeWriterThreshold: ResumeWriterThreshold,
        minimumSegmentSize: MinimumSegmentSize,
        useSynchronizationContext: false);
}

/// <summary>The protected pipe: two pump loops (transport → decrypt → <see cref="Input"/>, <see cref="Output"/> →
/// encrypt → transport) over bounded pipes. A loop that ends completes both pipes it touches with the same cause
/// (normal end or exception), so EOF and errors reach the reader on the other side.</summary>
internal sealed class PnetConnection : IDuplexPipe
{
    private readonly IDuplexPipe _inner;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly XSalsa20Stream _encrypt;
    private readonly XSalsa20Stream _decrypt;
    private readonly int _maxChunk;
    private readonly ILogger _logger;
    private Task _receiveLoop = Task.CompletedTask;
    private Task _sendLoop = Task.CompletedTask;

    public PnetConnection(IDuplexPipe inner, ReadOnlySpan<byte> key, ReadOnlySpan<byte> localNonce, ReadOnlySpan<byte> remoteNonce,
        PnetConnectionOptions options, ILogger logger)
    {
        _inner = inner;
        _inbound = new Pipe(options.ToPipeOptions());
        _outbound = new Pipe(options.ToPipeOptions());
        var implementation = options.Implementation ?? XSalsa20Stream.DefaultImplementation;
        _encrypt = new XSalsa20Stream(key, localNonce, implementation);
        _decrypt = new XSalsa20Stream(key, remoteNonce, implementation);
        _maxChunk = options.MaxChunk;
        _logger = logger;
    }

    public PipeReader Input => _inbound.Reader;

    public PipeWriter Output => _outbound.Writer;

    /// <summary>Completes when both loops have ended (they never fault: their errors go into the pipes).</summary>
    public Task Completion => Task.WhenAll(_receiveLoop, _sendLoop);

    /// <summary>The transport → application loop.</summary>
    public Task ReceiveLoop => _receiveLoop;

    /// <summary>The application → transport loop.</summary>
    public Task SendLoop => _sendLoop;

    public void Start()
    {
        _receiveLoop = ReceiveLoopAsync();
        _sendLoop = SendLoopAsync();
    }

    private async Task ReceiveLoopAsync()
    {
        var source = _inner.Input;
        var target = _inbound.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await source.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("pnet: the read from the transport was canceled");
                }
                var chunk = buffer.Length > _maxChunk ? buffer.Slice(0, _maxChunk) : buffer;
                if (!chunk.IsEmpty)
                {
                    Transform(_decrypt, chunk, target);
                }
                source.AdvanceTo(chunk.End);
                if (!chunk.IsEmpty)
                {
                    var flush = await target.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        break; // the application stopped reading
                    }
                }
                if (result.IsCompleted && chunk.Length == buffer.Length)
                {
                    break; // the remote ended its direction
                }
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            PnetLog.ReceiveLoopEnded(_logger, _decrypt.Position, error);
            await source.CompleteAsync(error).ConfigureAwait(false);
            await target.CompleteAsync(error).ConfigureAwait(false);
            _decrypt.Dispose();
        }
    }

    private async Task SendLoopAsync()
    {
        var source = _outbound.Reader;
        var target = _inner.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await source.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("pnet: the read from the application was canceled");
                }
                var chunk = buffer.Length > _maxChunk ? buffer.Slice(0, _maxChunk) : buffer;
                if (!chunk.IsEmpty)
                {
                    Transform(_encrypt, chunk, target);
                }
                source.AdvanceTo(chunk.End);
                if (!chunk.IsEmpty)
                {
                    var flush = await target.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        throw new IOException("pnet: the transport stopped accepting data");
                    }
                }
                if (result.IsCompleted && chunk.Length == buffer.Length)
                {
                    break; // the application completed its output: pass the half-close on
                }
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            PnetLog.SendLoopEnded(_logger, _encrypt.Position, error);
            await source.CompleteAsync(error).ConfigureAwait(false);
            await target.CompleteAsync(error).ConfigureAwait(false);
            _encrypt.Dispose();
        }
    }

    /// <summary>XORs every segment of <paramref name="chunk"/> straight into the target's buffers.</summary>
    private static void Transform(XSalsa20Stream cipher, in ReadOnlySequence<byte> chunk, PipeWriter target)
    {
        foreach (var segment in chunk)
        {
            var source = segment.Span;
            while (!source.IsEmpty)
            {
                var destination = target.GetSpan();
                var n = Math.Min(source.Length, destination.Length);
                cipher.Transform(source[..n], destination);
                target.Advance(n);
                source = source[n..];
            }
        }
    }
}
