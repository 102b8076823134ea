using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NSec.Cryptography;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// libp2p Noise (<c>/noise</c>): <c>Noise_XX_25519_ChaChaPoly_SHA256</c> with the libp2p handshake payload (identity key,
/// signature over the Noise static key, early muxer negotiation). The Noise static X25519 key is generated per instance
/// and never stored.
/// </summary>
public sealed class NoiseSecurityTransport
{
    public const string ProtocolId = "/noise";

    /// <summary>Largest handshake message accepted (payloads are a public key, a signature and a muxer list: well under
    /// 4 KiB even with RSA-8192 identities). Rejecting bigger lengths catches garbage early.</summary>
    public const int MaxHandshakeMessageLength = 16 * 1024;

    private const string PskHint = " — if both peers use a private network, check they share the same PSK";

    private static ReadOnlySpan<byte> SignaturePrefix => "noise-libp2p-static-key:"u8;

    private readonly Ed25519PrivateKey _identity;
    private readonly string[] _muxers;
    private readonly Key _staticKey;
    private readonly byte[] _payload;
    private readonly Func<Key> _ephemeralFactory;
    private readonly ILogger _logger;

    public NoiseSecurityTransport(Ed25519PrivateKey identity, IReadOnlyList<string> muxers)
        : this(identity, muxers, NullLogger.Instance)
    {
    }

    public NoiseSecurityTransport(Ed25519PrivateKey identity, IReadOnlyList<string> muxers, ILogger logger)
        : this(identity, muxers, logger, CreateX25519Key(), CreateX25519Key)
    {
    }

    /// <summary>For tests and benchmarks: fixed static key, ephemeral keys from <paramref name="ephemeralFactory"/>.</summary>
    internal NoiseSecurityTransport(Ed25519PrivateKey identity, IReadOnlyList<string> muxers, ILogger logger, Key staticKey, Func<Key> ephemeralFactory)
    {
        _identity = identity ?? throw new ArgumentNullException(nameof(identity));
        ArgumentNullException.ThrowIfNull(muxers);
        _muxers = [.. muxers];
        foreach (var m in _muxers)
        {
            if (string.IsNullOrEmpty(m) || System.Text.Encoding.UTF8.GetByteCount(m) > NoiseHandshakePayload.MaxMuxerLength)
            {
                throw new ArgumentException($"noise: invalid muxer protocol id '{m}'", nameof(muxers));
            }
        }
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _staticKey = staticKey;
        _ephemeralFactory = ephemeralFactory;

        var staticPub = staticKey.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        var toSign = new byte[SignaturePrefix.Length + staticPub.Length];
        SignaturePrefix.CopyTo(toSign);
        staticPub.CopyTo(toSign, SignaturePrefix.Length);
        _payload = new NoiseHandshakePayload
        {
            IdentityKey = identity.PublicKey.Marshal(),
            IdentitySig = identity.Sign(toSign),
            StreamMuxers = _muxers.Length > 0 ? _muxers : null,
        }.Encode();
        LocalPeer = identity.PeerId;
    }

    public PeerId LocalPeer { get; }

    /// <summary>The encoded handshake payload this instance sends (it is the same for every handshake).</summary>
    internal ReadOnlySpan<byte> LocalPayload => _payload;

    internal static Key CreateX25519Key() => Key.Create(KeyAgreementAlgorithm.X25519);

