using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;
using Bethrou.Libp2p.Records;

namespace Bethrou.Libp2p.Tests.Records;

public class EnvelopeTests
{
    private const string Seed1 = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
    private const string EnvelopeHex = "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e120203011a360a260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e10011a0a0a08047f000001060fa12a404504e51a36806e8eba9344a743f2e1cbd0170d2632fb413f98101f6e3ff26d3da91f4eedebf36383fa5819438bce1d7398117236e52d2d1dfce98196294ac60e";

    [Fact]
    public void PeerRecordEnvelopeMatchesVector()
    {
        using var key = Ed25519PrivateKey.FromSeed(Convert.FromHexString(Seed1));
        var rec = new PeerRecord(key.PeerId, 1, [Multiaddress.Parse("/ip4/127.0.0.1/tcp/4001")]);
        Assert.Equal(EnvelopeHex, Convert.ToHexString(rec.Seal(key).Marshal()).ToLowerInvariant());
        var back = PeerRecord.OpenSigned(Convert.FromHexString(EnvelopeHex));
        Assert.Equal(key.PeerId, back.PeerId);
        Assert.Equal(1UL, back.Seq);
        Assert.Equal("/ip4/127.0.0.1/tcp/4001", Assert.Single(back.Addresses).ToString());
    }

    [Fact]
    public void TamperedEnvelopeIsRejected()
    {
        var bytes = Convert.FromHexString(EnvelopeHex);
        bytes[80] ^= 1; // inside the payload
        var ex = Assert.Throws<FormatException>(() => PeerRecord.OpenSigned(bytes));
        Assert.Equal("signed envelope signature does not verify", ex.Message);
    }

    [Fact]
    public void RecordSignedByAnotherPeerIsRejected()
    {
        using var a = Ed25519PrivateKey.Generate();
        using var b = Ed25519PrivateKey.Generate();
        var forged = SignedEnvelope.Seal(b, SignedEnvelope.PeerRecordDomain, SignedEnvelope.PeerRecordPayloadType,
            new PeerRecord(a.PeerId, 7, []).Marshal());
        var ex = Assert.Throws<FormatException>(() => PeerRecord.OpenSigned(forged.Marshal()));
        Assert.StartsWith("peer record for " + a.PeerId, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void VoucherSignatureMatchesVector()
    {
        using var relay = Ed25519PrivateKey.FromSeed(Convert.FromHexString(Seed1));
        using var peer = Ed25519PrivateKey.FromSeed(Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
        var payload = new ProtoWriter().Bytes(1, relay.PeerId.Bytes.Span).Bytes(2, peer.PeerId.Bytes.Span).Varint(3, 1700000000).ToArray();
        var env = SignedEnvelope.Seal(relay, SignedEnvelope.RelayVoucherDomain, SignedEnvelope.RelayVoucherPayloadType, payload);
        Assert.Equal("903455f0d3719e22a86f0e56fa0e3317a959e19e737d475bfe2e2d8013e479aa53497e9302b6f21a84e5c99a7764bf57437fd0e9ddbf81f19f94d24f847ccf08",
            Convert.ToHexString(env.Signature).ToLowerInvariant());
    }
}
