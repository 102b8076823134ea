using System.Numerics;
using System.Security.Cryptography;

namespace Bethrou.Libp2p.Crypto;

/// <summary>RSA public key: PKIX SubjectPublicKeyInfo DER; RSASSA-PKCS1-v1_5 over SHA-256.</summary>
public sealed class RsaPublicKey : PublicKey
{
    private readonly byte[] _der;
    private readonly RSAParameters _parameters;

    private RsaPublicKey(byte[] der, RSAParameters p)
    {
        _der = der;
        _parameters = p;
    }

    public override KeyType Type => KeyType.Rsa;

    public override ReadOnlyMemory<byte> Data => _der;

    public int KeySizeBits => _parameters.Modulus!.Length * 8;

    public static RsaPublicKey FromDer(ReadOnlySpan<byte> der)
    {
        using var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length)
            {
                throw new FormatException("RSA public key has trailing bytes after the DER structure");
            }
        }
        catch (CryptographicException e)
        {
            throw new FormatException("RSA public key is not valid PKIX DER: " + e.Message, e);
        }
        var p = rsa.ExportParameters(false);
        var bits = p.Modulus!.Length * 8;
        if (bits < 2048 || bits > 8192)
        {
            throw new FormatException($"RSA key size {bits} bits is outside 2048..8192");
        }
        return new RsaPublicKey(der.ToArray(), p);
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using var rsa = RSA.Create(_parameters);
        return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }
}

/// <summary>ECDSA public key (PKIX DER, typically P-256); DER signatures over SHA-256.</summary>
public sealed class EcdsaPublicKey : PublicKey
{
    private readonly byte[] _der;
    private readonly ECParameters _parameters;

    private EcdsaPublicKey(byte[] der, ECParameters p)
    {
        _der = der;
        _parameters = p;
    }

    public override KeyType Type => KeyType.Ecdsa;

    public override ReadOnlyMemory<byte> Data => _der;

    public static EcdsaPublicKey FromDer(ReadOnlySpan<byte> der)
    {
        using var ec = ECDsa.Create();
        try
        {
            ec.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length)
            {
                throw new FormatException("ECDSA public key has trailing bytes after the DER structure");
            }
        }
        catch (CryptographicException e)
        {
            throw new FormatException("ECDSA public key is not valid PKIX DER: " + e.Message, e);
        }
        return new EcdsaPublicKey(der.ToArray(), ec.ExportParameters(false));
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using var ec = ECDsa.Create(_parameters);
        return ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }
}

/// <summary>secp256k1 public key: 33-byte compressed (or 65-byte uncompressed) SEC1 point; DER ECDSA over SHA-256.</summary>
public sealed class Secp256k1PublicKey : PublicKey
{
    private static readonly BigInteger P = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F", System.Globalization.NumberStyles.HexNumber);
    private readonly byte[] _data;
    private readonly byte[] _x;
    private readonly byte[] _y;

    private Secp256k1PublicKey(byte[] data, byte[] x, byte[] y)
    {
        _data = data;
        _x = x;
        _y = y;
    }

    public override KeyType Type => KeyType.Secp256k1;

    public override ReadOnlyMemory<byte> Data => _data;

    public static Secp256k1PublicKey FromSec1(ReadOnlySpan<byte> data)
    {
        byte[] x;
        byte[] y;
        if (data.Length == 33 && (data[0] == 2 || data[0] == 3))
        {
            x = data[1..].ToArray();
            var xi = new BigInteger(x, isUnsigned: true, isBigEndian: true);
            if (xi >= P)
            {
                throw new FormatException("secp256k1 point x is not below the field prime");
            }
            var rhs = (BigInteger.ModPow(xi, 3, P) + 7) % P;
            var yi = BigInteger.ModPow(rhs, (P + 1) / 4, P);
            if (BigInteger.ModPow(yi, 2, P) != rhs)
            {
                throw new FormatException("secp256k1 compressed point is not on the curve");
            }
            if ((yi.IsEven ? 2 : 3) != data[0])
            {
                yi = P - yi;
            }
            y = ToFixed(yi);
        }
        else if (data.Length == 65 && data[0] == 4)
        {
            x = data.Slice(1, 32).ToArray();
            y = data.Slice(33, 32).ToArray();
        }
        else
        {
            throw new FormatException($"secp256k1 public key must be a 33-byte compressed or 65-byte uncompressed point, got {data.Length} bytes");
        }
        return new Secp256k1PublicKey(data.ToArray(), x, y);
    }

    private static byte[] ToFixed(BigInteger v)
    {
        var b = v.ToByteArray(isUnsigned: true, isBigEndian: true);
        if (b.Length == 32)
        {
            return b;
        }
        var r = new byte[32];
        b.CopyTo(r, 32 - b.Length);
        return r;
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var ec = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.CreateFromFriendlyName("secP256k1"),
                Q = new ECPoint { X = _x, Y = _y },
            });
            return ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (PlatformNotSupportedException)
        {
            return false;
        }
    }
}

internal static partial class PublicKeyReaders
{
    static partial void ReadOtherCore(KeyType type, ReadOnlySpan<byte> data, ref PublicKey? result)
    {
        result = type switch
        {
            KeyType.Rsa => RsaPublicKey.FromDer(data),
            KeyType.Ecdsa => EcdsaPublicKey.FromDer(data),
            KeyType.Secp256k1 => Secp256k1PublicKey.FromSec1(data),
            _ => null,
        };
    }
}
