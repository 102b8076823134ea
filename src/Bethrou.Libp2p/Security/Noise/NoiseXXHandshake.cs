using System.Security.Cryptography;
using NSec.Cryptography;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// The Noise XX pattern (<c>-&gt; e; &lt;- e, ee, s, es; -&gt; s, se</c>) over X25519 (NSec/libsodium).
/// Pure message processing: no I/O, no libp2p payload semantics. Messages are taken and returned without the
/// 2-byte length prefix.
/// </summary>
internal sealed class NoiseXXHandshake : IDisposable
{
    public const int DhLength = 32;

    /// <summary>Minimum sizes of msg1/msg2/msg3 with an empty payload.</summary>
    public static readonly int[] MinMessageLength = [DhLength, DhLength + DhLength + NoiseCipherState.TagSize + NoiseCipherState.TagSize, DhLength + NoiseCipherState.TagSize + NoiseCipherState.TagSize];

    private static readonly KeyAgreementAlgorithm X25519 = KeyAgreementAlgorithm.X25519;

    private readonly NoiseSymmetricState _state;
    private readonly Key _s;
    private readonly Key _e;
    private readonly byte[] _ePub;
    private readonly byte[] _sPub;
    private NSec.Cryptography.PublicKey? _re;
    private NSec.Cryptography.PublicKey? _rs;
    private int _message;

    /// <param name="initiator">True for the dialer.</param>
    /// <param name="localStatic">X25519 static key (owned by the caller).</param>
    /// <param name="localEphemeral">X25519 ephemeral key (owned and disposed by this handshake).</param>
    /// <param name="prologue">Empty for libp2p over TCP/WS.</param>
    public NoiseXXHandshake(bool initiator, Key localStatic, Key localEphemeral, ReadOnlySpan<byte> prologue)
    {
        IsInitiator = initiator;
        _s = localStatic;
        _e = localEphemeral;
        _sPub = localStatic.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        _ePub = localEphemeral.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        _state = new NoiseSymmetricState("Noise_XX_25519_ChaChaPoly_SHA256"u8);
        _state.MixHash(prologue);
    }

    public bool IsInitiator { get; }

    /// <summary>Index (0..2) of the next handshake message; 3 when the handshake is complete.</summary>
    public int MessageIndex => _message;

    public bool IsComplete => _message == 3;

    public ReadOnlySpan<byte> HandshakeHash => _state.HandshakeHash;

    /// <summary>The remote static X25519 public key, once received.</summary>
    public byte[]? RemoteStatic { get; private set; }

    /// <summary>True when the next message is ours to write.</summary>
    public bool IsMyTurn => (_message % 2 == 0) == IsInitiator;

    /// <summary>Size of the next message we write with a payload of <paramref name="payloadLength"/> bytes.</summary>
    public int GetWriteLength(int payloadLength) => _message switch
    {
        0 => DhLength + payloadLength,
        1 => MinMessageLength[1] + payloadLength,
        2 => MinMessageLength[2] + payloadLength,
        _ => throw new InvalidOperationException("the handshake is complete"),
    };

    /// <summary>Writes the next handshake message into <paramref name="destination"/>; returns its length.</summary>
    /// <exception cref="NoiseHandshakeException">A DH produced the all-zero output (remote sent a low-order key).</exception>
    public int WriteMessage(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (!IsMyTurn || IsComplete)
        {
            throw new InvalidOperationException($"noise: not our turn to write message {_message + 1}");
        }
        var o = 0;
        switch (_message)
        {
            case 0: // -> e
                _ePub.CopyTo(destination);
                o += DhLength;
                _state.MixHash(_ePub);
                break;
            case 1: // <- e, ee, s, es
                _ePub.CopyTo(destination);
                o += DhLength;
                _state.MixHash(_ePub);
                MixDh(_e, _re!, "ee");
                o += _state.EncryptAndHash(_sPub, destination[o..]);
                MixDh(_s, _re!, "es");
                break;
            case 2: // -> s, se
                o += _state.EncryptAndHash(_sPub, destination[o..]);
                MixDh(_s, _re!, "se");
                break;
        }
        o += _state.EncryptAndHash(payload, destination[o..]);
        _message++;
        return o;
    }

