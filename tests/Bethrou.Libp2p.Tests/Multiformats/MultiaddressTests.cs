using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Tests.Multiformats;

public class MultiaddressTests
{
    private const string Id1 = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    private const string Id2 = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB";

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001", "047f000001060fa1")]
    [InlineData("/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1")]
    [InlineData("/ip4/1.2.3.4/udp/4001/quic-v1", "040102030491020fa1cd03")]
    [InlineData("/dns4/example.com/tcp/80/ws", "360b6578616d706c652e636f6d060050dd03")]
    [InlineData("/dns/example.com/tcp/443/tls/ws", "350b6578616d706c652e636f6d0601bbc003dd03")]
    [InlineData("/dns6/example.com/tcp/4001", "370b6578616d706c652e636f6d060fa1")]
    [InlineData("/dnsaddr/bootstrap.libp2p.io", "3813626f6f7473747261702e6c69627032702e696f")]
    [InlineData("/ip4/192.0.2.42/tcp/443", "04c000022a0601bb")]
    [InlineData("/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321", "047f000001910204d2047f0000010610e1")]
    [InlineData("/p2p/" + Id1, "a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")]
    [InlineData("/ip4/1.2.3.4/tcp/4001/p2p/" + Id1 + "/p2p-circuit/p2p/" + Id2,
        "0401020304060fa1a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27ea202a5032600240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")]
    [InlineData("/ip4/1.2.3.4/tcp/443/wss", "04010203040601bbde03")]
    public void TextAndBinaryRoundTrip(string text, string hex)
    {
        var ma = Multiaddress.Parse(text);
        Assert.Equal(hex, Convert.ToHexString(ma.ToBytes()).ToLowerInvariant());
        Assert.Equal(text, ma.ToString());
        var back = Multiaddress.FromBytes(Convert.FromHexString(hex));
        Assert.Equal(text, back.ToString());
        Assert.Equal(ma, back);
    }

    [Fact]
    public void IpfsAliasAndCidPeerIdAreAcceptedOnInput()
    {
        var ma = Multiaddress.Parse("/ipfs/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
        Assert.Equal("/p2p/" + Id1, ma.ToString());
    }

    [Theory]
    [InlineData("", "multiaddr is empty")]
    [InlineData("ip4/1.2.3.4", "must begin with '/'")]
    [InlineData("/ip4", "/ip4 needs a value")]
    [InlineData("/ip4/1.2.3", "not an IPv4 address")]
    [InlineData("/ip4/1.2.3.4/tcp/65536", "port must be a number")]
    [InlineData("/ip4/1.2.3.4/foo/1", "unknown protocol 'foo'")]
    [InlineData("/p2p/notapeer", "peer id")]
    [InlineData("/ip6/1.2.3.4", "not an IPv6 address")]
    public void ParseErrorsAreSpecific(string text, string expected)
    {
        Assert.False(Multiaddress.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedBinaryIsRejectedAtEveryLength()
    {
        var full = Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001/p2p/" + Id1).ToBytes();
        var boundaries = new[] { 5, 8, full.Length };
        for (var i = 1; i < full.Length; i++)
        {
            var ok = Multiaddress.TryFromBytes(full.AsSpan(0, i), out _, out var error);
            Assert.Equal(boundaries.Contains(i), ok);
            if (!ok)
            {
                Assert.StartsWith("binary multiaddr:", error, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void CircuitSplitAndPeerHelpers()
    {
        var ma = Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001/p2p/" + Id1 + "/p2p-circuit/p2p/" + Id2);
        var split = ma.SplitCircuit()!.Value;
        Assert.Equal("/ip4/1.2.3.4/tcp/4001/p2p/" + Id1, split.Relay.ToString());
        Assert.Equal(Id2, split.Target!.ToString());
        Assert.Equal(Id2, ma.PeerId!.ToString());
        Assert.True(ma.IsRelayed);
        var tcp = Multiaddress.Parse("/ip4/1.2.3.4/tcp/4001");
        Assert.Equal(("1.2.3.4", 4001), (tcp.GetTcpEndpoint()!.Value.Host, tcp.GetTcpEndpoint()!.Value.Port));
        Assert.Equal("/ip4/1.2.3.4/tcp/4001/p2p/" + Id1, tcp.WithPeerId(PeerId.Parse(Id1)).ToString());
    }

    [Fact]
    public void Ip6MappedPrintsLikeGo()
    {
        var ma = Multiaddress.Parse("/ip6/::ffff:1.2.3.4/tcp/1");
        Assert.Equal("/ip6/::ffff:1.2.3.4/tcp/1", ma.ToString());
    }
}
