using Bethrou.Libp2p.Protocols.Relay;
using Bethrou.Libp2p.Records;
using Bethrou.Libp2p.Tests.Security;

namespace Bethrou.Libp2p.Tests.Relay;

public sealed class RelayVoucherTests
{
    private const string Id1Multihash = "0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    private const string Id2Multihash = "00240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
    private const string Payload = "0a26" + Id1Multihash + "1226" + Id2Multihash + "1880e2cfaa06";
    private const string Signature = "903455f0d3719e22a86f0e56fa0e3317a959e19e737d475bfe2e2d8013e479aa53497e9302b6f21a84e5c99a7764bf57437fd0e9ddbf81f19f94d24f847ccf08";

    private static RelayVoucher Example() => new(NoiseTestKeys.Id1().PeerId, NoiseTestKeys.Id2().PeerId, 1700000000);

    [Fact]
    public void PayloadAndSignatureMatchTheDigestVector()
    {
        Assert.Equal(Payload, Convert.ToHexStringLower(Example().Marshal()));
        var envelope = Example().Seal(NoiseTestKeys.Id1());
        var env = SignedEnvelope.OpenAndVerify(envelope, SignedEnvelope.RelayVoucherDomain, SignedEnvelope.RelayVoucherPayloadType);
        Assert.Equal(Signature, Convert.ToHexStringLower(env.Signature));
        Assert.Equal(Payload, Convert.ToHexStringLower(env.Payload));
    }

    [Fact]
    public void OpenSignedRoundTripsAndChecksTheSigner()
    {
        Assert.Equal(Example(), RelayVoucher.OpenSigned(Example().Seal(NoiseTestKeys.Id1())));

        // Signed by ID2 but naming ID1 as the relay: refused.
        var forged = SignedEnvelope.Seal(NoiseTestKeys.Id2(), SignedEnvelope.RelayVoucherDomain, SignedEnvelope.RelayVoucherPayloadType, Example().Marshal()).Marshal();
        var ex = Assert.Throws<FormatException>(() => RelayVoucher.OpenSigned(forged));
        Assert.Equal($"relay voucher for relay {NoiseTestKeys.Id1().PeerId} is signed by {NoiseTestKeys.Id2().PeerId}", ex.Message);

        // A peer record envelope is not a voucher.
        var wrongDomain = SignedEnvelope.Seal(NoiseTestKeys.Id1(), SignedEnvelope.PeerRecordDomain, SignedEnvelope.RelayVoucherPayloadType, Example().Marshal()).Marshal();
        Assert.Equal("signed envelope signature does not verify", Assert.Throws<FormatException>(() => RelayVoucher.OpenSigned(wrongDomain)).Message);

        Assert.Throws<ArgumentException>(() => Example().Seal(NoiseTestKeys.Id2()));
    }

    [Fact]
    public void MissingFieldsAreRefused()
    {
        var ex = Assert.Throws<FormatException>(() => RelayVoucher.Unmarshal(Convert.FromHexString("0a26" + Id1Multihash)));
        Assert.Equal("relay voucher is missing its relay, peer or expiration", ex.Message);
    }
}