    internal static Key ImportX25519Key(ReadOnlySpan<byte> privateKey) =>
        Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);

    /// <summary>Runs the handshake as the initiator (dialer).</summary>
    /// <param name="inner">The raw (or pnet-protected) connection. On success it belongs to the returned connection.</param>
    /// <param name="expectedRemote">The peer we meant to dial, or null to accept anyone.</param>
    /// <exception cref="PeerIdMismatchException">The remote proved a different identity.</exception>
    /// <exception cref="NoiseHandshakeException">The handshake failed; the message says how.</exception>
    public ValueTask<SecureConnection> SecureOutboundAsync(IDuplexPipe inner, PeerId? expectedRemote, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return HandshakeAsync(inner, true, expectedRemote, ct);
    }

    /// <summary>Runs the handshake as the responder (listener).</summary>
    /// <exception cref="NoiseHandshakeException">The handshake failed; the message says how.</exception>
    public ValueTask<SecureConnection> SecureInboundAsync(IDuplexPipe inner, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return HandshakeAsync(inner, false, null, ct);
    }

    private async ValueTask<SecureConnection> HandshakeAsync(IDuplexPipe inner, bool initiator, PeerId? expectedRemote, CancellationToken ct)
    {
        var role = initiator ? "initiator" : "responder";
        using var hs = new NoiseXXHandshake(initiator, _staticKey, _ephemeralFactory(), default);
        try
        {
            RemoteIdentity remote;
            IReadOnlyList<string>? initiatorMuxers;
            IReadOnlyList<string>? responderMuxers;
            if (initiator)
            {
                await WriteMessageAsync(inner.Output, hs, default, "msg1", ct).ConfigureAwait(false);
                var payloadR = await ReadMessageAsync(inner.Input, hs, "msg2", ct).ConfigureAwait(false);
                remote = VerifyPayload(payloadR, hs.RemoteStatic!, "msg2");
                if (expectedRemote is not null && expectedRemote != remote.PeerId)
                {
                    // abort before msg3: never reveal our identity to a peer we did not mean to reach
                    throw new PeerIdMismatchException(expectedRemote, remote.PeerId, $"noise: dialled {expectedRemote} but the remote is {remote.PeerId}");
                }
                await WriteMessageAsync(inner.Output, hs, _payload, "msg3", ct).ConfigureAwait(false);
                initiatorMuxers = _muxers;
                responderMuxers = remote.Muxers;
            }
            else
            {
                _ = await ReadMessageAsync(inner.Input, hs, "msg1", ct).ConfigureAwait(false);
                await WriteMessageAsync(inner.Output, hs, _payload, "msg2", ct).ConfigureAwait(false);
                var payloadI = await ReadMessageAsync(inner.Input, hs, "msg3", ct).ConfigureAwait(false);
                remote = VerifyPayload(payloadI, hs.RemoteStatic!, "msg3");
                initiatorMuxers = remote.Muxers;
                responderMuxers = _muxers;
            }

            var earlyMuxer = SelectEarlyMuxer(initiatorMuxers, responderMuxers);
            var (i2r, r2i) = hs.Split();
            var transport = initiator
                ? new NoiseTransport(inner, i2r, r2i, _logger, remote.PeerId.ToString())
                : new NoiseTransport(inner, r2i, i2r, _logger, remote.PeerId.ToString());
            NoiseLog.HandshakeComplete(_logger, role, LocalPeer.ToString(), remote.PeerId.ToString(), earlyMuxer);
            return new SecureConnection(transport, LocalPeer, remote.PeerId, remote.Key, earlyMuxer);
        }
        catch (IOException ex)
        {
            NoiseLog.HandshakeFailed(_logger, role, ex.Message);
            throw;
        }
    }

    /// <summary>First entry of the initiator's list that the responder supports; null when either list is absent or
    /// empty (the muxer is then negotiated with multistream-select).</summary>
    /// <exception cref="NoiseHandshakeException">Both lists are non-empty and share nothing.</exception>
    internal static string? SelectEarlyMuxer(IReadOnlyList<string>? initiatorMuxers, IReadOnlyList<string>? responderMuxers)
    {
        if (initiatorMuxers is not { Count: > 0 } || responderMuxers is not { Count: > 0 })
        {
            return null;
        }
        foreach (var m in initiatorMuxers)
        {
            foreach (var r in responderMuxers)
            {
                if (string.Equals(m, r, StringComparison.Ordinal))
                {
                    return m;
                }
            }
        }
        throw new NoiseHandshakeException(
            $"noise: no common stream muxer: the initiator offers [{string.Join(", ", initiatorMuxers)}], the responder offers [{string.Join(", ", responderMuxers)}]");
    }

    private static async ValueTask WriteMessageAsync(PipeWriter output, NoiseXXHandshake hs, ReadOnlyMemory<byte> payload, string name, CancellationToken ct)
    {
        var message = hs.WriteMessage(payload.Span);
        NoiseFraming.Write(output, message);
        var flush = await output.FlushAsync(ct).ConfigureAwait(false);
        if (flush.IsCompleted)
        {
            throw new NoiseHandshakeException($"noise handshake failed: the connection closed while sending {name}{PskHint}");
        }
    }

    private static async ValueTask<byte[]> ReadMessageAsync(PipeReader input, NoiseXXHandshake hs, string name, CancellationToken ct)
    {
        byte[] message;
        while (true)
        {
            var result = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = NoiseFraming.TryRead(ref buffer, MaxHandshakeMessageLength, out var frame, out var declared);
            if (status == NoiseFrameStatus.Ok)
            {
                message = frame.ToArray();
                input.AdvanceTo(buffer.Start); // keep whatever follows (the first transport frames may already be here)
                break;
            }
            var available = result.Buffer.Length;
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (status == NoiseFrameStatus.TooLarge)
            {
                throw new NoiseHandshakeException(
                    $"noise handshake failed: {name} declares {declared} bytes, more than the {MaxHandshakeMessageLength}-byte limit for handshake messages{PskHint}");
            }
            if (result.IsCompleted)
            {
                throw new NoiseHandshakeException(available == 0
                    ? $"noise handshake failed: the connection closed before {name}{PskHint}"
                    : declared < 0
                        ? $"noise handshake failed: the connection closed inside the length prefix of {name}{PskHint}"
                        : $"noise handshake failed: the connection closed in the middle of {name} ({available - NoiseFraming.LengthPrefixSize} of {declared} bytes){PskHint}");
            }
            if (result.IsCanceled)
            {
                throw new OperationCanceledException($"noise: reading {name} was cancelled");
            }
        }

        var error = hs.ReadMessage(message, out var payload);
        if (error is not null)
        {
            throw new NoiseHandshakeException($"noise handshake failed: {error}{PskHint}");
        }
        return payload;
    }

    private static RemoteIdentity VerifyPayload(byte[] payloadBytes, byte[] remoteStatic, string name)
    {
        var error = NoiseHandshakePayload.TryDecode(payloadBytes, out var payload);
        if (error is not null)
        {
            throw new NoiseHandshakeException($"noise handshake failed: malformed handshake payload in {name}: {error}");
        }
        if (payload.IdentityKey is null)
        {
            throw new NoiseHandshakeException($"noise handshake failed: the {name} payload has no identity_key");
        }
        if (payload.IdentitySig is null)
        {
            throw new NoiseHandshakeException($"noise handshake failed: the {name} payload has no identity_sig");
        }
        Crypto.PublicKey key;
        try
        {
            key = Crypto.PublicKey.Unmarshal(payload.IdentityKey);
        }
        catch (Exception ex) when (ex is FormatException or CryptographicException or ArgumentException)
        {
            throw new NoiseHandshakeException($"noise handshake failed: the {name} identity_key is not a usable public key: {ex.Message}", ex);
        }
        var peer = key.ToPeerId();
        var signed = new byte[SignaturePrefix.Length + remoteStatic.Length];
        SignaturePrefix.CopyTo(signed);
        remoteStatic.CopyTo(signed, SignaturePrefix.Length);
        if (!key.Verify(signed, payload.IdentitySig))
        {
            throw new NoiseHandshakeException($"noise handshake failed: the identity signature of {peer} in {name} does not cover its Noise static key (invalid signature)");
        }
        return new RemoteIdentity(key, peer, payload.StreamMuxers);
    }

    private sealed record RemoteIdentity(Crypto.PublicKey Key, PeerId PeerId, IReadOnlyList<string>? Muxers);
}
