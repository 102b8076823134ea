using System.Security.Cryptography;

namespace Bethrou.Libp2p.Security.Noise;

/// <summary>Noise SymmetricState for <c>Noise_XX_25519_ChaChaPoly_SHA256</c> (SHA-256, HMAC-SHA256 HKDF, ChaChaPoly).</summary>
internal sealed class NoiseSymmetricState : IDisposable
{
    public const int HashLength = 32;

    private readonly byte[] _ck = new byte[HashLength];
    private readonly byte[] _h = new byte[HashLength];
    private readonly NoiseCipherState _cipher = new();
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The protocol name is exactly 32 bytes, so h is the name itself (neither hashed nor padded) and ck = h.</summary>
    public NoiseSymmetricState(ReadOnlySpan<byte> protocolName)
    {
        if (protocolName.Length <= HashLength)
        {
            protocolName.CopyTo(_h);
        }
        else
        {
            SHA256.HashData(protocolName, _h);
        }
        _h.CopyTo(_ck, 0);
    }

    public ReadOnlySpan<byte> HandshakeHash => _h;

    public bool HasKey => _cipher.HasKey;

    public void MixHash(ReadOnlySpan<byte> data)
    {
        _sha.AppendData(_h);
        _sha.AppendData(data);
        _sha.GetHashAndReset(_h);
    }

    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        Span<byte> k = stackalloc byte[HashLength];
        Hkdf(_ck, inputKeyMaterial, _ck, k);
        _cipher.InitializeKey(k);
        CryptographicOperations.ZeroMemory(k);
    }

    /// <summary>Length of EncryptAndHash output for a plaintext of <paramref name="plaintextLength"/> bytes.</summary>
    public int EncryptedLength(int plaintextLength) => plaintextLength + (HasKey ? NoiseCipherState.TagSize : 0);

    /// <summary>Encrypts (AD = h) into <paramref name="destination"/> and mixes the ciphertext into h. Returns bytes written.</summary>
    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        var len = EncryptedLength(plaintext.Length);
        var output = destination[..len];
        _cipher.Encrypt(_h, plaintext, output, output[plaintext.Length..]);
        MixHash(output);
        return len;
    }

    /// <summary>Decrypts (AD = h), then mixes the ciphertext into h. False when authentication fails.</summary>
    public bool DecryptAndHash(ReadOnlySpan<byte> ciphertext, out byte[] plaintext)
    {
        if (!HasKey)
        {
            plaintext = ciphertext.ToArray();
            MixHash(ciphertext);
            return true;
        }
        if (ciphertext.Length < NoiseCipherState.TagSize)
        {
            plaintext = [];
            return false;
        }
        var ptLen = ciphertext.Length - NoiseCipherState.TagSize;
        plaintext = new byte[ptLen];
        if (!_cipher.TryDecrypt(_h, ciphertext[..ptLen], ciphertext[ptLen..], plaintext))
        {
            plaintext = [];
            return false;
        }
        MixHash(ciphertext);
        return true;
    }

    /// <summary>Split(): k1 for initiator→responder, k2 for responder→initiator.</summary>
    public (NoiseCipherState InitiatorToResponder, NoiseCipherState ResponderToInitiator) Split()
    {
        Span<byte> k1 = stackalloc byte[HashLength];
        Span<byte> k2 = stackalloc byte[HashLength];
        Hkdf(_ck, default, k1, k2);
        var result = (new NoiseCipherState(k1), new NoiseCipherState(k2));
        CryptographicOperations.ZeroMemory(k1);
        CryptographicOperations.ZeroMemory(k2);
        return result;
    }

    /// <summary>Split() keys as bytes, for test vectors only.</summary>
    internal (byte[] K1, byte[] K2) SplitKeysForTest()
    {
        var k1 = new byte[HashLength];
        var k2 = new byte[HashLength];
        Hkdf(_ck, default, k1, k2);
        return (k1, k2);
    }

    /// <summary>Noise HKDF with two outputs: temp = HMAC(ck, ikm); o1 = HMAC(temp, 0x01); o2 = HMAC(temp, o1 || 0x02).
    /// <paramref name="output1"/> may alias <paramref name="chainingKey"/>.</summary>
    internal static void Hkdf(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial, Span<byte> output1, Span<byte> output2)
    {
        Span<byte> temp = stackalloc byte[HashLength];
        Span<byte> buf = stackalloc byte[HashLength + 1];
        ReadOnlySpan<byte> one = [0x01];
        HMACSHA256.HashData(chainingKey, inputKeyMaterial, temp);
        HMACSHA256.HashData(temp, one, buf[..HashLength]);
        buf[HashLength] = 0x02;
        HMACSHA256.HashData(temp, buf, output2);
        buf[..HashLength].CopyTo(output1);
        CryptographicOperations.ZeroMemory(temp);
        CryptographicOperations.ZeroMemory(buf);
    }

    public void Dispose()
    {
        _cipher.Dispose();
        _sha.Dispose();
        CryptographicOperations.ZeroMemory(_ck);
    }
}
