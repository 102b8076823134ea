using Bethrou.Libp2p.Crypto;
using Bethrou.Libp2p.Multiformats;

namespace Bethrou.Libp2p.Tests.Multiformats;

public class PeerIdTests
{
    [Fact]
    public void Ed25519VectorFromSpec()
    {
        var pk = Convert.FromHexString("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
        var id = PublicKey.Unmarshal(pk).ToPeerId();
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", id.ToString());
        Assert.Equal("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6", id.ToCidString());
        Assert.Equal(id, PeerId.Parse(id.ToCidString()));
    }

    [Fact]
    public void SeedDerivesSamePeerId()
    {
        using var key = Ed25519PrivateKey.FromSeed(Convert.FromHexString("7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"));
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", key.PeerId.ToString());
        var marshalled = key.Marshal();
        Assert.Equal(68, marshalled.Length);
        using var back = Ed25519PrivateKey.Unmarshal(marshalled);
        Assert.Equal(key.PeerId, back.PeerId);
    }
}
