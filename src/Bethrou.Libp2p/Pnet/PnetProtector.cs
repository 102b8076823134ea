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

/// <summary>Options of a <see cref="PnetConnection"/> (tests and benchmarks pick the XSalsa20 implementation).</summary>
internal sealed record PnetConnectionOptions(XSalsa20Implementation? Implementation = null)
{
    public static PnetConnectionOptions Default { get; } = new();
}

/// <summary>The protected pipe. No pumps and no buffers of its own: <see cref="Input"/> decrypts the inner reader's
/// bytes in place as they are read, <see cref="Output"/> encrypts in place what the writer advances, so the XOR runs on
/// the caller's thread and every byte is touched once. Completion and errors pass straight through to the inner pipe.</summary>
internal sealed class PnetConnection : IDuplexPipe
{
    private readonly PnetReader _input;
    private readonly PnetWriter _output;

    public PnetConnection(IDuplexPipe inner, ReadOnlySpan<byte> key, ReadOnlySpan<byte> localNonce, ReadOnlySpan<byte> remoteNonce,
        PnetConnectionOptions options, ILogger logger)
    {
        var implementation = options.Implementation ?? XSalsa20Stream.DefaultImplementation;
        _input = new PnetReader(inner.Input, new XSalsa20Stream(key, remoteNonce, implementation), logger);
        _output = new PnetWriter(inner.Output, new XSalsa20Stream(key, localNonce, implementation), logger);
    }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;
}
