using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Crypto;

/// <summary>A libp2p public key: its type, raw key data and canonical protobuf encoding.</summary>
public abstract class PublicKey : IEquatable<PublicKey>
{
    private byte[]? _marshalled;

    public abstract KeyType Type { get; }

    /// <summary>The key bytes as carried in PublicKey.Data.</summary>
    public abstract ReadOnlyMemory<byte> Data { get; }

    public abstract bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);

    /// <summary>Canonical protobuf: field 1 (type, always written) then field 2 (data).</summary>
    public byte[] Marshal() => _marshalled ??= KeyProtobuf.Encode(Type, Data.Span);

    public PeerId ToPeerId() => PeerId.FromPublicKey(this);

    /// <summary>Decodes a PublicKey protobuf.</summary>
    /// <exception cref="FormatException">Malformed protobuf, unknown key type, or a key type we cannot read.</exception>
    public static PublicKey Unmarshal(ReadOnlySpan<byte> protobuf)
    {
        var (type, data) = KeyProtobuf.Decode(protobuf);
        return FromRaw(type, data);
    }

    public static PublicKey FromRaw(KeyType type, ReadOnlySpan<byte> data) => type switch
    {
        KeyType.Ed25519 => Ed25519PublicKey.FromRaw(data),
        _ => PublicKeyReaders.Read(type, data),
    };

    public bool Equals(PublicKey? other) =>
        other is not null && other.Type == Type && other.Data.Span.SequenceEqual(Data.Span);

    public override bool Equals(object? obj) => obj is PublicKey k && Equals(k);

    public override int GetHashCode() => HashCode.Combine(Type, Convert.ToHexString(Data.Span));
}

/// <summary>Extension point for non-Ed25519 key readers (RSA, secp256k1, ECDSA).</summary>
internal static partial class PublicKeyReaders
{
    /// <summary>Set by the key-type implementations; returns null when the type is unsupported.</summary>
    internal static PublicKey Read(KeyType type, ReadOnlySpan<byte> data) =>
        ReadOther(type, data) ?? throw new FormatException($"unsupported key type {type}");

    static partial void ReadOtherCore(KeyType type, ReadOnlySpan<byte> data, ref PublicKey? result);

    private static PublicKey? ReadOther(KeyType type, ReadOnlySpan<byte> data)
    {
        PublicKey? result = null;
        ReadOtherCore(type, data, ref result);
        return result;
    }
}
