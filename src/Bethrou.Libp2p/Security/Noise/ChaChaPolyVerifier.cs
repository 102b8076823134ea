using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>
/// Opens a ChaCha20-Poly1305 message (RFC 8439, no associated data) in two steps, with OpenSSL's ChaCha20 and Poly1305
/// taken separately: <see cref="Verify"/> checks the tag over the ciphertext (Poly1305 is computed over ciphertext, so
/// nothing needs decrypting for that), then <see cref="Decrypt"/> produces the plaintext piece by piece, in order, into
/// wherever the caller wants each piece. Because the check comes first, no plaintext byte of a forged frame ever
/// exists, so a reader may act on what it decrypts (route it, parse headers) as it goes. Same two passes over the data
/// as OpenSSL's fused AEAD, which also runs ChaCha20 and Poly1305 one after the other outside TLS.
/// Not thread-safe: one instance per direction.
/// </summary>
internal sealed unsafe class ChaChaPolyVerifier : IDisposable
{
    private static readonly nint Poly1305 = FetchPoly1305();

    private readonly byte[] _iv = new byte[16]; // LE32 block counter || 12-byte nonce (OpenSSL's ChaCha20 IV)
    private readonly byte[] _block = new byte[64];
    private nint _chacha;
    private nint _mac;
    private bool _verified;

    public ChaChaPolyVerifier(ReadOnlySpan<byte> key)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("libcrypto 3 (OpenSSL) with ChaCha20 and Poly1305 could not be loaded");
        }
        if (key.Length != 32)
        {
            throw new ArgumentException($"ChaCha20 needs a 32-byte key, got {key.Length}", nameof(key));
        }
        _chacha = LibCrypto.EVP_CIPHER_CTX_new();
        _mac = LibCrypto.EVP_MAC_CTX_new(Poly1305);
        if (_chacha == 0 || _mac == 0)
        {
            Dispose();
            throw new CryptographicOperationException("could not create OpenSSL ChaCha20/Poly1305 contexts");
        }
        // The key is set once here; each message only resets the IV (SetCounter).
        fixed (byte* k = key)
        fixed (byte* iv = _iv)
        {
            if (LibCrypto.EVP_CipherInit_ex(_chacha, LibCrypto.EVP_chacha20(), 0, k, iv, 1) != 1)
            {
                Dispose();
                throw new CryptographicOperationException("EVP_CipherInit_ex(chacha20) failed");
            }
        }
    }

    /// <summary>True when libcrypto 3 offers ChaCha20 and the Poly1305 MAC.</summary>
    public static bool IsSupported => Poly1305 != 0;

    private static nint FetchPoly1305()
    {
        try
        {
            if (LibCrypto.EVP_chacha20() == 0)
            {
                return 0;
            }
            return LibCrypto.EVP_MAC_fetch(0, "POLY1305", null);
        }
        catch (DllNotFoundException)
        {
            return 0;
        }
        catch (EntryPointNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>Checks <paramref name="tag"/> against <paramref name="ciphertext"/> under <paramref name="nonce"/>; on
    /// success <see cref="Decrypt"/> may then be called for the message's bytes in order.</summary>
    public bool Verify(in ReadOnlySequence<byte> ciphertext, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> nonce)
    {
        ObjectDisposedException.ThrowIf(_chacha == 0, this);
        if (nonce.Length != 12 || tag.Length != 16)
        {
            throw new ArgumentException("ChaCha20-Poly1305 needs a 12-byte nonce and a 16-byte tag");
        }
        _verified = false;
        nonce.CopyTo(_iv.AsSpan(4));
        // The one-time Poly1305 key is the first half of keystream block 0.
        SetCounter(0);
        Array.Clear(_block);
        Transform(_block, _block);
        Span<byte> computed = stackalloc byte[16];
        fixed (byte* k = _block)
        {
            if (LibCrypto.EVP_MAC_init(_mac, k, 32, null) != 1)
            {
                throw new CryptographicOperationException("EVP_MAC_init(poly1305) failed");
            }
        }
        foreach (var segment in ciphertext)
        {
            MacUpdate(segment.Span);
        }
        Span<byte> tail = stackalloc byte[16 + 16];
        tail.Clear();
        var pad = (int)((16 - (ciphertext.Length % 16)) % 16);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[(pad + 8)..], (ulong)ciphertext.Length); // AAD length 0, then the text length
        MacUpdate(tail[..(pad + 16)]);
        nuint written;
        fixed (byte* c = computed)
        {
            if (LibCrypto.EVP_MAC_final(_mac, c, &written, 16) != 1 || written != 16)
            {
                throw new CryptographicOperationException("EVP_MAC_final(poly1305) failed");
            }
        }
        CryptographicOperations.ZeroMemory(_block);
        if (!CryptographicOperations.FixedTimeEquals(computed, tag))
        {
            return false;
        }
        SetCounter(1);
        _verified = true;
        return true;
    }

    /// <summary>Decrypts the next <paramref name="ciphertext"/>.Length bytes of the verified message.</summary>
    public void Decrypt(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        if (!_verified)
        {
            throw new InvalidOperationException("noise: decrypting a frame that was not verified");
        }
        Transform(ciphertext, plaintext);
    }

    /// <summary>Ends the message: nothing more may be decrypted until the next <see cref="Verify"/>.</summary>
    public void End() => _verified = false;

    private void SetCounter(uint counter)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_iv, counter);
        fixed (byte* iv = _iv)
        {
            if (LibCrypto.EVP_CipherInit_ex(_chacha, 0, 0, null, iv, 1) != 1)
            {
                throw new CryptographicOperationException("EVP_CipherInit_ex(chacha20 IV) failed");
            }
        }
    }

    private void Transform(ReadOnlySpan<byte> input, Span<byte> output) => LibCrypto.CipherUpdate(_chacha, input, output, "chacha20");

    private void MacUpdate(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        fixed (byte* d = data)
        {
            if (LibCrypto.EVP_MAC_update(_mac, d, (nuint)data.Length) != 1)
            {
                throw new CryptographicOperationException("EVP_MAC_update(poly1305) failed");
            }
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>A connection dropped without completing its Noise input must not leak the native contexts.</summary>
    ~ChaChaPolyVerifier() => Free();

    private void Free()
    {
        var chacha = Interlocked.Exchange(ref _chacha, 0);
        if (chacha != 0)
        {
            LibCrypto.EVP_CIPHER_CTX_free(chacha);
        }
        var mac = Interlocked.Exchange(ref _mac, 0);
        if (mac != 0)
        {
            LibCrypto.EVP_MAC_CTX_free(mac);
        }
    }
}
