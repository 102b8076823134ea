namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// ChaCha20-Poly1305 (RFC 8439) through OpenSSL's EVP interface, used incrementally: one message is
/// <see cref="Begin"/>, any number of <see cref="Update"/> calls over pieces of any length, then
/// <see cref="FinishEncrypt"/> or <see cref="FinishDecrypt"/>. The BCL's <c>ChaCha20Poly1305</c> runs the same OpenSSL
/// code but only one-shot over one contiguous span, which forces whoever assembles a Noise frame from pieces (a yamux
/// header and a payload that lives in the stream's own buffers; a frame that straddles two socket segments) to copy the
/// pieces together first. The context keeps its key between messages, so a message costs one IV reset instead of a full
/// key setup. Decrypted bytes written by <see cref="Update"/> are unauthenticated until <see cref="FinishDecrypt"/>
/// returns true: callers must not publish them before that.
/// Not thread-safe: one instance per direction. Where libcrypto 3 cannot be loaded <see cref="IsSupported"/> is false
/// and <see cref="NoiseCipherState"/> uses the BCL.
/// </summary>
internal sealed unsafe class OpenSslChaChaPoly : IDisposable
{

    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private static readonly bool Supported = Probe();

    private nint _ctx;
    private bool _encrypt;

    public OpenSslChaChaPoly(ReadOnlySpan<byte> key)
    {
        if (!Supported)
        {
            throw new PlatformNotSupportedException("libcrypto 3 (OpenSSL) could not be loaded");
        }
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"ChaCha20-Poly1305 needs a {KeySize}-byte key, got {key.Length}", nameof(key));
        }
        _ctx = LibCrypto.EVP_CIPHER_CTX_new();
        if (_ctx == 0)
        {
            throw new CryptographicOperationException("EVP_CIPHER_CTX_new failed");
        }
        fixed (byte* k = key)
        {
            if (LibCrypto.EVP_CipherInit_ex(_ctx, LibCrypto.EVP_chacha20_poly1305(), 0, k, null, 1) != 1)
            {
                Dispose();
                throw new CryptographicOperationException("EVP_CipherInit_ex(chacha20-poly1305) failed");
            }
        }
    }

    /// <summary>True when libcrypto 3 loaded and offers ChaCha20-Poly1305.</summary>
    public static bool IsSupported => Supported;

    private static bool Probe()
    {
        try
        {
            return LibCrypto.EVP_chacha20_poly1305() != 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Starts a message with <paramref name="nonce"/> (12 bytes) and associated data <paramref name="ad"/>.</summary>
    public void Begin(ReadOnlySpan<byte> nonce, bool encrypt, ReadOnlySpan<byte> ad)
    {
        ObjectDisposedException.ThrowIf(_ctx == 0, this);
        fixed (byte* iv = nonce)
        {
            if (nonce.Length != NonceSize || LibCrypto.EVP_CipherInit_ex(_ctx, 0, 0, null, iv, encrypt ? 1 : 0) != 1)
            {
                throw new CryptographicOperationException("EVP_CipherInit_ex could not start a ChaCha20-Poly1305 message");
            }
        }
        _encrypt = encrypt;
        if (!ad.IsEmpty)
        {
            int written;
            fixed (byte* a = ad)
            {
                if (LibCrypto.EVP_CipherUpdate(_ctx, null, &written, a, ad.Length) != 1)
                {
                    throw new CryptographicOperationException("EVP_CipherUpdate(associated data) failed");
                }
            }
        }
    }

    /// <summary>Transforms the next <paramref name="input"/>.Length bytes of the message into <paramref name="output"/>
    /// (same length; the two may be the same memory, but must not otherwise overlap).</summary>
    public void Update(ReadOnlySpan<byte> input, Span<byte> output) => LibCrypto.CipherUpdate(_ctx, input, output, "chacha20-poly1305");

    /// <summary>Ends an encrypted message and writes its 16-byte tag.</summary>
    public void FinishEncrypt(Span<byte> tag)
    {
        if (!_encrypt || tag.Length < TagSize)
        {
            throw new InvalidOperationException("FinishEncrypt needs an encrypting message and a 16-byte tag");
        }
        int written;
        byte* none = stackalloc byte[1];
        fixed (byte* t = tag)
        {
            if (LibCrypto.EVP_CipherFinal_ex(_ctx, none, &written) != 1 || LibCrypto.EVP_CIPHER_CTX_ctrl(_ctx, LibCrypto.CtrlAeadGetTag, TagSize, t) != 1)
            {
                throw new CryptographicOperationException("EVP_CipherFinal_ex failed");
            }
        }
    }

    /// <summary>Ends a decrypted message: true when <paramref name="tag"/> authenticates everything passed to
    /// <see cref="Update"/> since <see cref="Begin"/>.</summary>
    public bool FinishDecrypt(ReadOnlySpan<byte> tag)
    {
        if (_encrypt || tag.Length < TagSize)
        {
            throw new InvalidOperationException("FinishDecrypt needs a decrypting message and a 16-byte tag");
        }
        int written;
        byte* none = stackalloc byte[1];
        fixed (byte* t = tag)
        {
            if (LibCrypto.EVP_CIPHER_CTX_ctrl(_ctx, LibCrypto.CtrlAeadSetTag, TagSize, t) != 1)
            {
                throw new CryptographicOperationException("EVP_CIPHER_CTX_ctrl(AEAD_SET_TAG) failed");
            }
        }
        var ok = LibCrypto.EVP_CipherFinal_ex(_ctx, none, &written) == 1;
        if (!ok)
        {
            LibCrypto.ERR_clear_error(); // a failed tag check leaves an entry on OpenSSL's per-thread error queue
        }
        return ok;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>A connection dropped without completing its Noise halves must not leak the native context.</summary>
    ~OpenSslChaChaPoly() => Free();

    private void Free()
    {
        var ctx = Interlocked.Exchange(ref _ctx, 0);
        if (ctx != 0)
        {
            LibCrypto.EVP_CIPHER_CTX_free(ctx);
        }
    }
}

/// <summary>OpenSSL refused an operation that cannot fail with valid arguments.</summary>
internal sealed class CryptographicOperationException(string message) : System.Security.Cryptography.CryptographicException(message);
