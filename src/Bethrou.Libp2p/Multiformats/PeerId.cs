using System.Security.Cryptography;
using Bethrou.Libp2p.Crypto;

namespace Bethrou.Libp2p.Multiformats;

/// <summary>A libp2p peer id: the multihash (identity or sha2-256) of a canonical PublicKey protobuf.</summary>
public sealed class PeerId : IEquatable<PeerId>
{
    private readonly byte[] _bytes;
    private string? _text;

    private PeerId(byte[] multihash) => _bytes = multihash;

    /// <summary>The binary multihash.</summary>
    public ReadOnlyMemory<byte> Bytes => _bytes;

    public static PeerId FromPublicKey(PublicKey key)
    {
        var pk = key.Marshal();
        byte[] mh;
        if (pk.Length <= 42)
        {
            mh = new byte[2 + pk.Length];
            mh[0] = 0x00;
            mh[1] = (byte)pk.Length;
            pk.CopyTo(mh, 2);
        }
        else
        {
            mh = new byte[34];
            mh[0] = 0x12;
            mh[1] = 0x20;
            SHA256.HashData(pk, mh.AsSpan(2));
        }
        return new PeerId(mh);
    }

    /// <summary>Validates and wraps a binary multihash (identity or 32-byte sha2-256).</summary>
    public static PeerId FromBytes(ReadOnlySpan<byte> multihash)
    {
        if (!TryFromBytes(multihash, out var id, out var error))
        {
            throw new FormatException(error);
        }
        return id;
    }

    public static bool TryFromBytes(ReadOnlySpan<byte> multihash, out PeerId id, out string error)
    {
        id = null!;
        if (VarInt.TryRead(multihash, out var code, out var n) != VarIntStatus.Ok)
        {
            error = "peer id: bad multihash code";
            return false;
        }
        if (VarInt.TryRead(multihash[n..], out var len, out var m) != VarIntStatus.Ok)
        {
            error = "peer id: bad multihash length";
            return false;
        }
        var digestLen = multihash.Length - n - m;
        if ((ulong)digestLen != len)
        {
            error = $"peer id: multihash length {len} does not match {digestLen} digest bytes";
            return false;
        }
        if (code == 0x12)
        {
            if (len != 32)
            {
                error = "peer id: sha2-256 digest must be 32 bytes";
                return false;
            }
        }
        else if (code == 0x00)
        {
            if (len > 42)
            {
                error = "peer id: identity multihash longer than 42 bytes";
                return false;
            }
        }
        else
        {
            error = $"peer id: unsupported multihash code 0x{code:x}";
            return false;
        }
        id = new PeerId(multihash.ToArray());
        error = "";
        return true;
    }

    /// <summary>Parses base58btc (legacy, starts with 1 or Qm) text, or a CIDv1 (libp2p-key) in multibase.</summary>
    public static PeerId Parse(string text)
    {
        if (!TryParse(text, out var id, out var error))
        {
            throw new FormatException(error);
        }
        return id;
    }

    public static bool TryParse(string? text, out PeerId id, out string error)
    {
        id = null!;
        if (string.IsNullOrEmpty(text))
        {
            error = "peer id is empty";
            return false;
        }
        byte[] mh;
        if (text[0] == '1' || text.StartsWith("Qm", StringComparison.Ordinal))
        {
            if (!Base58.TryDecode(text, out mh))
            {
                error = $"peer id '{text}' is not valid base58btc";
                return false;
            }
        }
        else if (!PeerIdCid.TryDecode(text, out mh, out error))
        {
            return false;
        }
        if (!TryFromBytes(mh, out id, out error))
        {
            error = $"'{text}': {error}";
            return false;
        }
        return true;
    }

    /// <summary>Extracts the public key from an identity-multihash peer id, or null for sha2-256 ids.</summary>
    public PublicKey? TryGetPublicKey()
    {
        if (_bytes[0] != 0x00)
        {
            return null;
        }
        try
        {
            return PublicKey.Unmarshal(_bytes.AsSpan(2));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public bool Matches(PublicKey key) => Equals(FromPublicKey(key));

    public override string ToString() => _text ??= Base58.Encode(_bytes);

    public string ToCidString() => PeerIdCid.Encode(_bytes);

    public bool Equals(PeerId? other) => other is not null && other._bytes.AsSpan().SequenceEqual(_bytes);

    public override bool Equals(object? obj) => obj is PeerId p && Equals(p);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(_bytes);
        return h.ToHashCode();
    }

    public static bool operator ==(PeerId? a, PeerId? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(PeerId? a, PeerId? b) => !(a == b);
}

/// <summary>CIDv1 (libp2p-key, codec 0x72) text form of a peer id: multibase 'b' base32.</summary>
internal static class PeerIdCid
{
    public static string Encode(byte[] multihash)
    {
        var cid = new byte[2 + multihash.Length];
        cid[0] = 0x01;
        cid[1] = 0x72;
        multihash.CopyTo(cid, 2);
        return "b" + Base32.EncodeLower(cid);
    }

    public static bool TryDecode(string text, out byte[] multihash, out string error)
    {
        multihash = [];
        if (text[0] != 'b' || !Base32.TryDecode(text.AsSpan(1), out var cid))
        {
            error = $"peer id '{text}' is neither base58btc nor a base32 CID";
            return false;
        }
        if (VarInt.TryRead(cid, out var version, out var n) != VarIntStatus.Ok || version != 1)
        {
            error = $"peer id '{text}': CID version must be 1";
            return false;
        }
        if (VarInt.TryRead(cid.AsSpan(n), out var codec, out var m) != VarIntStatus.Ok || codec != 0x72)
        {
            error = $"peer id '{text}': CID codec must be libp2p-key (0x72)";
            return false;
        }
        multihash = cid[(n + m)..];
        error = "";
        return true;
    }
}
