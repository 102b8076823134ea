using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// Noise CipherState for ChaChaPoly: a key and a 64-bit counter; the AEAD nonce is 00000000 || LE64(n).
/// Where libcrypto 3 loads (Linux) it runs OpenSSL's ChaCha20-Poly1305 through <see cref="OpenSslChaChaPoly"/>, which
/// also works incrementally (<see cref="BeginMessage"/>, <see cref="Update"/>, <see cref="EndEncrypt"/> /
/// <see cref="EndDecrypt"/>) so a frame can be encrypted from, or decrypted into, several places without copying them
/// together; elsewhere the BCL's ChaCha20Poly1305 (the same OpenSSL code, one-shot), which measured about 2.2x faster
/// than libsodium's for 64 KiB frames (bench/Bethrou.Benchmarks/NoiseAeadBenchmarks.cs). Not thread-safe: one
/// instance per direction.
/// </summary>
internal sealed class NoiseCipherState : IDisposable
{
    public const int KeySize = 32;
    public const int TagSize = 16;

    private readonly byte[] _nonce = new byte[12];
    private readonly bool _allowIncremental;
    private ChaCha20Poly1305? _aead;
    private OpenSslChaChaPoly? _incremental;
    private ChaChaPolyVerifier? _verifier;
    private byte[]? _key;
    private ulong _n;
    private bool _inMessage;

    public NoiseCipherState()
        : this(allowIncremental: true)
    {
    }

    /// <param name="allowIncremental">False forces the BCL's one-shot AEAD even where OpenSSL is available (tests
    /// and benchmarks of the fallback path).</param>
    public NoiseCipherState(bool allowIncremental) => _allowIncremental = allowIncremental;

    public NoiseCipherState(ReadOnlySpan<byte> key, bool allowIncremental = true)
        : this(allowIncremental) => InitializeKey(key);

    public bool HasKey => _aead is not null || _incremental is not null;

    /// <summary>True when <see cref="BeginMessage"/> and friends are available.</summary>
    public bool IsIncremental => _incremental is not null;

    /// <summary>The next nonce value (number of messages sent or received with this key).</summary>
    public ulong Nonce => _n;

