using System.Security.Cryptography;
using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Tests.Crypto;

public class KeyTests
{
    [Fact]
    public void Secp256k1SpecVectorGivesPeerId()
    {
        var pk = Convert.FromHexString("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99");
        var key = PublicKey.Unmarshal(pk);
        Assert.IsType<Secp256k1PublicKey>(key);
        Assert.Equal("16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY", key.ToPeerId().ToString());
        Assert.Equal(pk, key.Marshal());
    }

    [Fact]
    public void EcdsaKeyHashesToSha256PeerIdAndVerifies()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = PublicKey.FromRaw(KeyType.Ecdsa, ec.ExportSubjectPublicKeyInfo());
        var id = key.ToPeerId();
        Assert.StartsWith("Qm", id.ToString(), StringComparison.Ordinal);
        Assert.Null(id.TryGetPublicKey());
        var sig = ec.SignData("hi"u8, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        Assert.True(key.Verify("hi"u8, sig));
        Assert.False(key.Verify("ho"u8, sig));
    }

    [Fact]
    public void RsaKeyVerifiesPkcs1Sha256AndRejectsSmallKeys()
    {
        using var rsa = RSA.Create(2048);
        var key = PublicKey.FromRaw(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo());
        var sig = rsa.SignData("x"u8.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.True(key.Verify("x"u8, sig));
        Assert.StartsWith("Qm", key.ToPeerId().ToString(), StringComparison.Ordinal);
        using var small = RSA.Create(1024);
        var ex = Assert.Throws<FormatException>(() => PublicKey.FromRaw(KeyType.Rsa, small.ExportSubjectPublicKeyInfo()));
        Assert.Contains("outside 2048..8192", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ed25519SignVerifyAndIdentityPeerIdRoundTrip()
    {
        using var k = Ed25519PrivateKey.Generate();
        var sig = k.Sign("payload"u8);
        Assert.True(k.PublicKey.Verify("payload"u8, sig));
        Assert.False(k.PublicKey.Verify("payloaD"u8, sig));
        Assert.StartsWith("12D3KooW", k.PeerId.ToString(), StringComparison.Ordinal);
        Assert.Equal(k.PublicKey, k.PeerId.TryGetPublicKey());
    }

    [Theory]
    [InlineData("0801", "key protobuf has no Data field")]
    [InlineData("1220" + "0000000000000000000000000000000000000000000000000000000000000000", "key protobuf has no Type field")]
    [InlineData("08051200", "unknown key type 5")]
    [InlineData("080112ff", "truncated varint")]
    [InlineData("0801124000", "key protobuf field length exceeds the message")]
    public void MalformedKeyProtobufs(string hex, string message)
    {
        var ex = Assert.Throws<FormatException>(() => PublicKey.Unmarshal(Convert.FromHexString(hex)));
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void PrivateKeyFileRejectsMismatchedPublicHalf()
    {
        using var k = Ed25519PrivateKey.Generate();
        var bytes = k.Marshal();
        bytes[^1] ^= 1;
        var ex = Assert.Throws<FormatException>(() => Ed25519PrivateKey.Unmarshal(bytes));
        Assert.Equal("Ed25519 private key does not match its embedded public key", ex.Message);
    }
}
