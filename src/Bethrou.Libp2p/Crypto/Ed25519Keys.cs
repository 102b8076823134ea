using NSec.Cryptography;

namespace Bethrou.Libp2p.Crypto;

public sealed class Ed25519PublicKey : PublicKey
{
    private readonly byte[] _raw;
    private readonly NSec.Cryptography.PublicKey _key;

    private Ed25519PublicKey(byte[] raw, NSec.Cryptography.PublicKey key)
    {
        _raw = raw;
        _key = key;
    }

    public override KeyType Type => KeyType.Ed25519;

    public override ReadOnlyMemory<byte> Data => _raw;

    public static Ed25519PublicKey FromRaw(ReadOnlySpan<byte> raw)
    {
        if (raw.Length != 32)
        {
            throw new FormatException($"Ed25519 public key must be 32 bytes, got {raw.Length}");
        }
        if (!NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey, out var key) || key is null)
        {
            throw new FormatException("invalid Ed25519 public key");
        }
        return new Ed25519PublicKey(raw.ToArray(), key);
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        signature.Length == 64 && SignatureAlgorithm.Ed25519.Verify(_key, data, signature);
}

/// <summary>An Ed25519 libp2p identity. Serialises to the 68-byte protobuf go-libp2p writes (08 01 12 40 seed‖pub).</summary>
public sealed class Ed25519PrivateKey : IDisposable
{
    private readonly Key _key;
    private readonly byte[] _seed;

    private Ed25519PrivateKey(byte[] seed)
    {
        _seed = seed;
        _key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        PublicKey = Ed25519PublicKey.FromRaw(_key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    public Ed25519PublicKey PublicKey { get; }

    public Multiformats.PeerId PeerId => PublicKey.ToPeerId();

    public static Ed25519PrivateKey Generate()
    {
        var seed = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(seed);
        return new Ed25519PrivateKey(seed);
    }

    public static Ed25519PrivateKey FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != 32)
        {
            throw new FormatException($"Ed25519 seed must be 32 bytes, got {seed.Length}");
        }
        return new Ed25519PrivateKey(seed.ToArray());
    }

    public byte[] Sign(ReadOnlySpan<byte> data) => SignatureAlgorithm.Ed25519.Sign(_key, data);

    /// <summary>PrivateKey protobuf: 08 01 12 40 seed‖pub.</summary>
    public byte[] Marshal()
    {
        var data = new byte[64];
        _seed.CopyTo(data, 0);
        PublicKey.Data.Span.CopyTo(data.AsSpan(32));
        return KeyProtobuf.Encode(KeyType.Ed25519, data);
    }

    /// <summary>Reads a PrivateKey protobuf holding an Ed25519 key (64-byte seed‖pub, or legacy 96-byte seed‖pub‖pub).</summary>
    /// <exception cref="FormatException">With a message saying what is wrong.</exception>
    public static Ed25519PrivateKey Unmarshal(ReadOnlySpan<byte> protobuf)
    {
        var (type, data) = KeyProtobuf.Decode(protobuf);
        if (type != KeyType.Ed25519)
        {
            throw new FormatException($"identity key type is {type}; only Ed25519 identities are supported");
        }
        if (data.Length is not (64 or 96))
        {
            throw new FormatException($"Ed25519 private key data must be 64 bytes, got {data.Length}");
        }
        if (data.Length == 96 && !data.AsSpan(32, 32).SequenceEqual(data.AsSpan(64, 32)))
        {
            throw new FormatException("legacy 96-byte Ed25519 key has two different public keys");
        }
        var key = new Ed25519PrivateKey(data[..32]);
        if (!key.PublicKey.Data.Span.SequenceEqual(data.AsSpan(32, 32)))
        {
            key.Dispose();
            throw new FormatException("Ed25519 private key does not match its embedded public key");
        }
        return key;
    }

    public void Dispose() => _key.Dispose();
}