    public void InitializeKey(ReadOnlySpan<byte> key)
    {
        DisposeCiphers();
        if (_allowIncremental && OpenSslChaChaPoly.IsSupported)
        {
            _incremental = new OpenSslChaChaPoly(key);
            _key = key.ToArray(); // for the verifier, made on first use (handshake states never need it)
        }
        else
        {
            _aead = new ChaCha20Poly1305(key);
        }
        _n = 0;
        _inMessage = false;
    }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length; may be the same memory)
    /// and writes the tag. With no key this is a copy and <paramref name="tag"/> is untouched (callers size it 0).</summary>
    public void Encrypt(ReadOnlySpan<byte> ad, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag)
    {
        if (_incremental is { } incremental)
        {
            ThrowIfInMessage();
            incremental.Begin(NextNonce(), encrypt: true, ad);
            incremental.Update(plaintext, ciphertext[..plaintext.Length]);
            incremental.FinishEncrypt(tag[..TagSize]);
            return;
        }
        var aead = _aead;
        if (aead is null)
        {
            plaintext.CopyTo(ciphertext);
            return;
        }
        aead.Encrypt(NextNonce(), plaintext, ciphertext[..plaintext.Length], tag[..TagSize], ad);
    }

    /// <summary>Decrypts and authenticates; false when the tag does not match (the counter still advances: the
    /// session is unusable after a failure anyway). With no key this is a copy.</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> ad, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext)
    {
        if (_incremental is { } incremental)
        {
            ThrowIfInMessage();
            incremental.Begin(NextNonce(), encrypt: false, ad);
            incremental.Update(ciphertext, plaintext[..ciphertext.Length]);
            return incremental.FinishDecrypt(tag[..TagSize]);
        }
        var aead = _aead;
        if (aead is null)
        {
            ciphertext.CopyTo(plaintext);
            return true;
        }
        try
        {
            aead.Decrypt(NextNonce(), ciphertext, tag[..TagSize], plaintext[..ciphertext.Length], ad);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>Starts one transport message (the next nonce, no associated data) to be fed piece by piece with
    /// <see cref="Update"/>. Requires <see cref="IsIncremental"/>.</summary>
    public void BeginMessage(bool encrypt)
    {
        var incremental = _incremental ?? throw new InvalidOperationException("noise: this cipher state has no incremental AEAD");
        ThrowIfInMessage();
        incremental.Begin(NextNonce(), encrypt, default);
        _inMessage = true;
    }

    /// <summary>Encrypts or decrypts the next piece of the current message (<paramref name="input"/> and
    /// <paramref name="output"/> may be the same memory). Decrypted bytes are unauthenticated until
    /// <see cref="EndDecrypt"/> returns true.</summary>
    public void Update(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (!_inMessage)
        {
            throw new InvalidOperationException("noise: no message was begun");
        }
        _incremental!.Update(input, output);
    }

    /// <summary>Ends the current encrypted message and writes its tag.</summary>
    public void EndEncrypt(Span<byte> tag)
    {
        if (!_inMessage)
        {
            throw new InvalidOperationException("noise: no message was begun");
        }
        _inMessage = false;
        _incremental!.FinishEncrypt(tag[..TagSize]);
    }

    /// <summary>Ends the current decrypted message: true when <paramref name="tag"/> authenticates all of it.</summary>
    public bool EndDecrypt(ReadOnlySpan<byte> tag)
    {
        if (!_inMessage)
        {
            throw new InvalidOperationException("noise: no message was begun");
        }
        _inMessage = false;
        return _incremental!.FinishDecrypt(tag[..TagSize]);
    }

    /// <summary>True when <see cref="TryOpenVerified"/> is available (receiving side of the transport).</summary>
    public bool CanVerifyFirst => _key is not null && ChaChaPolyVerifier.IsSupported;

    /// <summary>Takes the next nonce and checks <paramref name="tag"/> over <paramref name="ciphertext"/> without
    /// decrypting anything; on success the message's plaintext comes from <see cref="DecryptVerified"/>, in order, until
    /// <see cref="EndVerified"/>.</summary>
    public bool TryOpenVerified(in ReadOnlySequence<byte> ciphertext, ReadOnlySpan<byte> tag)
    {
        ThrowIfInMessage();
        _verifier ??= new ChaChaPolyVerifier(_key ?? throw new InvalidOperationException("noise: this cipher state cannot verify first"));
        var ok = _verifier.Verify(ciphertext, tag[..TagSize], NextNonce());
        _inMessage = ok;
        return ok;
    }

    /// <summary>Decrypts the next piece of the message opened by <see cref="TryOpenVerified"/>.</summary>
    public void DecryptVerified(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext) => _verifier!.Decrypt(ciphertext, plaintext);

    /// <summary>Ends the message opened by <see cref="TryOpenVerified"/>.</summary>
    public void EndVerified()
    {
        _inMessage = false;
        _verifier?.End();
    }

    private void ThrowIfInMessage()
    {
        if (_inMessage)
        {
            throw new InvalidOperationException("noise: a message is still being processed piece by piece");
        }
    }

    private ReadOnlySpan<byte> NextNonce()
    {
        // The spec reserves 2^64-1; reaching it means closing the connection. Unreachable in practice.
        if (_n == ulong.MaxValue)
        {
            throw new NoiseHandshakeException("noise: nonce exhausted (2^64-1 messages with one key); the connection must be closed");
        }
        BinaryPrimitives.WriteUInt64LittleEndian(_nonce.AsSpan(4), _n);
        _n++;
        return _nonce;
    }

    private void DisposeCiphers()
    {
        _aead?.Dispose();
        _aead = null;
        _incremental?.Dispose();
        _incremental = null;
        _verifier?.Dispose();
        _verifier = null;
        if (_key is not null)
        {
            CryptographicOperations.ZeroMemory(_key);
            _key = null;
        }
    }

    public void Dispose() => DisposeCiphers();
}