    public byte[] WriteMessage(ReadOnlySpan<byte> payload)
    {
        var buffer = new byte[GetWriteLength(payload.Length)];
        var n = WriteMessage(payload, buffer);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Processes the remote's next handshake message.</summary>
    /// <returns>Null on success with <paramref name="payload"/> set; otherwise a precise description of what is wrong.</returns>
    public string? ReadMessage(ReadOnlySpan<byte> message, out byte[] payload)
    {
        payload = [];
        if (IsMyTurn || IsComplete)
        {
            throw new InvalidOperationException($"noise: not our turn to read message {_message + 1}");
        }
        var index = _message;
        var name = $"msg{index + 1}";
        if (message.Length < MinMessageLength[index])
        {
            return $"{name} is {message.Length} bytes, shorter than the minimum {MinMessageLength[index]}";
        }
        var o = 0;
        switch (index)
        {
            case 0: // -> e
                if (!TryImport(message[..DhLength], out _re))
                {
                    return $"{name} carries an invalid X25519 ephemeral key";
                }
                _state.MixHash(message[..DhLength]);
                o = DhLength;
                break;
            case 1: // <- e, ee, s, es
                if (!TryImport(message[..DhLength], out _re))
                {
                    return $"{name} carries an invalid X25519 ephemeral key";
                }
                _state.MixHash(message[..DhLength]);
                o = DhLength;
                if (!TryMixDh(_e, _re!, out var error, "ee"))
                {
                    return $"{name}: {error}";
                }
                if (!_state.DecryptAndHash(message.Slice(o, DhLength + NoiseCipherState.TagSize), out var rs))
                {
                    return $"{name} failed authentication (encrypted static key)";
                }
                o += DhLength + NoiseCipherState.TagSize;
                if (!TryImport(rs, out _rs))
                {
                    return $"{name} carries an invalid X25519 static key";
                }
                RemoteStatic = rs;
                if (!TryMixDh(_e, _rs!, out error, "es"))
                {
                    return $"{name}: {error}";
                }
                break;
            case 2: // -> s, se
                if (!_state.DecryptAndHash(message[..(DhLength + NoiseCipherState.TagSize)], out var rs3))
                {
                    return $"{name} failed authentication (encrypted static key)";
                }
                o = DhLength + NoiseCipherState.TagSize;
                if (!TryImport(rs3, out _rs))
                {
                    return $"{name} carries an invalid X25519 static key";
                }
                RemoteStatic = rs3;
                if (!TryMixDh(_e, _rs!, out var error3, "se"))
                {
                    return $"{name}: {error3}";
                }
                break;
        }
        if (!_state.DecryptAndHash(message[o..], out payload))
        {
            return $"{name} failed authentication (encrypted payload)";
        }
        _message++;
        return null;
    }

    /// <summary>After message 3: (initiator→responder, responder→initiator) cipher states.</summary>
    public (NoiseCipherState InitiatorToResponder, NoiseCipherState ResponderToInitiator) Split()
    {
        if (!IsComplete)
        {
            throw new InvalidOperationException("noise: Split before the handshake completed");
        }
        return _state.Split();
    }

    internal (byte[] K1, byte[] K2) SplitKeysForTest() => _state.SplitKeysForTest();

    private static bool TryImport(ReadOnlySpan<byte> raw, out NSec.Cryptography.PublicKey? key) =>
        NSec.Cryptography.PublicKey.TryImport(X25519, raw, KeyBlobFormat.RawPublicKey, out key) && key is not null;

    private void MixDh(Key local, NSec.Cryptography.PublicKey remote, string token)
    {
        if (!TryMixDh(local, remote, out var error, token))
        {
            throw new NoiseHandshakeException($"noise handshake failed: {error}");
        }
    }

    private bool TryMixDh(Key local, NSec.Cryptography.PublicKey remote, out string error, string token)
    {
        var exportable = new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        using var secret = X25519.Agree(local, remote, exportable);
        if (secret is null)
        {
            error = $"the remote's X25519 key is a low-order point ({token} produced the all-zero secret)";
            return false;
        }
        Span<byte> raw = stackalloc byte[DhLength];
        if (!secret.TryExport(SharedSecretBlobFormat.RawSharedSecret, raw, out var written) || written != DhLength)
        {
            error = $"could not export the {token} shared secret";
            return false;
        }
        _state.MixKey(raw);
        CryptographicOperations.ZeroMemory(raw);
        error = "";
        return true;
    }

    public void Dispose()
    {
        _e.Dispose();
        _state.Dispose();
    }
}
